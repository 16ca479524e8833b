"""The Hessian as a linear operator: Hessian-vector products over fixed batches.

The Hessian is that of the *mean* loss over a fixed set of batches (each batch weighted by its
size), with respect to every trainable parameter, as a linear operator on flat vectors.

Mode policy (``bn_mode``): dropout is always off, because a random mask does not define one
operator. ``"eval"`` (the default, as in the paper) uses BatchNorm's running statistics;
``"batch"`` uses each batch's own statistics, as training does. Either way the model's training
flags and every buffer are restored exactly when the operator is closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
BN_MODES = ("eval", "batch")


class LinearOperator(Protocol):
    """A symmetric linear map on flat vectors of length ``dim``."""

    dim: int
    dtype: torch.dtype
    device: torch.device

    def matvec(self, v: Tensor) -> Tensor: ...


@dataclass
class MatrixOperator:
    """A dense symmetric matrix as a :class:`LinearOperator` (tests, small models)."""

    matrix: Tensor
    n_products: int = 0

    @property
    def dim(self) -> int:
        return self.matrix.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def matvec(self, v: Tensor) -> Tensor:
        self.n_products += 1
        return self.matrix @ v


class HessianOperator:
    """Hessian-vector products of the mean loss over ``batches``; build it with :func:`hessian`.

    With ``reuse_graph`` the gradient's graph of every batch is built once and each product is a
    single backward pass through it (about 1.5 gradients); otherwise every product recomputes one
    batch at a time (double backward), holding a single batch's graph in memory.
    """

    def __init__(self, model: nn.Module, batches: Sequence[Batch], loss_fn: LossFn, reuse_graph: bool):
        self.model = model
        self.batches = list(batches)
        self.loss_fn = loss_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.dim = sum(p.numel() for p in self.params)
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self.n_products = 0
        total = sum(len(y) for _, y in self.batches)
        self._weights = [len(y) / total for _, y in self.batches]
        self._grad = self._gradient(create_graph=True) if reuse_graph else None

    def _batch_gradient(self, batch: Batch, weight: float, create_graph: bool) -> Tensor:
        x, y = batch
        loss = self.loss_fn(self.model(x), y) * weight
        grads = torch.autograd.grad(loss, self.params, create_graph=create_graph)
        return torch.cat([g.reshape(-1) for g in grads])

    def _gradient(self, create_graph: bool = False) -> Tensor:
        return sum(self._batch_gradient(b, w, create_graph) for b, w in zip(self.batches, self._weights))

    def gradient(self) -> Tensor:
        """The flat gradient of the mean loss, shape ``(dim,)``."""
        if self._grad is not None:
            return self._grad.detach().clone()
        return self._gradient().detach()

    def matvec(self, v: Tensor) -> Tensor:
        """``H @ v`` for a flat vector ``v`` of shape ``(dim,)``."""
        self.n_products += 1
        if self._grad is not None:
            hv = torch.autograd.grad(self._grad, self.params, grad_outputs=v, retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv])
        out = torch.zeros_like(v)
        for batch, weight in zip(self.batches, self._weights):
            g = self._batch_gradient(batch, weight, create_graph=True)
            hv = torch.autograd.grad(g, self.params, grad_outputs=v)
            out += torch.cat([h.reshape(-1) for h in hv])
        return out

    def close(self) -> None:
        """Free the retained graph."""
        self._grad = None


@contextmanager
def curvature_mode(model: nn.Module, bn_mode: str = "eval") -> Iterator[nn.Module]:
    """Put ``model`` in the curvature mode policy; restore its training flags and buffers on exit."""
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode {bn_mode!r} is unknown; choose one of: {', '.join(BN_MODES)}")
    flags = [(m, m.training) for m in model.modules()]
    saved = [b.detach().clone() for b in model.buffers()]
    model.eval()
    if bn_mode == "batch":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)


@contextmanager
def hessian(
    model: nn.Module,
    batches: Sequence[Batch],
    loss_fn: LossFn = F.cross_entropy,
    *,
    reuse_graph: bool = True,
    bn_mode: str = "eval",
) -> Iterator[HessianOperator]:
    """The Hessian of the mean ``loss_fn`` over ``batches`` at the model's current parameters.

    Use as ``with hessian(model, batches) as H: top_eigen(H, k=5)``. Parameters must not change
    inside the block. On exit the model's mode and buffers are exactly as before.
    """
    if not batches:
        raise ValueError("batches is empty; pass at least one (inputs, targets) batch")
    with curvature_mode(model, bn_mode):
        op = HessianOperator(model, batches, loss_fn, reuse_graph)
        try:
            yield op
        finally:
            op.close()


def as_batches(x: Tensor, y: Tensor, batch_size: int) -> list[Batch]:
    """Split ``(x, y)`` into consecutive batches of at most ``batch_size`` examples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(y), batch_size)]


