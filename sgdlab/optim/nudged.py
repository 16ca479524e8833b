"""Nudged SGD, whose step inside the top Hessian eigen-subspace is scaled.

Nudged SGD (Jastrzębski et al., ICLR 2019, Sec. 5) takes the step Δ = −η (d − (1−γ) V Vᵀ d), where
``d`` is SGD's update direction (gradient, plus weight decay, accumulated by momentum) and ``V``
holds the top-K Hessian eigenvectors as orthonormal columns: the learning rate is γη inside their
span and η outside. The momentum buffer accumulates the un-nudged direction; the nudge is applied to
the step taken from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sgdlab import curvature
from sgdlab.core import checks
from sgdlab.curvature import Batch, LossFn
from sgdlab.optim.base import OPTIMIZERS, Setting

Basis = Callable[[Tensor | None], Tensor]


@OPTIMIZERS.register("nudged")
@dataclass(frozen=True)
class Nudged:
    """Nudged SGD: learning rate ``gamma * lr`` along the top ``k`` Hessian eigenvectors of the run's fixed
    Hessian subset, refreshed every ``refresh`` steps by warm-started Lanczos; ``gamma = 1`` is SGD."""

    gamma: float = 1.0
    k: int = 5
    refresh: int = 10
    uses_batch: ClassVar[bool] = False
    chooses_lr: ClassVar[bool] = False

    def __post_init__(self) -> None:
        checks.number("Nudged.gamma (the nudge γ)", self.gamma, low=0)
        checks.integer("Nudged.k", self.k, low=1)
        checks.integer("Nudged.refresh (steps)", self.refresh, low=1)

    def check(self, n_params: int) -> None:
        if self.k > n_params:
            raise ValueError(f"Nudged.k must be between 1 and the number of parameters ({n_params}), got {self.k}")

    def build(self, model: nn.Module, setting: Setting) -> torch.optim.Optimizer:
        basis = top_eigenvectors(model, setting.hessian_batches, self.k, tol=setting.eigen_tol,
                                 bn_mode=setting.bn_mode, seed=setting.lanczos_seed, loss_fn=setting.loss_fn)
        return NudgedSGD(model.parameters(), lr=setting.lr, gamma=self.gamma, momentum=setting.momentum,
                         weight_decay=setting.weight_decay, basis=basis, refresh_every=self.refresh)


class NudgedSGD(torch.optim.Optimizer):
    """SGD with learning rate ``gamma * lr`` along the columns of a basis ``V`` and ``lr`` elsewhere.

    ``V`` is a ``(n_params, K)`` matrix with orthonormal columns over all parameters, flattened in
    order. Set it with :meth:`set_basis`, or pass ``basis``, a function from the previous ``V`` (or
    ``None``) to the new one, called before every ``refresh_every``-th step (the first included).
    Without a basis, or with ``gamma == 1``, the steps are exactly those of ``torch.optim.SGD``.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, gamma: float = 1.0, *, momentum: float = 0.0,
                 weight_decay: float = 0.0, basis: Basis | None = None, refresh_every: int = 1):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if not gamma >= 0:
            raise ValueError(f"gamma (the nudge) must be non-negative, got {gamma!r}")
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be non-negative, got {momentum!r} and {weight_decay!r}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be a positive integer (steps), got {refresh_every!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.gamma = gamma
        self.basis_fn = basis
        self.refresh_every = refresh_every
        self.basis: Tensor | None = None
        self.steps = 0

    @property
    def n_params(self) -> int:
        return sum(p.numel() for group in self.param_groups for p in group["params"])

    def set_basis(self, vectors: Tensor) -> None:
        """Use ``vectors`` (``(n_params, K)``, orthonormal columns) as ``V`` from the next step on."""
        if vectors.ndim != 2 or vectors.shape[0] != self.n_params:
            raise ValueError(f"the basis must have shape (n_params={self.n_params}, K), got {tuple(vectors.shape)}")
        self.basis = vectors.detach()

    def _refresh(self) -> None:
        if self.basis_fn is not None and self.gamma != 1 and self.steps % self.refresh_every == 0:
            with torch.enable_grad():
                vectors = self.basis_fn(self.basis)
            if torch.isfinite(vectors).all():  # a diverging run keeps its last basis; the run loop stops it
                self.set_basis(vectors)

    def _directions(self) -> list[tuple[Tensor, Tensor]]:
        """Each parameter with its SGD direction (weight decay added, momentum accumulated), as torch's SGD."""
        pairs = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    pairs.append((p, torch.zeros_like(p)))
                    continue
                d = p.grad
                if group["weight_decay"] != 0:
                    d = d.add(p, alpha=group["weight_decay"])
                if group["momentum"] != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.clone(d).detach()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                    d = state["momentum_buffer"]
                pairs.append((p, d))
        return pairs

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step; refreshes ``V`` first when it is due."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._refresh()
        pairs = self._directions()
        if self.basis is not None and self.gamma != 1:
            flat = torch.cat([d.reshape(-1) for _, d in pairs])
            correction = (1 - self.gamma) * (self.basis @ (self.basis.T @ flat))
            offset = 0
            for i, (p, d) in enumerate(pairs):
                pairs[i] = (p, d - correction[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        lrs = [group["lr"] for group in self.param_groups for _ in group["params"]]
        for (p, d), lr in zip(pairs, lrs):
            if p.grad is not None:
                p.add_(d, alpha=-lr)
        self.steps += 1
        return loss


def top_eigenvectors(model: nn.Module, batches: Sequence[Batch], k: int, *, tol: float = 1e-3,
                     bn_mode: str = "eval", seed: int = 0, loss_fn: LossFn = F.cross_entropy) -> Basis:
    """A basis function for :class:`NudgedSGD`: the top-``k`` Hessian eigenvectors of the mean loss
    over ``batches`` at the model's current parameters, Lanczos warm-started from the previous ones."""

    def basis(previous: Tensor | None) -> Tensor:
        with curvature.hessian(model, batches, loss_fn, bn_mode=bn_mode) as H:
            return curvature.top_eigen(H, k=k, tol=tol, warm_start=previous, seed=seed).vectors

    return basis
