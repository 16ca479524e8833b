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

from sgdlab import curvature, directions
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


def _eigenvectors(ctx: ProbeContext, probe: str) -> Tensor:
    if "eigen" not in ctx.state:
        raise ValueError(f"probe {probe!r} needs the top eigenvectors: list 'eigen' before it in probes")
    return ctx.state["eigen"].vectors


def _minibatch_gradients(ctx: ProbeContext) -> Tensor:
    """``probe_batches`` gradients of mini-batches of the run's batch size, shape ``(B, dim)``; drawn
    once per step (seeded by the run's seed and the step) and shared by the direction probes."""
    cached = ctx.state.get("minibatch_gradients")
    if cached is not None and cached[0] == ctx.step:
        return cached[1]
    cfg = ctx.config
    x, y = ctx.train
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + ctx.step)
    theta = directions.flat_parameters(ctx.model)
    grads = []
    with curvature.curvature_mode(ctx.model, cfg.bn_mode):
        for _ in range(cfg.probe_batches):
            idx = torch.randperm(len(y), generator=generator)[: cfg.batch_size].to(y.device)
            grads.append(directions.gradient_of(directions.loss_of(ctx.model, [(x[idx], y[idx])]), theta))
    ctx.state["minibatch_gradients"] = (ctx.step, torch.stack(grads))
    return ctx.state["minibatch_gradients"][1]


def _hessian_loss(ctx: ProbeContext) -> directions.Loss:
    return directions.loss_of(ctx.model, ctx.hessian_batches)


def step_decomposition(ctx: ProbeContext) -> Measurement:
    """Loss change from moving by γ′ × the step's component along e₁…e_K and along a random unit
    direction, relative to the full SGD step's (on the Hessian subset; see :mod:`sgdlab.directions`)."""
    vectors = _eigenvectors(ctx, "step_decomposition")
    grads = _minibatch_gradients(ctx)
    generator = torch.Generator().manual_seed(ctx.config.seed * 1_000_003 + ctx.step)
    control = directions.random_direction(vectors.shape[0], generator, vectors.dtype, vectors.device)
    with curvature.curvature_mode(ctx.model, ctx.config.bn_mode):
        change = directions.step_decomposition(_hessian_loss(ctx), directions.flat_parameters(ctx.model), grads,
                                               torch.cat([vectors, control], dim=1), ctx.config.lr)
    change = change.double().cpu().numpy()
    return {"step_change": (("eig", "scale"), change[:-1]), "step_change_random": (("scale",), change[-1])}


SECTIONS = (1, 3, 5)
"""Eigen-directions of the loss cross-sections, as in the paper (those within ``top_k``)."""


def cross_sections(ctx: ProbeContext) -> Measurement:
    """The loss along e₁, e₃, e₅ at offsets × the mean step length along each, oriented so that the mean
    SGD step points to positive offsets; and the fraction of steps that cross the valley along each."""
    vectors = _eigenvectors(ctx, "cross_sections")
    grads = _minibatch_gradients(ctx)
    chosen = directions.orient(grads, vectors[:, [i - 1 for i in SECTIONS if i <= vectors.shape[1]]])
    theta, lr = directions.flat_parameters(ctx.model), ctx.config.lr
    units = directions.step_lengths(grads, chosen, lr)
    with curvature.curvature_mode(ctx.model, ctx.config.bn_mode):
        loss = _hessian_loss(ctx)
        section = directions.cross_section(loss, theta, chosen, units)
        crossed = directions.opposite_walls(loss, theta, grads, chosen, lr)
    mean_step = lr * (grads.mean(dim=0) @ chosen).abs() / units
    return {
        "section_loss": (("section", "offset"), section.double().cpu().numpy()),
        "section_unit": (("section",), units.double().cpu().numpy()),
        "section_mean_step": (("section",), mean_step.double().cpu().numpy()),
        "opposite_walls": (("section",), crossed.double().cpu().numpy()),
    }


def alignment(ctx: ProbeContext) -> Measurement:
    """Mean |cos(mini-batch gradient, eᵢ)| for the top K, and its expected value for a random direction."""
    vectors = _eigenvectors(ctx, "alignment")
    cos = directions.alignment(_minibatch_gradients(ctx), vectors)
    return {
        "grad_cos_top": (("eig",), cos.double().cpu().numpy()),
        "grad_cos_random": ((), directions.random_alignment(vectors.shape[0])),
    }


def distance_from_init(ctx: ProbeContext) -> Measurement:
    """‖θ − θ₀‖, the Euclidean distance of the parameters from their first measurement (initialisation)."""
    theta = directions.flat_parameters(ctx.model)
    initial = ctx.state.setdefault("initial_parameters", theta.clone())
    return {"distance_from_init": ((), float((theta - initial).norm()))}


PROBES: dict[str, Probe] = {
    "losses": losses,
    "eigen": eigen,
    "hessian_norm": hessian_norm,
    "step_decomposition": step_decomposition,
    "cross_sections": cross_sections,
    "alignment": alignment,
    "distance_from_init": distance_from_init,
    "memorisation": memorisation,
}
DIRECTION_PROBES = ("step_decomposition", "cross_sections", "alignment")


def stack(measurements: list[Measurement], steps: list[int]) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Stack per-step measurements into ``{name: (("step", *dims), array)}`` data variables."""
    names = dict.fromkeys(name for m in measurements for name in m)
    out = {}
    for name in names:
        dims = next(m[name][0] for m in measurements if name in m)
        out[name] = (("step", *dims), np.stack([np.asarray(m[name][1], dtype=float) for m in measurements]))
    return out
