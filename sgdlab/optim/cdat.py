"""Curvature Dynamics Aware Tuning (CDAT): the learning rate from the curvature along the step.

Roulet et al., *Stepping on the Edge: Curvature Aware Learning Rate Tuners*, NeurIPS 2024
(arXiv:2407.06183). For the base update direction u_t (here −d_t, d_t the gradient of
f = L + (λ/2)‖θ‖² accumulated by momentum; −∇f for plain gradient descent), the tuner takes

    η_t = σ · max(−∇f(θ_t)ᵀu_t, 0) / |u_tᵀ ∇²f(θ_t) u_t|,

with uᵀ∇²f u from one exact Hessian-vector product on the step's own batch. σ = 1 is the greedy
quadratic step (the minimiser of the local quadratic model along u); σ = 2 puts the step on the edge of
stability of that model. With ``ema = β > 0`` numerator and denominator are exponential moving averages
(n_t = β n_{t−1} + (1 − β) num_t, started at num_0), as the paper suggests for mini-batches.
Identity for tests: with u = −g, η λ₁ ≥ σ, with equality when g lies along e₁.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from sgdlab.core import checks
from sgdlab.curvature import Batch
from sgdlab.optim.base import OPTIMIZERS, Forward, Setting


@OPTIMIZERS.register("cdat")
@dataclass(frozen=True)
class CDAT:
    """The CDAT tuner on (full-batch or mini-batch) gradient descent; ``sigma`` scales the quadratic step."""

    sigma: float = 2.0
    ema: float = 0.0
    uses_batch: ClassVar[bool] = True
    chooses_lr: ClassVar[bool] = True

    def __post_init__(self) -> None:
        checks.number("CDAT.sigma", self.sigma, positive=True)
        checks.number("CDAT.ema", self.ema, low=0, below=1)

    def check(self, n_params: int) -> None:
        """Nothing depends on the model."""

    def build(self, model: nn.Module, setting: Setting) -> torch.optim.Optimizer:
        return CurvatureAwareGD(model.parameters(), sigma=self.sigma, ema=self.ema, momentum=setting.momentum,
                                weight_decay=setting.weight_decay)


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


class CurvatureAwareGD(torch.optim.Optimizer):
    """Gradient descent with the CDAT learning rate; call :meth:`step_on` with the step's batches.

    After each step ``param_groups[0]["lr"]`` holds the η_t taken (``inf`` when uᵀ∇²f u = 0, which
    makes the parameters non-finite: the run records that as a divergence).
    """

    def __init__(self, params: Iterable[Tensor], sigma: float = 2.0, ema: float = 0.0, *, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        CDAT(sigma, ema)  # validates
        super().__init__(params, dict(lr=0.0, momentum=momentum, weight_decay=weight_decay))
        self.sigma, self.ema = sigma, ema
        self.averages: tuple[float, float] | None = None

    @property
    def params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.requires_grad]

    def _gradient(self, batches: Sequence[Batch], forward: Forward) -> tuple[tuple[Tensor, ...], list]:
        """The mean loss's gradient (with its graph when there is one batch) and each batch's (loss, logits)."""
        total = sum(len(y) for _, y in batches)
        grads, outputs = None, []
        for batch in batches:
            loss, logits = forward(batch)
            outputs.append((loss.detach(), logits.detach()))
            g = torch.autograd.grad(loss * (len(batch[1]) / total), self.params, create_graph=len(batches) == 1)
            grads = g if grads is None else tuple(a + b for a, b in zip(grads, g))
        return grads, outputs

    def _hvp(self, grads: tuple[Tensor, ...], u: list[Tensor], batches: Sequence[Batch],
             forward: Forward) -> list[Tensor]:
        """∇²L u: through the retained graph for one batch, else batch by batch (double backward)."""
        if len(batches) == 1:
            return list(torch.autograd.grad(grads, self.params, grad_outputs=u))
        total, out = sum(len(y) for _, y in batches), [torch.zeros_like(p) for p in self.params]
        for batch in batches:
            loss, _ = forward(batch)
            g = torch.autograd.grad(loss * (len(batch[1]) / total), self.params, create_graph=True)
            out = [a + b for a, b in zip(out, torch.autograd.grad(g, self.params, grad_outputs=u))]
        return out

    def step_on(self, batches: Sequence[Batch], forward: Forward) -> list[tuple[Tensor, Tensor]]:
        """One step on the mean loss over ``batches``; returns each batch's detached (loss, logits)."""
        group = self.param_groups[0]
        wd, mu = group["weight_decay"], group["momentum"]
        with torch.enable_grad():
            grads, outputs = self._gradient(batches, forward)
            for p, g in zip(self.params, grads):
                p.grad = g.detach().clone()  # the step's gradient, as other optimizers leave it
            gradient = [g.detach() + wd * p.detach() for g, p in zip(grads, self.params)]
            direction = gradient
            if mu:
                buffers = [self.state[p].get("momentum_buffer") for p in self.params]
                direction = [d.clone() if b is None else b.mul_(mu).add_(d) for b, d in zip(buffers, gradient)]
                for p, b in zip(self.params, direction):
                    self.state[p]["momentum_buffer"] = b
            u = [-d for d in direction]
            hu = [h.detach() + wd * v for h, v in zip(self._hvp(grads, u, batches, forward), u)]
        numerator = max(float(-_dot(gradient, u)), 0.0)
        denominator = abs(float(_dot(u, hu)))
        if self.averages is None or self.ema == 0:
            self.averages = (numerator, denominator)
        else:
            b = self.ema
            self.averages = (b * self.averages[0] + (1 - b) * numerator, b * self.averages[1] + (1 - b) * denominator)
        lr = self.sigma * self.averages[0] / self.averages[1] if self.averages[1] > 0 else math.inf
        with torch.no_grad():
            for p, v in zip(self.params, u):
                p.add_(v, alpha=lr)
        for g in self.param_groups:
            g["lr"] = lr
        return outputs

    def step(self, closure=None):  # noqa: D102
        raise TypeError("CurvatureAwareGD needs the step's batches: call step_on(batches, forward)")
