"""The Hessian engine: Hessian-vector products over fixed batches, Lanczos, trace and spectral density.

The Hessian is that of the *mean* loss over a fixed set of batches (each batch weighted by its
size), with respect to every trainable parameter, as a linear operator on flat vectors.

Mode policy (``bn_mode``): dropout is always off, because a random mask does not define one
operator. ``"eval"`` (the default, as in the paper) uses BatchNorm's running statistics;
``"batch"`` uses each batch's own statistics, as training does. Either way the model's training
flags and every buffer are restored exactly when the operator is closed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
BN_MODES = ("eval", "batch")


class LinearOperator(Protocol):
    """A symmetric linear map on flat vectors of length ``dim``."""

    dim: int
    dtype: torch.dtype
    device: torch.device

    def matvec(self, v: Tensor) -> Tensor: ...


@dataclass
class MatrixOperator:
    """A dense symmetric matrix as a :class:`LinearOperator` (tests, small models)."""

    matrix: Tensor
    n_products: int = 0

    @property
    def dim(self) -> int:
        return self.matrix.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def matvec(self, v: Tensor) -> Tensor:
        self.n_products += 1
        return self.matrix @ v


class HessianOperator:
    """Hessian-vector products of the mean loss over ``batches``; build it with :func:`hessian`.

    With ``reuse_graph`` the gradient's graph of every batch is built once and each product is a
    single backward pass through it (about 1.5 gradients); otherwise every product recomputes one
    batch at a time (double backward), holding a single batch's graph in memory.
    """

    def __init__(self, model: nn.Module, batches: Sequence[Batch], loss_fn: LossFn, reuse_graph: bool):
        self.model = model
        self.batches = list(batches)
        self.loss_fn = loss_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.dim = sum(p.numel() for p in self.params)
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self.n_products = 0
        total = sum(len(y) for _, y in self.batches)
        self._weights = [len(y) / total for _, y in self.batches]
        self._grad = self._gradient(create_graph=True) if reuse_graph else None

    def _batch_gradient(self, batch: Batch, weight: float, create_graph: bool) -> Tensor:
        x, y = batch
        loss = self.loss_fn(self.model(x), y) * weight
        grads = torch.autograd.grad(loss, self.params, create_graph=create_graph)
        return torch.cat([g.reshape(-1) for g in grads])

    def _gradient(self, create_graph: bool = False) -> Tensor:
        return sum(self._batch_gradient(b, w, create_graph) for b, w in zip(self.batches, self._weights))

    def gradient(self) -> Tensor:
        """The flat gradient of the mean loss, shape ``(dim,)``."""
        if self._grad is not None:
            return self._grad.detach().clone()
        return self._gradient().detach()

    def matvec(self, v: Tensor) -> Tensor:
        """``H @ v`` for a flat vector ``v`` of shape ``(dim,)``."""
        self.n_products += 1
        if self._grad is not None:
            hv = torch.autograd.grad(self._grad, self.params, grad_outputs=v, retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv])
        out = torch.zeros_like(v)
        for batch, weight in zip(self.batches, self._weights):
            g = self._batch_gradient(batch, weight, create_graph=True)
            hv = torch.autograd.grad(g, self.params, grad_outputs=v)
            out += torch.cat([h.reshape(-1) for h in hv])
        return out

    def close(self) -> None:
        """Free the retained graph."""
        self._grad = None


@contextmanager
def curvature_mode(model: nn.Module, bn_mode: str = "eval") -> Iterator[nn.Module]:
    """Put ``model`` in the curvature mode policy; restore its training flags and buffers on exit."""
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode {bn_mode!r} is unknown; choose one of: {', '.join(BN_MODES)}")
    flags = [(m, m.training) for m in model.modules()]
    saved = [b.detach().clone() for b in model.buffers()]
    model.eval()
    if bn_mode == "batch":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)


@contextmanager
def hessian(
    model: nn.Module,
    batches: Sequence[Batch],
    loss_fn: LossFn = F.cross_entropy,
    *,
    reuse_graph: bool = True,
    bn_mode: str = "eval",
) -> Iterator[HessianOperator]:
    """The Hessian of the mean ``loss_fn`` over ``batches`` at the model's current parameters.

    Use as ``with hessian(model, batches) as H: top_eigen(H, k=5)``. Parameters must not change
    inside the block. On exit the model's mode and buffers are exactly as before.
    """
    if not batches:
        raise ValueError("batches is empty; pass at least one (inputs, targets) batch")
    with curvature_mode(model, bn_mode):
        op = HessianOperator(model, batches, loss_fn, reuse_graph)
        try:
            yield op
        finally:
            op.close()


def as_batches(x: Tensor, y: Tensor, batch_size: int) -> list[Batch]:
    """Split ``(x, y)`` into consecutive batches of at most ``batch_size`` examples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(y), batch_size)]


