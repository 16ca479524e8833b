"""Measurements of the model's state at scheduled steps of a run.

A probe is a function ``probe(ctx) -> {name: (dims, values)}``: ``dims`` names the axes of ``values``
beyond the ``step`` axis. An entry whose name is one of its own dims (``"eig": (("eig",), [1, 2])``)
is that dim's coordinate. Probes run in the order a configuration lists them, each on its own
schedule, and may leave results for later probes in ``ctx.state`` (the eigen probe leaves its
:class:`~sgdlab.curvature.Eigen` under ``"eigen"``). They read the *current* learning rate and batch
size from the context, so they follow schedules and tuners.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sgdlab import curvature
from sgdlab.core import seeds
from sgdlab.curvature import Batch, Forward, LossFn, ParamSpec
from sgdlab.curvature.vectors import parameter_vector
from sgdlab.measure.settings import RunSettings
from sgdlab.measure.variables import Variable, declare
from sgdlab.theory import directions

Measurement = dict[str, tuple[tuple[str, ...], Any]]


@dataclass
class ProbeContext:
    """What a probe may look at: the model now, the data, the run's settings, the current step's
    learning rate and batch size, and state shared between probes."""

    model: nn.Module
    config: RunSettings
    loss_fn: LossFn
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    hessian_batches: list[Batch]
    corrupted: Tensor | None = None  # which examples of ``train`` carry a random label
    test_set: tuple[Tensor, Tensor] | None = None  # the real test set, also beside a validation split
    step: int = 0
    lr: float = 0.0
    batch_size: int = 1
    state: dict[str, Any] = field(default_factory=dict)
    params: Any = None  # the eigen probe's parameter block, or {block name: block}; default: the settings'
    forward: Forward | None = None  # reads a Hessian batch: (model, batch) -> (outputs, targets)

    def __post_init__(self) -> None:
        if self.params is None:
            self.params = getattr(self.config, "hessian_params", None)

    @contextmanager
    def hessian(self, params: ParamSpec = None):
        """The Hessian of the block ``params`` (default: every trainable parameter) on the run's fixed
        subset, under its BatchNorm policy (a context manager).

        With ``hessian_reuse_graph`` the gradient's graph is kept for every product; when that graph
        does not fit in memory (a CUDA out-of-memory error or a failed CPU allocation), products
        recompute it chunk by chunk instead (and do from then on).
        """
        reuse = self.config.hessian_reuse_graph and not self.state.get("hessian_recompute", False)
        options = {"bn_mode": self.config.bn_mode, "params": params, "forward": self.forward}
        try:
            op = curvature.hessian(self.model, self.hessian_batches, self.loss_fn, reuse_graph=reuse, **options)
            H = op.__enter__()
        except RuntimeError as error:
            if not reuse or not _out_of_memory(error):
                raise
            self.state["hessian_recompute"] = True
            op = curvature.hessian(self.model, self.hessian_batches, self.loss_fn, reuse_graph=False, **options)
            H = op.__enter__()
        try:
            yield H
        finally:
            op.__exit__(None, None, None)


def _out_of_memory(error: RuntimeError) -> bool:
    """Whether ``error`` is an allocation failure: CUDA's ``OutOfMemoryError`` or the CPU allocator's
    plain ``RuntimeError``."""
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


Probe = Callable[[ProbeContext], Measurement]
PROBES: dict[str, Probe] = {}
DIRECTION_PROBES = ("step_decomposition", "cross_sections", "alignment")


def probe(name: str, **variables: Variable) -> Callable[[Probe], Probe]:
    """Register a probe under ``name`` with the attributes of the variables it returns."""

    def add(fn: Probe) -> Probe:
        if name in PROBES:
            raise ValueError(f"probe {name!r} is registered already")
        declare(**variables)
        PROBES[name] = fn
        return fn

    return add


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int, bn_mode: str = "eval",
             loss_fn: LossFn = F.cross_entropy) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` in the curvature engine's mode; the mode is restored after."""
    with curvature.curvature_mode(model, bn_mode):
        loss, correct = 0.0, 0
        for xb, yb in curvature.as_batches(x, y, batch_size):
            out = model(xb)
            loss += float(loss_fn(out, yb)) * len(yb)
            correct += int((out.argmax(dim=1) == yb).sum())
    return loss / len(y), correct / len(y)


