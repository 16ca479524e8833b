"""Curvature benchmark: sgdlab's Hessian engine beside PyHessian, hessian-eigenthings and curvlinops.

Everything runs in this one process, on the same models, data, parameters and device:

1. the top-5 Hessian eigenvalues at a relative error of at most 1e-4 against a float64 reference,
   each method at its best setting (the cheapest one on its own ladder that reaches that error);
   median wall time over interleaved repeats, Hessian-vector products, error, peak memory and the
   ratio of each peer's time to sgdlab's;
2. the cost of one Hessian-vector product relative to one gradient for each way of computing it;
3. tracking along a replayed training trajectory: products per measurement and eigenvalue error
   of each warm start against a tight reference at every measurement;
4. the overhead of tracking λ₁…λ₅ every epoch over bare training in the quick profile;
5. the cost of one product of a parameter block's Hessian (the first and the last layer) and of the
   generalised Gauss–Newton matrix, relative to one product of the full Hessian;
6. the targets, each with its measured value and whether it is met.

    python benchmarks/curvature.py                  # CPU, every core
    python benchmarks/curvature.py --device cuda    # the paper's sizes (2,560 images per case)
    python benchmarks/curvature.py --sections hvp_cost replay   # some sections only
    python benchmarks/curvature.py --sections blocks --cases mlp cnn   # block and Gauss–Newton products

On CUDA, times come from CUDA events, memory from the caching allocator, and a Lanczos run is
checked for host synchronisation between convergence checks (``torch.cuda.set_sync_debug_mode``).
Needs the ``bench`` extra (``pip install -e .[bench]``) for the peers of section 1. Prints the
tables and the targets and writes them as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import dataclasses
import importlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import sgdlab
from sgdlab import RunConfig, curvature
from sgdlab.curvature.krylov import Krylov
from sgdlab.task import models
from sgdlab.training.loop import train_uncached

K = 5
TARGET_ERROR = 1e-4
SGD_LR = 0.05
REFERENCE_TOL = 1e-10
REPLAY_REFERENCE_TOL = 1e-6
SECTIONS = ("top_eigen", "hvp_cost", "replay", "tracking", "blocks")
TARGETS = {"peer_ratio": 1.5, "hvp_ratio": 2.0, "products_per_measurement": 8.0, "replay_error": 1e-4,
           "overhead_fraction_of_before": 1 / 3}
OVERHEAD_BEFORE = 2.82  # the quick profile's tracking overhead when the targets were set (282%)


# --------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """A model at parameters θ₁ (one SGD step after θ₀), its Hessian batch and θ₀'s top eigenvectors."""

    name: str
    description: str
    model: nn.Module
    x: Tensor
    y: Tensor
    warm: Tensor = field(init=False)
    reference: np.ndarray = field(init=False)
    reference_products: int = field(init=False)

    @property
    def batches(self) -> list[tuple[Tensor, Tensor]]:
        return [(self.x, self.y)]

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _sgd_steps(model: nn.Module, x: Tensor, y: Tensor, steps: int, seed: int) -> None:
    """``steps`` plain SGD steps on mini-batches of 128 in training mode (BatchNorm statistics move)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LR)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(y), generator=generator)[:128].to(x.device)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.eval()


def prepare(case: Case) -> Case:
    """θ₀ = five SGD steps from initialisation, warm vectors there, then one step more to θ₁;
    the reference eigenvalues at θ₁ by float64 Lanczos run to residuals of 1e-10 λ₁."""
    _sgd_steps(case.model, case.x, case.y, 5, seed=1)
    with curvature.hessian(case.model, case.batches) as H:
        case.warm = curvature.top_eigen(H, k=K, tol=1e-6, seed=1).vectors
    _sgd_steps(case.model, case.x, case.y, 1, seed=2)
    model64 = copy.deepcopy(case.model).double()
    with curvature.hessian(model64, [(case.x.double(), case.y)]) as H:
        eig = curvature.top_eigen(H, k=K, tol=REFERENCE_TOL, max_iter=1000, check_every=1, seed=2)
    if not eig.converged:
        raise RuntimeError(f"{case.name}: the float64 reference did not converge")
    case.reference, case.reference_products = eig.values.cpu().numpy(), eig.n_products
    return case


CASES = ("mlp", "cnn", "simplecnn", "resnet32-bn")


def make_cases(device: torch.device, cnn_images: int, bn_images: int, names: Sequence[str] = CASES) -> list[Case]:
    mnist1d = sgdlab.load("mnist1d")
    generator = torch.Generator().manual_seed(0)

    def images(n: int) -> tuple[Tensor, Tensor]:
        return torch.randn(n, 3, 32, 32, generator=generator), torch.randint(0, 10, (n,), generator=generator)

    cnn_x, cnn_y = images(cnn_images)
    bn_x, bn_y = images(bn_images)
    cases = [
        Case("mlp", "quick-profile MLP (100x2) on 1,000 MNIST-1D training examples",
             models.build("mlp", mnist1d.input_shape, 10), mnist1d.x_train[:1000], mnist1d.y_train[:1000]),
        Case("cnn", "MNIST-1D 1-D CNN (two conv-ReLU-max-pool blocks, width 32) on 1,000 training examples",
             models.build("cnn", mnist1d.input_shape, 10), mnist1d.x_train[:1000], mnist1d.y_train[:1000]),
        Case("simplecnn", f"SimpleCNN on {cnn_images:,} random CIFAR-shaped images (N(0,1) pixels, uniform labels)",
             models.build("simplecnn", (3, 32, 32), 10), cnn_x, cnn_y),
        Case("resnet32-bn", f"ResNet-32 with BatchNorm (running statistics) on {bn_images:,} random CIFAR-shaped "
             "images", models.build("resnet32", (3, 32, 32), 10, batch_norm=True), bn_x, bn_y),
    ]
    cases = [case for case in cases if case.name in names]
    for case in cases:
        case.model.to(device)
        case.x, case.y = case.x.to(device), case.y.to(device)
    return cases


# ------------------------------------------------------------------------------------------- methods

Result = tuple[np.ndarray, int]  # eigenvalues (any order), Hessian-vector products used


def sgdlab_top(case: Case, tol: float, warm: bool) -> Result:
    with curvature.hessian(case.model, case.batches) as H:
        eig = curvature.top_eigen(H, k=K, tol=tol, warm_start=case.warm if warm else None, seed=3)
    return eig.values.cpu().numpy(), eig.n_products


def pyhessian_top(case: Case, tol: float) -> Result:
    ph = importlib.import_module("pyhessian.hessian")  # the module, which the package shadows

    count = [0]
    product = ph.hessian_vector_product

    def counted(*args: Any) -> Any:
        count[0] += 1
        return product(*args)

    torch.manual_seed(3)  # PyHessian draws its start vectors from the global generator
    ph.hessian_vector_product = counted
    try:
        h = ph.hessian(case.model, F.cross_entropy, data=(case.x, case.y), cuda=case.x.is_cuda)
        values, _ = h.eigenvalues(maxIter=500, tol=tol, top_n=K)
    finally:
        ph.hessian_vector_product = product
        case.model.zero_grad(set_to_none=True)  # it leaves the gradient (with its graph) in .grad
    return np.asarray(values), count[0]


def eigenthings_top(case: Case, max_iter: int) -> Result:
    from hessian_eigenthings import HessianOperator, lanczos, supervised_loss

    op = HessianOperator(case.model, case.batches, supervised_loss(F.cross_entropy))
    result = lanczos(op, k=K, max_iter=max_iter, which="LA", reorthogonalize=True, seed=3)
    return result.eigenvalues.cpu().numpy(), result.iterations


def curvlinops_top(case: Case, setting: tuple[int, float]) -> Result:
    from curvlinops import HessianLinearOperator
    from scipy.sparse.linalg import LinearOperator, eigsh

    ncv, tol = setting
    params = [p for p in case.model.parameters() if p.requires_grad]
    H = HessianLinearOperator(case.model, nn.CrossEntropyLoss(), params, case.batches,
                              check_deterministic=False).to_scipy()
    count = [0]

    def matvec(v: np.ndarray) -> np.ndarray:
        count[0] += 1
        return H @ v

    counted = LinearOperator(H.shape, matvec=matvec, dtype=H.dtype)
    v0 = np.random.default_rng(3).standard_normal(H.shape[0])
    values = eigsh(counted, k=K, which="LA", tol=tol, ncv=ncv, v0=v0, return_eigenvectors=False)
    return values, count[0]


@dataclass(frozen=True)
class Method:
    """A top-k method with ladders of settings, each from cheap to dear; its best setting is the one
    reaching the target error with the fewest products, a ladder stopping at its first success."""

    name: str
    product: str  # how it computes Hessian-vector products
    run: Callable[[Case, Any], Result]
    ladders: tuple[tuple[Any, ...], ...]
    setting_name: str


def _tols(*exponents: float) -> tuple[float, ...]:
    return tuple(10.0**e for e in exponents)


SGDLAB_TOLS = _tols(-1, -1.5, -2, -2.5, -3, -3.5, -4, -5, -6)
METHODS = (
    Method("sgdlab", "graph reuse", lambda c, t: sgdlab_top(c, t, warm=False), (SGDLAB_TOLS,), "tol"),
    Method("sgdlab (warm)", "graph reuse", lambda c, t: sgdlab_top(c, t, warm=True), (SGDLAB_TOLS,), "tol"),
    Method("PyHessian", "graph reuse", pyhessian_top, (_tols(-4, -5, -6, -7),), "tol"),
    Method("hessian-eigenthings", "double backward", eigenthings_top,
           ((10, 12, 14, 16, 18, 20, 22, 25, 28, 32, 36, 40, 45, 50, 60, 70, 80, 100, 125, 150, 200),), "max_iter"),
    Method("curvlinops+eigsh", "forward-over-reverse", curvlinops_top,
           tuple(tuple((ncv, tol) for tol in _tols(-1, -2, -3, -4, -5, -6)) for ncv in (12, 20)), "(ncv, tol)"),
)


def relative_error(values: np.ndarray, reference: np.ndarray) -> float:
    ordered = np.sort(np.asarray(values, dtype=float))[::-1][: len(reference)]
    return float(np.max(np.abs(ordered - reference) / np.abs(reference)))


# ----------------------------------------------------------------------------------- measurement


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Meter:
    """Wall time and peak memory above the starting point of one call (GPU memory on CUDA, RSS on CPU)."""

    def __init__(self, device: torch.device):
        self.device = device
        self._trim = getattr(ctypes.CDLL(None), "malloc_trim", None) if device.type == "cpu" else None

    def __call__(self, fn: Callable[[], Any]) -> tuple[Any, float, float]:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            if self._trim is not None:
                self._trim(0)
            Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident set size (VmHWM)
            base = _proc_status("VmRSS")
        start = time.perf_counter()
        out = fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() if self.device.type == "cuda" else _proc_status("VmHWM")
        return out, seconds, (peak - base) / 2**20

    def time(self, fn: Callable[[], Any]) -> float:
        """Time of one call, without touching the memory statistics."""
        return timed(fn, self.device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds one call takes: CUDA events on a GPU (device time of the queued work), wall time on a CPU."""
    if device.type != "cuda":
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    begin.record()
    fn()
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / 1e3


