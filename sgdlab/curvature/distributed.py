"""Curvature products over many processes (``torch.distributed``: torchrun, Slurm's srun).

When a process group is initialised, every rank holds its own batches; an operator's product is the
sum over ranks of each rank's weighted local product,

    H v = Σ_r Σ_{b ∈ rank r} (n_b / N) H_b v,      N = Σ_r Σ_{b ∈ rank r} n_b,

one ``all_reduce`` per product (and one for ``N`` and one shape check when the operator is built).
The result is the same on every rank, so Lanczos, Hutchinson and SLQ, seeded alike, run replicated
on every rank with nothing else communicated; it equals one process on the union of the batches up
to the order of floating-point sums. Every rank must hold at least one batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


def active() -> bool:
    """Whether products are all-reduced: a default process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def local_module(model: nn.Module) -> nn.Module:
    """The module inside ``DistributedDataParallel`` or ``DataParallel``, else ``model`` itself: products
    differentiate the plain module (the wrapper's gradient hooks are for training steps)."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model


def reduce_(values: Tensor) -> Tensor:
    """Sum ``values`` over the ranks in place (nothing without a process group); returns it."""
    if active():
        dist.all_reduce(values)
    return values


def total(count: int, device: torch.device) -> int:
    """``count`` summed over the ranks."""
    if not active():
        return count
    value = torch.tensor([count], dtype=torch.int64, device=device)
    dist.all_reduce(value)
    return int(value.item())


def check_same_block(named: list[tuple[str, nn.Parameter]]) -> None:
    """``ValueError`` naming ``params`` when the ranks' blocks differ in names or shapes (every rank
    raises the same error: the check is collective)."""
    if not active():
        return
    mine = [(name, tuple(p.shape)) for name, p in named]
    every: list = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    for rank, theirs in enumerate(every):
        if theirs != every[0]:
            first = next((a, b) for a, b in zip(every[0] + [None], theirs + [None]) if a != b)
            raise ValueError(f"params: the ranks' parameters differ in shape: rank 0 has {first[0]}, "
                             f"rank {rank} has {first[1]}")
