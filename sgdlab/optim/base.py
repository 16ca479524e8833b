"""What every optimizer module builds on: the registry of optimizer kinds, the settings an optimizer is
built from, and the protocol of a spec."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from sgdlab.core.kinds import Kinds
from sgdlab.curvature import Batch, LossFn

OPTIMIZERS = Kinds("optimizer")
Forward = Callable[[Batch], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Setting:
    """What an optimizer is built from: the run's step settings and its fixed Hessian subset."""

    lr: float
    momentum: float
    weight_decay: float
    loss_fn: LossFn
    hessian_batches: Sequence[Batch]
    bn_mode: str = "eval"
    eigen_tol: float = 1e-3
    lanczos_seed: int = 0  # the run's Lanczos stream (seeds.stream(seed, "lanczos"))


class Spec(Protocol):
    """An optimizer's configuration: a frozen dataclass registered in :data:`OPTIMIZERS`."""

    kind: ClassVar[str]
    uses_batch: ClassVar[bool]
    chooses_lr: ClassVar[bool]

    def check(self, n_params: int) -> None: ...

    def build(self, model: nn.Module, setting: Setting) -> torch.optim.Optimizer: ...


def from_value(value: Any) -> Spec:
    """An optimizer spec from a spec, a kind name (its defaults) or its ``{"kind": ...}`` dict."""
    if OPTIMIZERS.is_member(value):
        return value
    if isinstance(value, (str, dict)):
        return OPTIMIZERS.from_dict(value)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS.classes)} (e.g. sgdlab.optim.SGD()), "
                     f"got {value!r}")
