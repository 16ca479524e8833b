"""Measurements taken at scheduled steps of a run.

A probe is a function ``probe(ctx) -> {name: (dims, values)}``: ``dims`` names the axes of
``values`` beyond the ``step`` axis that every measurement shares. Probes run in the order a
configuration lists them and may leave results for later probes in ``ctx.state`` (the eigen probe
leaves its :class:`~sgdlab.curvature.Eigen` under ``"eigen"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sgdlab import curvature
from sgdlab.curvature import Batch

Measurement = dict[str, tuple[tuple[str, ...], Any]]


@dataclass
class ProbeContext:
    """What a probe may look at: the model now, the data, the run's settings and shared state."""

    model: nn.Module
    config: Any
    step: int
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    hessian_batches: list[Batch]
    eval_batch_size: int
    corrupted: Tensor | None = None  # which examples of ``train`` carry a random label
    state: dict[str, Any] = field(default_factory=dict)

    def hessian(self) -> curvature.HessianOperator:
        """The Hessian on the run's fixed subset, under its BatchNorm policy (a context manager)."""
        return curvature.hessian(self.model, self.hessian_batches, bn_mode=self.config.bn_mode)


Probe = Callable[[ProbeContext], Measurement]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, bn_mode: str = "eval") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` in the curvature engine's mode; the mode is restored after."""
    with curvature.curvature_mode(model, bn_mode):
        loss, correct = 0.0, 0
        for xb, yb in curvature.as_batches(x, y, batch_size):
            out = model(xb)
            loss += float(F.cross_entropy(out, yb, reduction="sum"))
            correct += int((out.argmax(dim=1) == yb).sum())
    return loss / len(y), correct / len(y)


def losses(ctx: ProbeContext) -> Measurement:
    """Train and test loss and accuracy (train on the run's evaluation subset)."""
    train_loss, train_acc = evaluate(ctx.model, *ctx.train, ctx.eval_batch_size)
    test_loss, test_acc = evaluate(ctx.model, *ctx.test, ctx.eval_batch_size)
    return {
        "train_loss": ((), train_loss),
        "train_acc": ((), train_acc),
        "test_loss": ((), test_loss),
        "test_acc": ((), test_acc),
    }


def memorisation(ctx: ProbeContext) -> Measurement:
    """Training accuracy on the examples with a random label (against that label) and on the clean rest."""
    x, y = ctx.train

    def accuracy(mask: Tensor) -> float:
        return evaluate(ctx.model, x[mask], y[mask], ctx.eval_batch_size)[1] if mask.any() else float("nan")

    return {"memorised_acc": ((), accuracy(ctx.corrupted)), "clean_train_acc": ((), accuracy(~ctx.corrupted))}


def eigen(ctx: ProbeContext) -> Measurement:
    """The top-k Hessian eigenvalues λ₁…λ_k, warm-started from the previous measurement."""
    cfg = ctx.config
    previous = ctx.state.get("eigen")
    with ctx.hessian() as H:
        result = curvature.top_eigen(
            H, k=cfg.top_k, tol=cfg.eigen_tol, warm_start=None if previous is None else previous.vectors, seed=cfg.seed
        )
    ctx.state["eigen"] = result
    return {
        "lambda": (("eig",), result.values.double().cpu().numpy()),
        "lambda_residual": (("eig",), result.residuals.double().cpu().numpy()),
        "hvp_count": ((), result.n_products),
    }


def hessian_norm(ctx: ProbeContext) -> Measurement:
    """Hutchinson estimates of the Hessian's trace and Frobenius norm, with standard errors."""
    with ctx.hessian() as H:
        tr, tr_err = curvature.trace(H, n_samples=ctx.config.hutchinson_samples, seed=ctx.config.seed)
        fro, fro_err = curvature.frobenius_norm(H, n_samples=ctx.config.hutchinson_samples, seed=ctx.config.seed)
    return {
        "hessian_trace": ((), tr),
        "hessian_trace_se": ((), tr_err),
        "hessian_frobenius": ((), fro),
        "hessian_frobenius_se": ((), fro_err),
    }


PROBES: dict[str, Probe] = {"losses": losses, "eigen": eigen, "hessian_norm": hessian_norm,
                            "memorisation": memorisation}


def stack(measurements: list[Measurement], steps: list[int]) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Stack per-step measurements into ``{name: (("step", *dims), array)}`` data variables."""
    names = dict.fromkeys(name for m in measurements for name in m)
    out = {}
    for name in names:
        dims = next(m[name][0] for m in measurements if name in m)
        out[name] = (("step", *dims), np.stack([np.asarray(m[name][1], dtype=float) for m in measurements]))
    return out