def _evaluate(ctx: ProbeContext, x: Tensor, y: Tensor) -> tuple[float, float]:
    return evaluate(ctx.model, x, y, ctx.config.eval_batch_size, "eval", ctx.loss_fn)


@probe("losses",
       train_loss=Variable("training loss", "mean training loss on the evaluation subset, inference mode"),
       train_acc=Variable("training accuracy", "fraction of the evaluation subset classified correctly"),
       test_loss=Variable("test loss", "mean loss on the held-out set (test set or validation split)"),
       test_acc=Variable("test accuracy", "fraction of the held-out set classified correctly"))
def losses(ctx: ProbeContext) -> Measurement:
    """Train and test loss and accuracy (train on the run's evaluation subset)."""
    train_loss, train_acc = _evaluate(ctx, *ctx.train)
    test_loss, test_acc = _evaluate(ctx, *ctx.test)
    return {"train_loss": ((), train_loss), "train_acc": ((), train_acc),
            "test_loss": ((), test_loss), "test_acc": ((), test_acc)}


@probe("test_set",
       test_set_loss=Variable("test-set loss", "mean loss on the real test set (under holdout='validation' "
                              "too, where test_loss is the validation split's)"),
       test_set_acc=Variable("test-set accuracy", "fraction of the real test set classified correctly (under "
                             "holdout='validation' too, where test_acc is the validation split's)"))
def test_set(ctx: ProbeContext) -> Measurement:
    """Loss and accuracy on the real test set, so that a run selected on its validation split (the best
    validation checkpoint) reports the test accuracy of that checkpoint."""
    if ctx.test_set is None:
        raise ValueError("the test_set probe needs the run's real test set (ProbeContext.test_set)")
    loss, acc = _evaluate(ctx, *ctx.test_set)
    return {"test_set_loss": ((), loss), "test_set_acc": ((), acc)}


@probe("memorisation",
       memorised_acc=Variable("accuracy on random labels", "training accuracy on the corrupted examples, "
                              "against their random labels"),
       clean_train_acc=Variable("accuracy on clean labels", "training accuracy on the examples with true labels"))
def memorisation(ctx: ProbeContext) -> Measurement:
    """Training accuracy on the examples with a random label (against that label) and on the clean rest."""
    x, y = ctx.train

    def accuracy(mask: Tensor) -> float:
        return _evaluate(ctx, x[mask], y[mask])[1] if mask.any() else float("nan")

    return {"memorised_acc": ((), accuracy(ctx.corrupted)), "clean_train_acc": ((), accuracy(~ctx.corrupted))}


@probe("eigen",
       eig=Variable("eigenvalue index", "i of λᵢ, the i-th largest (algebraic) Hessian eigenvalue"),
       block=Variable("parameter block", "the block of parameters whose Hessian block H_BB gives λᵢ (the others "
                      "held fixed)"),
       **{"lambda": Variable("Hessian eigenvalue", "λᵢ of the training-loss Hessian on the fixed Hessian subset, "
                             "by Lanczos", "loss / parameter²")},
       lambda_residual=Variable("Ritz residual", "‖Hv − λv‖ of each Ritz pair", "loss / parameter²"),
       hvp_count=Variable("Hessian-vector products", "products the eigensolver used at this measurement", "products"))
def eigen(ctx: ProbeContext) -> Measurement:
    """The top-k Hessian eigenvalues λ₁…λ_k, warm-started from the previous measurement; of the block
    ``ctx.params``, or of each block of a mapping ``{block name: block}`` (a ``block`` dimension)."""
    k = ctx.config.top_k
    if not isinstance(ctx.params, Mapping):
        result = _top_eigen(ctx, ctx.params, "eigen")
        ctx.state["eigen_step"] = ctx.step
        return {"eig": (("eig",), np.arange(1, k + 1)), "lambda": (("eig",), _numpy(result.values)),
                "lambda_residual": (("eig",), _numpy(result.residuals)), "hvp_count": ((), result.n_products)}
    curvature.check_blocks(ctx.model, ctx.params)
    results = [_top_eigen(ctx, spec, f"eigen[{name}]") for name, spec in ctx.params.items()]
    return {"block": (("block",), np.asarray(list(ctx.params))), "eig": (("eig",), np.arange(1, k + 1)),
            "lambda": (("block", "eig"), np.stack([_numpy(r.values) for r in results])),
            "lambda_residual": (("block", "eig"), np.stack([_numpy(r.residuals) for r in results])),
            "hvp_count": (("block",), np.asarray([r.n_products for r in results]))}