def _proc_status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


PEER_MODULES = {"PyHessian": "pyhessian", "hessian-eigenthings": "hessian_eigenthings",
                "curvlinops+eigsh": "curvlinops"}


def _installed(method: Method) -> bool:
    """Whether a peer's package (the ``bench`` extra) can be imported; sgdlab's methods always can."""
    module = PEER_MODULES.get(method.name)
    return module is None or importlib.util.find_spec(module) is not None


def top_eigen_table(case: Case, meter: Meter, repeats: int) -> list[dict[str, Any]]:
    """Tune every method on its ladder, then time the chosen settings in interleaved rounds."""
    rows = []
    for method in METHODS:
        row: dict[str, Any] = {"case": case.name, "method": method.name, "product": method.product,
                               "setting_name": method.setting_name, "reached": False, "times_s": []}
        tried = []
        if not _installed(method):
            rows.append(row | {"installed": False, "ladder": [], "setting": None, "error": float("nan"),
                               "products": 0})
            continue
        for ladder in method.ladders:
            for setting in ladder:
                (values, products), seconds, peak = meter(lambda: method.run(case, setting))
                error = relative_error(values, case.reference)
                tried.append({"setting": setting, "error": error, "products": products, "seconds": seconds})
                log(f"  {method.name} {method.setting_name}={_setting(setting)}: error {error:.1e}, "
                    f"{products} products, {seconds:.2f} s")
                if error <= TARGET_ERROR:
                    if not row["reached"] or products < row["products"]:
                        row |= {"reached": True, "setting": setting, "error": error, "products": products,
                                "peak_mib": peak}
                    break
        row["ladder"] = tried
        if not row["reached"]:
            best = min(tried, key=lambda t: t["error"])
            row |= {"setting": best["setting"], "error": best["error"], "products": best["products"]}
        rows.append(row)
    for _ in range(repeats):  # timed apart from the memory meter, whose page trimming would slow every call
        for method, row in zip(METHODS, rows):
            if row["reached"]:
                row["times_s"].append(meter.time(lambda: method.run(case, row["setting"])))
    ours = statistics.median(rows[0]["times_s"]) if rows[0]["reached"] else float("nan")
    for row in rows:
        row["time_s"] = statistics.median(row["times_s"]) if row["reached"] else float("nan")
        row.setdefault("peak_mib", float("nan"))
        row["ratio_to_sgdlab"] = row["time_s"] / ours
    return rows


