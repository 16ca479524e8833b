"""The FDR scheduler: SGD whose learning rate is cut once the first fluctuation–dissipation relation holds.

Yaida, *Fluctuation-dissipation relations for stochastic gradient descent*, ICLR 2019, and its code
(``FDR_quencher``). Every step records FDR1's observables O_L = θ·∇f_B and O_R = (η/2)(1+μ)/(1−δ)‖v‖²
(:func:`sgdlab.theory.fluctuation_dissipation.observables`). Every ``t_adaptive`` steps since the last
cut, the ratio of their means over the last half of those steps is checked; when |⟨O_L⟩/⟨O_R⟩ − 1| < X,
SGD is taken to be at equilibrium and η is multiplied by (1 − Y), and the record starts afresh.
Between cuts the steps are exactly those of ``torch.optim.SGD``. (The paper's code squares the velocity
before the step; this one the velocity the step takes, v_{t+1}, as the "fdr" trace does: the two have one
stationary mean.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sgdlab.core import checks
from sgdlab.curvature.vectors import flat
from sgdlab.optim.base import OPTIMIZERS, Setting
from sgdlab.theory.fluctuation_dissipation import fdr1_distance, half_window_ratio, observables


def _open_unit(name: str, value: Any) -> None:
    checks.number(name, value)
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


@OPTIMIZERS.register("fdr")
@dataclass(frozen=True)
class FDRScheduler:
    """SGD (the run's momentum and weight decay, and ``dampening``) with η cut by (1 − ``Y``) whenever FDR1
    holds within ``X`` over the last half of the steps since the last cut, checked every ``t_adaptive`` steps."""

    X: float = 0.01
    Y: float = 0.9
    t_adaptive: int = 1000
    dampening: float = 0.0
    uses_batch: ClassVar[bool] = False
    chooses_lr: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _open_unit("FDRScheduler.X (the FDR1 tolerance)", self.X)
        _open_unit("FDRScheduler.Y (the fraction of η cut)", self.Y)
        checks.integer("FDRScheduler.t_adaptive (steps)", self.t_adaptive, low=1)
        checks.number("FDRScheduler.dampening", self.dampening, low=0, below=1)

    def check(self, n_params: int) -> None:
        """Nothing depends on the model."""

    def build(self, model: nn.Module, setting: Setting) -> torch.optim.Optimizer:
        return FDRSGD(model.parameters(), lr=setting.lr, momentum=setting.momentum, dampening=self.dampening,
                      weight_decay=setting.weight_decay, X=self.X, Y=self.Y, t_adaptive=self.t_adaptive)


class FDRSGD(torch.optim.SGD):
    """``torch.optim.SGD`` with the FDR scheduler's cuts; ``cuts`` lists ``(step, lr)``: from optimizer step
    ``step`` (counted from 0) on, the learning rate is ``lr``. ``param_groups[0]["lr"]`` after a step is the
    learning rate that step took."""

    def __init__(self, params: Iterable[Tensor], lr: float, *, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, X: float = 0.01, Y: float = 0.9, t_adaptive: int = 1000):
        FDRScheduler(X, Y, t_adaptive, dampening)  # validates
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
        self.X, self.Y, self.t_adaptive = X, Y, t_adaptive
        self.o_l: list[float] = []
        self.o_r: list[float] = []
        self.steps = 0
        self.cuts: list[tuple[int, float]] = []

    @property
    def params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    def _maybe_cut(self) -> None:
        """Cut η when ``t_adaptive`` more steps have been recorded and FDR1 holds within X on their last half."""
        if not self.o_l or len(self.o_l) % self.t_adaptive:
            return
        if fdr1_distance(half_window_ratio(self.o_l, self.o_r)) < self.X:
            for group in self.param_groups:
                group["lr"] *= 1 - self.Y
            self.cuts.append((self.steps, self.param_groups[0]["lr"]))
            self.o_l, self.o_r = [], []

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD step (after a cut, if one is due), recording its O_L and O_R."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._maybe_cut()
        group = self.param_groups[0]
        params = self.params
        theta, gradient = flat(params), flat(p.grad for p in params)
        super().step()
        velocity = flat(self.state[p]["momentum_buffer"] for p in params) if group["momentum"] else None
        o_l, o_r = observables(theta, gradient, group["lr"], weight_decay=group["weight_decay"], velocity=velocity,
                                   momentum=group["momentum"], dampening=group["dampening"])
        self.o_l.append(o_l)
        self.o_r.append(o_r)
        self.steps += 1
        return loss