def _top_eigen(ctx: ProbeContext, params: ParamSpec, key: str) -> curvature.Eigen:
    """Top-k eigenpairs of the block ``params``, warm-started from and stored under ``ctx.state[key]``."""
    cfg, previous = ctx.config, ctx.state.get(key)
    with ctx.hessian(params) as H:
        result = curvature.top_eigen(H, k=cfg.top_k, tol=cfg.eigen_tol,
                                     warm_start=None if previous is None else previous.vectors,
                                     seed=seeds.stream(cfg.seed, "lanczos"))
    ctx.state[key] = result
    return result


def _numpy(values: Tensor) -> np.ndarray:
    return values.double().cpu().numpy()


@probe("hessian_norm",
       hessian_trace=Variable("Hessian trace", "Hutchinson estimate of Tr H", "loss / parameter²"),
       hessian_trace_se=Variable("Hessian trace standard error", "of the Hutchinson estimate", "loss / parameter²"),
       hessian_frobenius=Variable("Hessian Frobenius norm", "Hutchinson estimate of ‖H‖_F", "loss / parameter²"),
       hessian_frobenius_se=Variable("Frobenius norm standard error", "of the Hutchinson estimate",
                                     "loss / parameter²"))
def hessian_norm(ctx: ProbeContext) -> Measurement:
    """Hutchinson estimates of the Hessian's trace and Frobenius norm, with standard errors."""
    n, seed = ctx.config.hutchinson_samples, seeds.stream(ctx.config.seed, "hutchinson")
    with ctx.hessian() as H:
        tr, tr_err = curvature.trace(H, n_samples=n, seed=seed)
        fro, fro_err = curvature.frobenius_norm(H, n_samples=n, seed=seed)
    return {"hessian_trace": ((), tr), "hessian_trace_se": ((), tr_err),
            "hessian_frobenius": ((), fro), "hessian_frobenius_se": ((), fro_err)}


def _eigenvectors(ctx: ProbeContext, probe_name: str) -> Tensor:
    if "eigen" not in ctx.state or ctx.state.get("eigen_step") != ctx.step:
        raise ValueError(f"probe {probe_name!r} needs the top eigenvectors of this step: list 'eigen' before it "
                         "in probes, on the same schedule")
    return ctx.state["eigen"].vectors


def minibatch_gradients(ctx: ProbeContext) -> Tensor:
    """``probe_gradients`` gradients of mini-batches of the current batch size, shape ``(B, dim)``; drawn
    once per step (from the run's ``probe_batches`` stream at this step) and shared by every probe of that step
    that needs mini-batch gradients (the direction probes, FDR2)."""
    cached = ctx.state.get("minibatch_gradients")
    if cached is not None and cached[0] == ctx.step:
        return cached[1]
    cfg = ctx.config
    x, y = ctx.train
    generator = seeds.generator(cfg.seed, "probe_batches", ctx.step)
    theta = parameter_vector(ctx.model)
    size = min(ctx.batch_size, len(y))
    grads = []
    with curvature.curvature_mode(ctx.model, cfg.bn_mode):
        for _ in range(cfg.probe_gradients):
            idx = torch.randperm(len(y), generator=generator)[:size].to(y.device)
            grads.append(directions.gradient_of(directions.loss_of(ctx.model, [(x[idx], y[idx])], ctx.loss_fn), theta))
    ctx.state["minibatch_gradients"] = (ctx.step, torch.stack(grads))
    return ctx.state["minibatch_gradients"][1]


def _hessian_loss(ctx: ProbeContext) -> directions.Loss:
    return directions.loss_of(ctx.model, ctx.hessian_batches, ctx.loss_fn)


@probe("step_decomposition",
       scale=Variable("γ′", "multiple of the step's own component along the direction"),
       step_change=Variable("loss change from the step's component along eᵢ",
                            "L(θ − γ′ η (g·eᵢ) eᵢ) − L(θ), relative to |the full step's change|, mean over gradients"),
       step_change_random=Variable("loss change along a random direction",
                                   "as step_change, along a random unit direction"))