@dataclass(frozen=True)
class Eigen:
    """Top eigenpairs from :func:`top_eigen`.

    values: ``(k,)``, largest first; vectors: ``(dim, k)`` orthonormal columns; residuals:
    ``(k,)`` Ritz estimates of ``|H v - λ v|``; n_products: Hessian-vector products used;
    converged: whether every residual met the tolerance.
    """

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    n_products: int
    converged: bool


class _Krylov:
    """Lanczos vectors with full reorthogonalisation, stored as contiguous rows and grown in blocks."""

    def __init__(self, op: LinearOperator, v0: Tensor, max_iter: int, generator: torch.Generator):
        self.op = op
        self.max_iter = max_iter
        self.generator = generator
        self.Q = torch.empty(min(max_iter + 1, 64), op.dim, dtype=op.dtype, device=op.device)
        self.Q[0] = v0 / v0.norm()
        self.alphas: list[Tensor] = []
        self.betas: list[Tensor] = []
        self.restarts: set[int] = set()  # columns started afresh after a breakdown (their beta is 0)

    @property
    def size(self) -> int:
        return len(self.alphas)

    def _orthogonalise(self, w: Tensor, j: int) -> Tensor:
        basis = self.Q[:j]
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            w = w - basis.T @ (basis @ w)
        return w

    def step(self) -> None:
        """One Lanczos step; stays on the device (no host synchronisation)."""
        j = self.size
        q = self.Q[j]
        w = self.op.matvec(q)
        self.alphas.append(q @ w)
        w = self._orthogonalise(w, j + 1)
        beta = w.norm()
        self.betas.append(beta)
        if j + 1 >= self.Q.shape[0]:
            grown = min(2 * self.Q.shape[0], self.max_iter + 1)
            self.Q = torch.cat([self.Q, torch.empty_like(self.Q[: grown - self.Q.shape[0]])])
        self.Q[j + 1] = w / beta.clamp_min(torch.finfo(w.dtype).tiny)

    def repair(self) -> bool:
        """After a breakdown (a ``beta`` at rounding level, zero included: the basis spans an invariant
        subspace), restart there from a random orthogonal vector and drop the steps that followed;
        returns whether it did."""
        betas = torch.stack(self.betas).abs()
        scale = torch.cat([torch.stack(self.alphas).abs(), betas]).max()
        rounding = 100 * torch.finfo(betas.dtype).eps * scale
        broken = [i + 1 for i in torch.nonzero(betas <= rounding).flatten().tolist()]
        broken = [j for j in broken if j not in self.restarts]
        if not broken:
            return False
        j = broken[0]
        self.restarts = {r for r in self.restarts if r < j} | {j}
        v = torch.randn(self.op.dim, generator=self.generator, dtype=self.op.dtype, device=self.op.device)
        v = self._orthogonalise(v, j)
        self.Q[j] = v / v.norm()
        self.betas[j - 1] = torch.zeros_like(self.betas[j - 1])
        del self.alphas[j:], self.betas[j:]
        return True

    def run(self, n: int) -> None:
        """Step until the basis holds ``n`` vectors, repairing breakdowns; after a breakdown at the
        end, step once more, since an invariant subspace's zero residuals say nothing of the rest."""
        while self.size < n:
            self.step()
            if self.size == n and self.repair():
                n = min(max(n, self.size + 1), self.max_iter)

    def ritz(self) -> tuple[Tensor, Tensor, Tensor]:
        """Ritz values (ascending), their eigenvectors in the Krylov basis, and residual estimates."""
        m = self.size
        alphas, betas = torch.stack(self.alphas), torch.stack(self.betas)
        T = torch.diag(alphas) + torch.diag(betas[:-1], 1) + torch.diag(betas[:-1], -1)
        theta, S = torch.linalg.eigh(T)
        return theta, S, (betas[m - 1] * S[m - 1]).abs()