BATCHED = f"graph reuse, {K} batched (per vector)"


def hvp_cost_table(case: Case, rounds: int) -> dict[str, Any]:
    """Median over interleaved rounds of each product's time divided by one gradient's; the batched
    products (``is_grads_batched``) per vector, to show whether block methods could use them."""
    model, x, y = case.model, case.x, case.y
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    v = torch.randn(sum(p.numel() for p in params), generator=torch.Generator().manual_seed(4)).to(x)
    tangents = dict(zip(names, (t.view_as(p) for t, p in zip(v.split([p.numel() for p in params]), params))))
    detached = {n: p.detach() for n, p in zip(names, params)}
    block = torch.randn(K, len(v), generator=torch.Generator().manual_seed(5)).to(x)

    def loss_of(weights: dict[str, Tensor]) -> Tensor:
        return F.cross_entropy(torch.func.functional_call(model, weights, (x,)), y)

    grad_of = torch.func.grad(loss_of)
    with curvature.hessian(model, case.batches) as reuse, curvature.hessian(model, case.batches,
                                                                             reuse_graph=False) as recompute:
        ops = {
            "gradient": lambda: torch.autograd.grad(F.cross_entropy(model(x), y), params),
            "graph reuse": lambda: reuse.matvec(v),
            "double backward": lambda: recompute.matvec(v),
            "forward-over-reverse": lambda: torch.func.jvp(grad_of, (detached,), (tangents,)),
            BATCHED: lambda: torch.autograd.grad(reuse._grad, reuse.params, grad_outputs=block, retain_graph=True,
                                                 is_grads_batched=True),
        }
        times: dict[str, list[float]] = {name: [] for name in ops}
        for _ in range(rounds + 1):  # the first round warms up
            for name, op in ops.items():
                times[name].append(timed(op, x.device) / (K if name == BATCHED else 1))
    ratios = {name: statistics.median(t / g for t, g in zip(times[name][1:], times["gradient"][1:]))
              for name in ops if name != "gradient"}
    single = {name: r for name, r in ratios.items() if name != BATCHED}
    return {"case": case.name, "gradient_ms": 1e3 * statistics.median(times["gradient"][1:]),
            "ratio_to_gradient": ratios, "cheapest": min(single, key=single.get)}


