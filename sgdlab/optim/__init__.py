"""Optimizers and learning-rate tuners of a run, as a registry of frozen configuration dataclasses.

A run's ``optimizer`` field holds one of them (``SGD()``, ``Nudged(gamma=0.1, k=10)``, ``CDAT(sigma=2)``
...). Each validates its fields on construction, is stored in the run's JSON as ``{"kind": ..., ...}``
and builds a ``torch.optim.Optimizer`` from the run's :class:`Setting`. A new optimizer is a module with
a frozen dataclass registered in :data:`OPTIMIZERS` and passes the shared suite in ``tests/optim``.

Two kinds of step: most optimizers take ``optimizer.step()`` after the run loop's backward pass; an
optimizer whose spec sets ``uses_batch`` (a tuner that needs the step's own batch, e.g. for a
Hessian-vector product) takes ``optimizer.step_on(batches, forward)`` instead and does its own
backward pass; ``forward(batch) -> (mean loss, logits)``. An optimizer whose spec sets ``chooses_lr``
sets its own learning rate along the run, so a run refuses to combine it with an ``lr_schedule``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from sgdlab.curvature import Batch, LossFn
from sgdlab.kinds import Kinds

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
    seed: int = 0


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


# registration order: sgd, nudged, cdat, ... (error messages list kinds in this order)
# isort: off
from sgdlab.optim.sgd import SGD
from sgdlab.optim.nudged import Nudged, NudgedSGD, top_eigenvectors
from sgdlab.optim.cdat import CDAT, CurvatureAwareGD
from sgdlab.optim.langevin import Langevin, LangevinDynamics
from sgdlab.optim.fdr import FDRSGD, FDRScheduler
# isort: on

__all__ = ["CDAT", "FDRSGD", "OPTIMIZERS", "CurvatureAwareGD", "FDRScheduler", "Langevin", "LangevinDynamics",
           "Nudged", "NudgedSGD", "SGD", "Setting", "Spec", "from_value", "top_eigenvectors"]