def _random_vector(op: LinearOperator, generator: torch.Generator) -> Tensor:
    return torch.randn(op.dim, generator=generator, dtype=op.dtype, device=op.device)


def _generator(op: LinearOperator, seed: int) -> torch.Generator:
    return torch.Generator(device=op.device).manual_seed(seed)


WARM_METHODS = ("lanczos", "subspace")


def _check_warm_start(op: LinearOperator, warm_start: Tensor) -> Tensor:
    """``warm_start`` as a ``(dim, m)`` matrix, or a ValueError naming what is wrong with it."""
    if not isinstance(warm_start, Tensor):
        raise ValueError(f"warm_start must be a tensor of shape ({op.dim}, m), got {type(warm_start).__name__}")
    if warm_start.ndim not in (1, 2) or warm_start.shape[0] != op.dim or warm_start.numel() == 0:
        raise ValueError(f"warm_start must have {op.dim} rows (shape ({op.dim},) or ({op.dim}, m) with m >= 1), "
                         f"got shape {tuple(warm_start.shape)}")
    if warm_start.dtype != op.dtype:
        raise ValueError(f"warm_start has dtype {warm_start.dtype}, the operator's is {op.dtype}")
    if warm_start.device != op.device:
        raise ValueError(f"warm_start is on device {warm_start.device}, the operator on {op.device}")
    if not bool(torch.isfinite(warm_start).all()):
        raise ValueError("warm_start has non-finite entries (nan or inf)")
    return warm_start.reshape(op.dim, -1)


def _top_indices(n: int, k: int, device: torch.device) -> Tensor:
    return torch.arange(n - 1, n - 1 - k, -1, device=device)


def _lanczos(op: LinearOperator, k: int, tol: float, max_iter: int, v0: Tensor, check_every: int,
             generator: torch.Generator) -> Eigen:
    """Lanczos from ``v0`` until the top-``k`` Ritz residuals meet ``tol`` or ``max_iter`` products."""
    krylov = _Krylov(op, v0, max_iter, generator)
    while True:
        krylov.run(min(max_iter, max(k, krylov.size + check_every - krylov.size % check_every)))
        theta, S, residuals = krylov.ritz()
        top = _top_indices(len(theta), k, theta.device)
        converged = bool((residuals[top] <= tol * theta.abs().max()).all())
        if converged or krylov.size == max_iter:
            break
    m = krylov.size
    vectors = krylov.Q[:m].T @ S[:, top]
    return Eigen(theta[top], vectors, residuals[top], m, converged)


class _Subspace:
    """An orthonormal basis (rows of ``V``, at most ``capacity``) with its products (rows of
    ``W = V Hᵀ``), projected by Rayleigh–Ritz; one product per new direction."""

    def __init__(self, op: LinearOperator, capacity: int):
        self.op = op
        self.V = torch.empty(capacity, op.dim, dtype=op.dtype, device=op.device)
        self.W = torch.empty_like(self.V)
        self.size = 0
        self.products = 0

    def add(self, vectors: Tensor) -> None:
        """Orthogonalise the rows of ``vectors`` against the basis (twice) and one another, and append
        with their products each one that keeps more than rounding level of its norm."""
        for v in vectors:
            basis = self.V[: self.size]
            norm = v.norm()
            for _ in range(2):  # twice is enough (Kahan-Parlett)
                v = v - basis.T @ (basis @ v)
            kept = v.norm()
            if kept <= 1e3 * torch.finfo(v.dtype).eps * norm:
                continue
            self.V[self.size] = v / kept
            self.W[self.size] = self.op.matvec(self.V[self.size])
            self.size += 1
            self.products += 1

    def ritz(self) -> tuple[Tensor, Tensor]:
        """Ritz values (ascending) and their eigenvectors in the basis, from the symmetrised projection."""
        G = self.V[: self.size] @ self.W[: self.size].T
        return torch.linalg.eigh((G + G.T) / 2)


