"""Langevin dynamics: gradient descent plus isotropic Gaussian noise at a temperature T,

    θ ← θ − η (∇L(θ) + λθ) + sqrt(2ηT) · ξ,   ξ ~ N(0, I),

the discretisation of dθ = −∇f dt + sqrt(2T) dW, whose stationary density is ∝ exp(−f/T). With the
run's ``batch_size=None`` ∇L is the full-batch gradient, so all the noise is the isotropic ξ: the
fixed-temperature equilibrium against which Feng & Tu (PNAS 2021) contrast SGD (there σᵢ² ∝ Fᵢ²).
ξ is drawn from a named stream of the run's optimizer seed, so runs are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from sgdlab.core import checks, seeds
from sgdlab.optim.base import OPTIMIZERS, Setting


@OPTIMIZERS.register("langevin")
@dataclass(frozen=True)
class Langevin:
    """Langevin dynamics at ``temperature`` T > 0 (loss units); needs ``momentum=0``. The first ``after``
    steps are plain gradient steps of every parameter (no noise: e.g. SGD to a plateau, with a batch
    schedule that then turns to the full batch); from then on the noise is on and, with ``only`` the name
    of one parameter (e.g. ``"3.weight"``), that parameter alone moves, the others held where they are:
    its stationary density is ∝ exp(−L/T) in that layer."""

    temperature: float = 1e-4
    only: str | None = None
    after: int = 0
    uses_batch: ClassVar[bool] = False
    chooses_lr: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks.number("Langevin.temperature", self.temperature, positive=True)
        if self.only is not None and not isinstance(self.only, str):
            raise ValueError(f"Langevin.only must be a parameter name or None, got {self.only!r}")
        checks.integer("Langevin.after", self.after, low=0)

    def check(self, n_params: int) -> None:
        """Nothing depends on the model."""

    def build(self, model: nn.Module, setting: Setting) -> torch.optim.Optimizer:
        if setting.momentum != 0:
            raise ValueError(f"the langevin optimizer has no momentum: set momentum=0, got {setting.momentum!r}")
        # the noise stream derives from the run's Lanczos stream, as it always has: runs keep their numbers
        noise_seed = seeds.stream(setting.lanczos_seed, "langevin")
        params = dict(model.named_parameters())
        if self.only is not None and self.only not in params:
            raise ValueError(f"Langevin.only {self.only!r} is not a parameter of this model; choose one of: "
                             f"{', '.join(params)}")
        groups = [{"params": list(params.values())}] if self.only is None else [
            {"params": [params[self.only]]},
            {"params": [p for name, p in params.items() if name != self.only], "held": True}]
        return LangevinDynamics(groups, lr=setting.lr, temperature=self.temperature,
                                weight_decay=setting.weight_decay, seed=noise_seed, after=self.after)


class LangevinDynamics(torch.optim.Optimizer):
    """θ ← θ − η (g + λθ) + sqrt(2ηT) ξ after ``backward()``; ξ from a generator seeded with ``seed``. The
    first ``after`` steps have no noise; from then on the parameter groups marked ``held`` stay still."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float, temperature: float,
                 weight_decay: float = 0.0, seed: int = 0, after: int = 0):
        checks.number("lr", lr, positive=True)
        checks.number("temperature", temperature, positive=True)
        checks.number("weight_decay", weight_decay, low=0)
        checks.integer("after", after, low=0)
        super().__init__(params, {"lr": lr, "temperature": temperature, "weight_decay": weight_decay,
                                  "held": False})
        self.seed, self.after, self.steps = seed, after, 0
        self.generator: torch.Generator | None = None

    def _noise_like(self, p: Tensor) -> Tensor:
        if self.generator is None:
            self.generator = torch.Generator(device=p.device).manual_seed(self.seed)
        return torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        noisy = self.steps >= self.after
        self.steps += 1
        for group in self.param_groups:
            if noisy and group["held"]:
                continue
            lr, decay = group["lr"], group["weight_decay"]
            scale = math.sqrt(2 * lr * group["temperature"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                drift = p.grad if decay == 0 else p.grad + decay * p
                p.add_(drift, alpha=-lr)
                if noisy:
                    p.add_(self._noise_like(p), alpha=scale)
        return loss