def _layer_prefixes(model: nn.Module) -> tuple[str, str]:
    """The module names of the first and the last layer holding parameters (``"0"``, ``"4"`` ...)."""
    names = [name.rsplit(".", 1)[0] for name, p in model.named_parameters() if p.requires_grad]
    return names[0], names[-1]


def block_cost_table(case: Case, rounds: int) -> dict[str, Any]:
    """Median over interleaved rounds of one product's time, per operator, divided by one product of the
    full Hessian (graph reuse for all); each operator's size in parameters."""
    first, last = _layer_prefixes(case.model)
    generator = torch.Generator().manual_seed(6)
    with contextlib.ExitStack() as stack:
        ops = {"full Hessian": stack.enter_context(curvature.hessian(case.model, case.batches)),
               f"block: first layer ({first}.*)": stack.enter_context(
                   curvature.hessian(case.model, case.batches, params=f"{first}.*")),
               f"block: last layer ({last}.*)": stack.enter_context(
                   curvature.hessian(case.model, case.batches, params=f"{last}.*")),
               "Gauss-Newton (GGN)": stack.enter_context(curvature.gauss_newton(case.model, case.batches))}
        vectors = {name: torch.randn(op.dim, generator=generator).to(case.x) for name, op in ops.items()}
        times: dict[str, list[float]] = {name: [] for name in ops}
        for _ in range(rounds + 1):  # the first round warms up
            for name, op in ops.items():
                times[name].append(timed(lambda op=op, v=vectors[name]: op.matvec(v), case.x.device))
    full = times["full Hessian"][1:]
    return {"case": case.name, "full_ms": 1e3 * statistics.median(full),
            "rows": [{"operator": name, "parameters": ops[name].dim, "ms": 1e3 * statistics.median(t[1:]),
                      "ratio_to_full": statistics.median(a / b for a, b in zip(t[1:], full))}
                     for name, t in times.items()]}


@dataclass
class Trajectory:
    """Flat parameters of a plain-SGD run after every ``measure_every`` epochs, and their float64
    top-k reference eigenvalues on the run's Hessian subset."""

    name: str
    config: RunConfig
    model: nn.Module
    batches: list[tuple[Tensor, Tensor]]
    snapshots: list[Tensor] = field(default_factory=list)
    references: list[np.ndarray] = field(default_factory=list)