def tracking_budget(k: int) -> int:
    """Products the subspace path of :func:`top_eigen` may spend before it restarts cold: about
    twice what a cold top-``k`` run needs at ``tol=1e-3`` on the MNIST-1D models."""
    return 4 * k + 10


def _track(op: LinearOperator, k: int, tol: float, budget: int, warm: Tensor,
           generator: torch.Generator) -> Eigen:
    """Top-``k`` eigenpairs by Rayleigh–Ritz on ``warm``'s columns and their products, continued by
    adding the residual of the worst Ritz pair (a block Krylov space grown one product at a time)
    until the residual test passes, the basis cannot grow, or ``budget`` products are spent."""
    space = _Subspace(op, capacity=min(op.dim, budget))
    space.add(warm.T[: space.V.shape[0]])
    while space.size < k:
        space.add(_random_vector(op, generator)[None])
    while True:
        theta, S = space.ritz()
        top = _top_indices(len(theta), k, theta.device)
        X, HX = S[:, top].T @ space.V[: space.size], S[:, top].T @ space.W[: space.size]
        R = HX - theta[top, None] * X
        residuals = R.norm(dim=1)
        ratio = residuals / (tol * theta.abs().max())
        worst = int(ratio.argmax())
        converged = float(ratio[worst]) <= 1
        before = space.size
        if not converged and before < space.V.shape[0]:
            space.add(R[worst][None])
            if space.size == before:  # the residual lies in the basis up to rounding: explore afresh
                space.add(_random_vector(op, generator)[None])
        if converged or space.size == before:
            return Eigen(theta[top], X.T, residuals, space.products, converged)


def top_eigen(
    op: LinearOperator,
    k: int = 5,
    *,
    tol: float = 1e-3,
    max_iter: int = 300,
    warm_start: Tensor | None = None,
    check_every: int | None = None,
    seed: int = 0,
    warm_method: str = "lanczos",
) -> Eigen:
    """The ``k`` largest (algebraic) eigenpairs of ``op``.

    Stops when every Ritz residual ``|H v - λ v|`` is at most ``tol`` times the largest Ritz value in
    magnitude, or after ``max_iter`` products. Without ``warm_start``: Lanczos with full
    reorthogonalisation from a random vector; convergence is checked every ``check_every`` steps,
    the only points where the device synchronises with the host: by default every step on the CPU
    (a check costs far less than a product there) and every 5 steps elsewhere.

    ``warm_start``, a ``(dim, m)`` matrix such as the previous measurement's ``vectors`` (same dtype
    and device as ``op``, finite), tracks a slowly moving top eigenspace. ``warm_method="lanczos"``
    (the default): Lanczos from the sum of its columns. ``warm_method="subspace"``: Rayleigh–Ritz on
    its columns and their ``m`` products, then one product per step on the residual of the worst
    Ritz pair, until the same residual test passes; when that has not happened within
    :func:`tracking_budget` products, the subspace has rotated away and Lanczos restarts cold
    (``n_products`` counts both).
    Along MNIST-1D training the subspace path needs more products than the sum (see
    ``benchmarks/README.md``), hence the default. A warm basis spanning an invariant subspace
    orthogonal to the top eigenvectors passes the residual test with wrong eigenpairs: no residual
    test can tell, so pass vectors measured on a nearby operator.
    """
    if not 1 <= k <= op.dim:
        raise ValueError(f"k must be between 1 and the number of parameters ({op.dim}), got {k}")
    if tol <= 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if check_every is None:
        check_every = 1 if op.device.type == "cpu" else 5
    if check_every < 1:
        raise ValueError(f"check_every must be a positive integer, got {check_every}")
    if warm_method not in WARM_METHODS:
        raise ValueError(f"warm_method {warm_method!r} is unknown; choose one of: {', '.join(WARM_METHODS)}")
    max_iter = min(max(max_iter, k), op.dim)
    generator = _generator(op, seed)
    if warm_start is None:
        return _lanczos(op, k, tol, max_iter, _random_vector(op, generator), check_every, generator)
    warm = _check_warm_start(op, warm_start)
    if warm_method == "lanczos":
        return _lanczos(op, k, tol, max_iter, warm.sum(dim=1), check_every, generator)
    tracked = _track(op, k, tol, min(max_iter, tracking_budget(k)), warm, generator)
    if tracked.converged or tracked.n_products >= max_iter:
        return tracked
    cold = _lanczos(op, k, tol, max(k, max_iter - tracked.n_products), _random_vector(op, generator), check_every,
                    generator)
    return dataclasses.replace(cold, n_products=tracked.n_products + cold.n_products)