def step_decomposition(ctx: ProbeContext) -> Measurement:
    """Loss change from moving by γ′ × the step's component along e₁…e_K and along a random unit
    direction, relative to the full SGD step's (on the Hessian subset; see :mod:`sgdlab.theory.directions`)."""
    vectors = _eigenvectors(ctx, "step_decomposition")
    grads = minibatch_gradients(ctx)
    generator = seeds.generator(ctx.config.seed, "random_direction", ctx.step)
    control = directions.random_direction(vectors.shape[0], generator, vectors.dtype, vectors.device)
    with curvature.curvature_mode(ctx.model, ctx.config.bn_mode):
        change = directions.step_decomposition(_hessian_loss(ctx), parameter_vector(ctx.model), grads,
                                               torch.cat([vectors, control], dim=1), ctx.lr)
    change = change.double().cpu().numpy()
    return {"scale": (("scale",), np.asarray(directions.SCALES)),
            "step_change": (("eig", "scale"), change[:-1]), "step_change_random": (("scale",), change[-1])}


SECTIONS = (1, 3, 5)
"""Eigen-directions of the loss cross-sections, as in the paper (those within ``top_k``)."""


@probe("cross_sections",
       section=Variable("cross-section direction", "i of the eigenvector eᵢ along which the loss is cut"),
       offset=Variable("offset", "distance from θ along eᵢ, in units of the mean step length η|g·eᵢ|", "steps"),
       section_loss=Variable("loss along eᵢ", "training loss on the Hessian subset at θ + offset · unit · eᵢ"),
       section_unit=Variable("mean step length along eᵢ", "mean over gradients of η|g·eᵢ|", "parameter"),
       section_mean_step=Variable("mean step along eᵢ", "η|mean gradient · eᵢ| in units of section_unit", "steps"),
       opposite_walls=Variable("valley-crossing fraction", "fraction of mini-batch steps whose component along eᵢ "
                               "lands on the far wall of the valley"))
def cross_sections(ctx: ProbeContext) -> Measurement:
    """The loss along e₁, e₃, e₅ at offsets × the mean step length along each, oriented so that the mean
    SGD step points to positive offsets; and the fraction of steps that cross the valley along each."""
    vectors = _eigenvectors(ctx, "cross_sections")
    grads = minibatch_gradients(ctx)
    chosen_sections = [i for i in SECTIONS if i <= vectors.shape[1]]
    chosen = directions.orient(grads, vectors[:, [i - 1 for i in chosen_sections]])
    theta, lr = parameter_vector(ctx.model), ctx.lr
    units = directions.step_lengths(grads, chosen, lr)
    with curvature.curvature_mode(ctx.model, ctx.config.bn_mode):
        loss = _hessian_loss(ctx)
        section = directions.cross_section(loss, theta, chosen, units)
        crossed = directions.opposite_walls(loss, theta, grads, chosen, lr)
    mean_step = lr * (grads.mean(dim=0) @ chosen).abs() / units
    return {
        "section": (("section",), np.asarray(chosen_sections)),
        "offset": (("offset",), np.asarray(directions.OFFSETS)),
        "section_loss": (("section", "offset"), section.double().cpu().numpy()),
        "section_unit": (("section",), units.double().cpu().numpy()),
        "section_mean_step": (("section",), mean_step.double().cpu().numpy()),
        "opposite_walls": (("section",), crossed.double().cpu().numpy()),
    }


@probe("alignment",
       grad_cos_top=Variable("gradient alignment with eᵢ", "mean over mini-batch gradients of |cos(g, eᵢ)|"),
       grad_cos_random=Variable("random alignment", "expected |cos| of two random directions in this dimension"))
def alignment(ctx: ProbeContext) -> Measurement:
    """Mean |cos(mini-batch gradient, eᵢ)| for the top K, and its expected value for a random direction."""
    vectors = _eigenvectors(ctx, "alignment")
    cos = directions.alignment(minibatch_gradients(ctx), vectors)
    return {"grad_cos_top": (("eig",), cos.double().cpu().numpy()),
            "grad_cos_random": ((), directions.random_alignment(vectors.shape[0]))}


@probe("distance_from_init",
       distance_from_init=Variable("distance from initialisation", "‖θ − θ₀‖ over the trainable parameters",
                                   "parameter"))
def distance_from_init(ctx: ProbeContext) -> Measurement:
    """‖θ − θ₀‖, the Euclidean distance of the parameters from initialisation."""
    theta = parameter_vector(ctx.model)
    return {"distance_from_init": ((), float((theta - ctx.state["initial_parameters"]).norm()))}