TRAJECTORIES = {
    "RunConfig defaults": RunConfig(),
    "quick profile (lr 0.2, 20 epochs)": RunConfig(lr=0.2, epochs=20, hessian_size=1000),
    "cnn, quick profile (lr 0.2, 20 epochs)": RunConfig(model="cnn", lr=0.2, epochs=20, hessian_size=1000),
}


def record_trajectory(name: str, config: RunConfig, device: torch.device) -> Trajectory:
    """Train ``config.model`` on ``config.dataset`` with plain SGD (constant lr and batch size,
    batches drawn without replacement from seeded permutations) and keep the parameters at every
    measurement; the Hessian subset is drawn as a run draws it."""
    ds = sgdlab.task.data.load(config.dataset)
    model = models.build(config.model, ds.input_shape, ds.num_classes, seed=config.seed).to(device)
    x, y = ds.x_train.to(device), ds.y_train.to(device)
    subset = torch.randperm(len(y), generator=torch.Generator().manual_seed(config.seed + 1))[: config.hessian_size]
    traj = Trajectory(name, config, model, [(x[subset], y[subset])])
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    steps_per_epoch = -(-len(y) // config.batch_size)
    every = max(1, round(config.measure_every * steps_per_epoch))
    order = torch.empty(0, dtype=torch.long)
    for step in range(round(config.epochs * steps_per_epoch) + 1):
        if step % every == 0:
            traj.snapshots.append(parameters_to_vector(model.parameters()).detach().clone())
        while len(order) < config.batch_size:
            order = torch.cat([order, torch.randperm(len(y), generator=generator)])
        idx, order = order[: config.batch_size].to(device), order[config.batch_size :]
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
    model64 = copy.deepcopy(model).double()
    batches64 = [(x[subset].double(), y[subset])]
    for snapshot in traj.snapshots:
        vector_to_parameters(snapshot.double(), model64.parameters())
        with curvature.hessian(model64, batches64) as H:
            eig = curvature.top_eigen(H, k=config.top_k, tol=REPLAY_REFERENCE_TOL, max_iter=1000, seed=config.seed)
        if not eig.converged:
            raise RuntimeError(f"{name}: a float64 reference did not converge")
        traj.references.append(eig.values.cpu().numpy())
    return traj


WARM_STARTS = {"cold (no warm start)": None, "sum of previous vectors": "lanczos", "subspace tracking": "subspace"}


def replay_tracking(traj: Trajectory) -> list[dict[str, Any]]:
    """Measure top-k at every snapshot, each way of warm-starting from its own previous measurement,
    at the run's ``eigen_tol``; products per measurement (the first, always cold, left out), the
    largest relative eigenvalue error against the reference, and the total time."""
    config, rows = traj.config, []
    device = traj.snapshots[0].device
    for label, method in WARM_STARTS.items():
        previous, products, errors, seconds, converged, stale = None, [], [], 0.0, True, []
        for snapshot, reference in zip(traj.snapshots, traj.references):
            vector_to_parameters(snapshot, traj.model.parameters())
            warm = None if method is None or previous is None else previous.vectors
            if warm is not None:
                stale.append(stale_residual_ratio(traj, warm))

            def measure() -> None:
                nonlocal previous
                with curvature.hessian(traj.model, traj.batches) as H:
                    previous = curvature.top_eigen(H, k=config.top_k, tol=config.eigen_tol, warm_start=warm,
                                                   warm_method=method or "lanczos", seed=config.seed)

            seconds += timed(measure, device)
            products.append(previous.n_products)
            errors.append(relative_error(previous.values.cpu().numpy(), reference))
            converged &= previous.converged
        rows.append({"trajectory": traj.name, "warm_start": label, "lr": config.lr, "epochs": config.epochs,
                     "measurements": len(products), "eigen_tol": config.eigen_tol,
                     "products_per_measurement": statistics.mean(products[1:]), "max_error": max(errors),
                     "all_converged": converged, "time_s": seconds, "products": products,
                     "stale_ratio_median": statistics.median(stale) if stale else float("nan")})
    return rows


def stale_residual_ratio(traj: Trajectory, warm: Tensor) -> float:
    """The largest Ritz residual of Rayleigh–Ritz on the previous vectors alone (their k products,
    the least any warm start can spend) at the new parameters, in units of the tolerance."""
    with curvature.hessian(traj.model, traj.batches) as H:
        eig = curvature.top_eigen(H, k=traj.config.top_k, tol=1e30, warm_start=warm, warm_method="subspace")
    return float(eig.residuals.max() / (traj.config.eigen_tol * eig.values.abs().max()))


def sync_check(case: Case, steps: int = 10) -> dict[str, Any]:
    """Host synchronisations in ``steps`` Lanczos steps between two convergence checks, counted by
    ``torch.cuda.set_sync_debug_mode("warn")`` (one warning per synchronisation in a product or the
    reorthogonalisation)."""
    with curvature.hessian(case.model, case.batches) as H:
        generator = torch.Generator(device=H.device).manual_seed(0)
        v0 = torch.randn(H.dim, generator=generator, device=H.device, dtype=H.dtype)
        krylov = Krylov(H, v0, 2 * steps, generator)
        krylov.step()  # first use: lazy initialisation may synchronise
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for _ in range(steps):
                    krylov.step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    syncs = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
    return {"case": case.name, "steps": steps, "syncs_per_step": len(syncs) / steps,
            "synchronisation_free": not syncs, "error": syncs[0] if syncs else None}


TRACKING_MODELS = ("mlp", "cnn")
TRACKING_VARIANTS = {"quick profile": {}, "Hessian on 256 examples": {"hessian_size": 256}}


def tracking_overhead(device: str, epochs: int, repeats: int) -> list[dict[str, Any]]:
    """Quick-profile training (MNIST-1D, η=0.2, S=128, losses every epoch) of each model in
    ``TRACKING_MODELS`` with and without λ₁…λ₅ every epoch, as configured and with the Hessian on
    fewer examples; interleaved repeats."""
    configs: dict[tuple[str, str], RunConfig] = {}
    for model in TRACKING_MODELS:
        base = RunConfig(dataset="mnist1d", model=model, lr=0.2, batch_size=128, epochs=epochs, measure_every=1.0,
                         hessian_size=1000, top_k=K, seed=0, device=device)
        configs[model, "bare"] = dataclasses.replace(base, probes=("losses",))
        configs |= {(model, name): dataclasses.replace(base, **changes) for name, changes in TRACKING_VARIANTS.items()}
    times: dict[tuple[str, str], list[float]] = {key: [] for key in configs}
    products: dict[tuple[str, str], float] = {}
    for _ in range(repeats):
        for key, config in configs.items():
            ds = train_uncached(config, progress=False)
            times[key].append(float(ds.attrs["wall_time_s"]))
            if "hvp_count" in ds:
                products[key] = float(ds["hvp_count"].mean())
    rows = []
    for model, name in ((m, n) for m in TRACKING_MODELS for n in TRACKING_VARIANTS):
        bare, tracked = statistics.median(times[model, "bare"]), statistics.median(times[model, name])
        config = configs[model, name]
        rows.append({"model": model, "variant": name, "epochs": epochs, "hessian_size": config.hessian_size,
                     "eigen_tol": config.eigen_tol, "bare_s": bare, "tracked_s": tracked,
                     "overhead": tracked / bare - 1, "products_per_measurement": products[model, name],
                     "times_s": times[model, name], "bare_times_s": times[model, "bare"]})
    return rows


# --------------------------------------------------------------------------------------------- report


def machine(device: torch.device, threads: int) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": {name: installed(name) for name in ("torch", "scipy", "PyHessian", "hessian-eigenthings",
                                                            "curvlinops-for-pytorch")}}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _target(target: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": met}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the sections that ran, with its measured value and whether it is met."""
    rows = []
    for case in report.get("cases", []):
        table = [r for r in report["top_eigen"] if r["case"] == case["name"]]
        ours = next(r for r in table if r["method"] == "sgdlab")
        peers = [r for r in table if not r["method"].startswith("sgdlab") and r["reached"]]
        fastest = min(peers, key=lambda r: r["time_s"], default=None)
        ratio = fastest["time_s"] / ours["time_s"] if fastest and ours["reached"] else float("nan")
        rows.append(_target(f"{case['name']}: cold top-{K} at <= {TARGET_ERROR:g}, fastest peer's time / ours "
                            f">= {TARGETS['peer_ratio']}", f"{ratio:.2f} ({fastest['method'] if fastest else '-'})",
                            ratio >= TARGETS["peer_ratio"]))
    for row in report.get("hvp_cost", []):
        cheapest = row["cheapest"]
        ratio = row["ratio_to_gradient"][cheapest]
        rows.append(_target(f"{row['case']}: one HVP (cheapest backend) <= {TARGETS['hvp_ratio']:g} gradients",
                            f"{ratio:.2f} ({cheapest})", ratio <= TARGETS["hvp_ratio"]))
    for row in report.get("replay", []):
        if row["warm_start"] == "cold (no warm start)":
            continue
        name = f"{row['trajectory']}, {row['warm_start']}"
        rows.append(_target(f"{name}: <= {TARGETS['products_per_measurement']:g} HVPs per measurement",
                            f"{row['products_per_measurement']:.1f}",
                            row["products_per_measurement"] <= TARGETS["products_per_measurement"]))
        rows.append(_target(f"{name}: max rel. error <= {TARGETS['replay_error']:g} at every measurement",
                            f"{row['max_error']:.1e}", row["max_error"] <= TARGETS["replay_error"]))
    for row in report.get("tracking", [])[:1]:  # the MLP's quick profile, on which the target was set
        limit = OVERHEAD_BEFORE * TARGETS["overhead_fraction_of_before"]
        rows.append(_target(f"{row['model']}, {row['variant']}: tracking overhead <= {100 * limit:.0f}% (a third of "
                            f"{100 * OVERHEAD_BEFORE:.0f}%)", f"{100 * row['overhead']:.0f}%",
                            row["overhead"] <= limit))
    for row in report.get("sync_check", []):
        rows.append(_target(f"{row['case']}: no host synchronisation between convergence checks",
                            f"{row['syncs_per_step']:g} per step" + (f" ({row['error']})" if row["error"] else ""),
                            row["synchronisation_free"]))
    return rows


def _markdown(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + ["| " + " | ".join(r) + " |" for r in rows]


def format_tables(report: dict[str, Any]) -> str:
    lines: list[str] = []
    if "top_eigen" in report:
        lines += [f"## Top-{K} eigenvalues, relative error <= {TARGET_ERROR:g} (median of {report['repeats']} runs)",
                  "", "| case | method | HVP | best setting | time (s) | HVPs | rel. error | peak mem (MiB) | "
                  "time / sgdlab |", "|---|---|---|---|---:|---:|---:|---:|---:|"]
        for row in report["top_eigen"]:
            if row["reached"]:
                lines.append(f"| {row['case']} | {row['method']} | {row['product']} | {row['setting_name']}="
                             f"{_setting(row['setting'])} | {row['time_s']:.3f} | {row['products']} | "
                             f"{row['error']:.1e} | {row['peak_mib']:.0f} | {row['ratio_to_sgdlab']:.2f} |")
            elif not row.get("installed", True):
                lines.append(f"| {row['case']} | {row['method']} | {row['product']} | not installed (pip install "
                             "-e .[bench]) | – | – | – | – | – |")
            else:
                lines.append(f"| {row['case']} | {row['method']} | {row['product']} | not reached (best "
                             f"{row['error']:.1e} at {row['setting_name']}={_setting(row['setting'])}) | – | "
                             f"{row['products']} | – | – | – |")
        lines.append("")
    if "hvp_cost" in report:
        lines += ["## One Hessian-vector product / one gradient (median of interleaved rounds)", ""]
        lines += _markdown(["case", "gradient (ms)", "graph reuse", "double backward", "forward-over-reverse",
                            BATCHED, "cheapest (single)"],
                           [[r["case"], f"{r['gradient_ms']:.1f}"] + [f"{r['ratio_to_gradient'][b]:.2f}" for b in
                            ("graph reuse", "double backward", "forward-over-reverse", BATCHED)] + [r["cheapest"]]
                            for r in report["hvp_cost"]], right_from=1) + [""]
    if "replay" in report:
        lines += [f"## Tracking λ1…λ{K} along replayed trajectories (MNIST-1D, plain SGD, a measurement every "
                  f"epoch, reference: float64 cold Lanczos at tol {REPLAY_REFERENCE_TOL:g})", ""]
        lines += _markdown(["trajectory", "warm start", "lr", "measurements", "eigen_tol", "HVPs per measurement",
                            "max rel. error", "all converged", "time (s)", "stale residual / tol (median)"],
                           [[r["trajectory"], r["warm_start"], f"{r['lr']:g}", str(r["measurements"]),
                             f"{r['eigen_tol']:g}", f"{r['products_per_measurement']:.1f}", f"{r['max_error']:.1e}",
                             "yes" if r["all_converged"] else "no", f"{r['time_s']:.2f}",
                             f"{r['stale_ratio_median']:.0f}"] for r in report["replay"]],
                           right_from=2) + [""]
    if "tracking" in report:
        lines += [f"## Tracking λ1…λ{K} every epoch, quick profile (MNIST-1D, median of {report['repeats']} "
                  "runs)", "", "| model | variant | Hessian examples | eigen_tol | epochs | bare training (s) | with "
                  "tracking (s) | overhead | HVPs per measurement |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for t in report["tracking"]:
            lines.append(f"| {t['model']} | {t['variant']} | {t['hessian_size']} | {t['eigen_tol']:g} | "
                         f"{t['epochs']} | {t['bare_s']:.2f} | {t['tracked_s']:.2f} | {100 * t['overhead']:.0f}% | "
                         f"{t['products_per_measurement']:.1f} |")
        lines.append("")
    if "blocks" in report:
        lines += [f"## One product of a block's Hessian and of the Gauss–Newton matrix / one product of the full "
                  f"Hessian (graph reuse, median of {5 * report['repeats']} interleaved rounds)", ""]
        lines += _markdown(["case", "operator", "parameters", "time per product (ms)", "/ full Hessian product"],
                           [[t["case"], r["operator"], f"{r['parameters']:,}", f"{r['ms']:.2f}",
                             f"{r['ratio_to_full']:.2f}"] for t in report["blocks"] for r in t["rows"]],
                           right_from=2) + [""]
    lines += ["## Targets", ""]
    lines += _markdown(["target", "measured", "met"], [[t["target"], t["measured"], "met" if t["met"] else "not met"]
                                                       for t in report["targets"]], right_from=3)
    return "\n".join(lines)


def _setting(setting: Any) -> str:
    if isinstance(setting, tuple):
        return "(" + ", ".join(_setting(s) for s in setting) + ")"
    return f"{setting:.0e}" if isinstance(setting, float) else str(setting)


def case_sections(report: dict[str, Any], sections: list[str], args: argparse.Namespace,
                  device: torch.device) -> None:
    """The sections on the cases (top-k, products, blocks; on CUDA the synchronisation count), into ``report``."""
    gpu = device.type == "cuda"
    cases = make_cases(device, args.cnn_images or (2560 if gpu else 32), args.bn_images or (2560 if gpu else 16),
                       args.cases)
    if gpu:
        report["sync_check"] = [sync_check(case) for case in cases]
    if "top_eigen" in sections:
        report["cases"], report["top_eigen"] = [], []
        meter = Meter(device)
        for case in cases:
            prepare(case)
            print(f"{case.name}: {case.description}; {case.n_params:,} parameters; reference "
                  f"{np.array2string(case.reference, precision=5)} ({case.reference_products} float64 products)",
                  flush=True)
            report["cases"].append({"name": case.name, "description": case.description,
                                    "parameters": case.n_params, "reference": case.reference.tolist(),
                                    "reference_products": case.reference_products})
            report["top_eigen"] += top_eigen_table(case, meter, args.repeats)
    if "hvp_cost" in sections:
        report["hvp_cost"] = []
        for case in cases:
            log(f"products: {case.name}")
            report["hvp_cost"].append(hvp_cost_table(case, rounds=5 * args.repeats))
    if "blocks" in sections:
        report["blocks"] = []
        for case in cases:
            log(f"blocks: {case.name}")
            report["blocks"].append(block_cost_table(case, rounds=5 * args.repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to run")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES),
                        help="cases of the top-k and product sections")
    parser.add_argument("--cnn-images", type=int, help="SimpleCNN case size (default: 32 on CPU, 2560 on GPU)")
    parser.add_argument("--bn-images", type=int, help="ResNet-32-BN case size (default: 16 on CPU, 2560 on GPU)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the tracking-overhead runs")
    parser.add_argument("--out", type=Path, help="JSON output (default: benchmarks/results/<device>[-<sections>].json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    sections = [name for name in SECTIONS if name in args.sections]
    suffix = "" if len(sections) == len(SECTIONS) else "-" + "+".join(sections)
    out = args.out or Path(__file__).parent / "results" / f"{device.type}{suffix}.json"

    report: dict[str, Any] = {"command": "python benchmarks/curvature.py " + " ".join(sys.argv[1:]),
                              "machine": machine(device, args.threads), "repeats": args.repeats}
    if {"top_eigen", "hvp_cost", "blocks"} & set(sections):
        case_sections(report, sections, args, device)
    if "replay" in sections:
        report["replay"] = []
        for name, config in TRAJECTORIES.items():
            log(f"replay: {name}")
            config = dataclasses.replace(config, device=args.device)
            report["replay"] += replay_tracking(record_trajectory(name, config, device))
    if "tracking" in sections:
        report["tracking"] = tracking_overhead(args.device, args.epochs, args.repeats)
    report["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    report["targets"] = targets(report)
    table = format_tables(report)
    print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report | {"table": table}, indent=1, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()