def _rademacher(op: LinearOperator, generator: torch.Generator) -> Tensor:
    bits = torch.randint(0, 2, (op.dim,), generator=generator, device=op.device)
    return (2 * bits - 1).to(op.dtype)


def _mean_and_stderr(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def trace(op: LinearOperator, n_samples: int = 100, *, seed: int = 0) -> tuple[float, float]:
    """Hutchinson's estimate of ``tr(H)`` with Rademacher probes: ``(estimate, standard error)``."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    generator = _generator(op, seed)
    samples = []
    for _ in range(n_samples):
        v = _rademacher(op, generator)
        samples.append(float(v @ op.matvec(v)))
    return _mean_and_stderr(samples)


def frobenius_norm(op: LinearOperator, n_samples: int = 20, *, seed: int = 0) -> tuple[float, float]:
    """``|H|_F`` from Hutchinson's estimate of ``tr(H²) = E|Hv|²``: ``(estimate, standard error)``."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    generator = _generator(op, seed)
    samples = [float(op.matvec(_rademacher(op, generator)).square().sum()) for _ in range(n_samples)]
    mean_sq, stderr_sq = _mean_and_stderr(samples)
    norm = math.sqrt(max(mean_sq, 0.0))
    return norm, stderr_sq / (2 * norm) if norm > 0 else 0.0


@dataclass(frozen=True)
class SpectralDensity:
    """Stochastic Lanczos quadrature: per probe vector, Gauss nodes and weights (each row sums to 1)."""

    nodes: np.ndarray
    weights: np.ndarray

    def smooth(self, grid: np.ndarray, sigma: float) -> np.ndarray:
        """The density on ``grid``, each node broadened by a Gaussian of width ``sigma``."""
        diff = grid[:, None, None] - self.nodes[None]
        kernel = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return (kernel * self.weights[None]).sum(axis=(1, 2)) / len(self.nodes)


def spectral_density(op: LinearOperator, n_iter: int = 80, n_vectors: int = 5, *, seed: int = 0) -> SpectralDensity:
    """The eigenvalue density of ``op`` by stochastic Lanczos quadrature (Ghorbani et al. 2019)."""
    if n_iter < 2 or n_vectors < 1:
        raise ValueError(f"need n_iter >= 2 and n_vectors >= 1, got n_iter={n_iter}, n_vectors={n_vectors}")
    n_iter = min(n_iter, op.dim)
    generator = _generator(op, seed)
    nodes, weights = [], []
    for _ in range(n_vectors):
        krylov = _Krylov(op, _random_vector(op, generator), n_iter, generator)
        krylov.run(n_iter)
        theta, S, _ = krylov.ritz()
        nodes.append(theta.cpu().double().numpy())
        weights.append(S[0].square().cpu().double().numpy())
    return SpectralDensity(np.stack(nodes), np.stack(weights))
