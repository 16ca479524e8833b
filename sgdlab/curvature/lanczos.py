"""Top eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.

Ritz-residual stopping, breakdown repair, and warm starts from earlier eigenvectors (a Lanczos run
from their sum, or subspace tracking: Rayleigh–Ritz on the previous basis, then corrections), so that
tracking λ₁…λ_k along training costs few products per measurement.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from sgdlab.curvature.krylov import Krylov, generator_for, random_vector
from sgdlab.curvature.operators import LinearOperator


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


WARM_METHODS = ("lanczos", "subspace")
LARGE_K = 1000  # beyond this many eigenpairs top_eigen warns of its cost


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
    krylov = Krylov(op, v0, max_iter, generator)
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
        space.add(random_vector(op, generator)[None])
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
                space.add(random_vector(op, generator)[None])
        if converged or space.size == before:
            return Eigen(theta[top], X.T, residuals, space.products, converged)


def _check_k_and_tol(op: LinearOperator, k: int, tol: float) -> None:
    """ValueError naming ``k`` or ``tol`` when out of range; a warning when ``k`` is in the thousands."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= op.dim:
        raise ValueError(f"k must be between 1 and the number of parameters ({op.dim}), got {k}")
    if isinstance(tol, bool) or not (isinstance(tol, numbers.Real) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if k > LARGE_K:
        warnings.warn(f"k={k}: Lanczos keeps at least k vectors, reorthogonalises each new one against all of "
                      "them and solves a tridiagonal eigenproblem of their size at each check, so its cost grows "
                      "as about k⁴ beyond the k products: thousands of eigenpairs take hours on a CPU. Ask for fewer "
                      "eigenpairs, or use spectral_density for the bulk of the spectrum", stacklevel=3)


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
    (``n_products`` counts both). Along MNIST-1D training the subspace path needs more products than
    the sum (see ``benchmarks/README.md``), hence the default. A warm basis spanning an invariant
    subspace orthogonal to the top eigenvectors passes the residual test with wrong eigenpairs: no
    residual test can tell, so pass vectors measured on a nearby operator.
    """
    _check_k_and_tol(op, k, tol)
    if check_every is None:
        check_every = 1 if op.device.type == "cpu" else 5
    if check_every < 1:
        raise ValueError(f"check_every must be a positive integer, got {check_every}")
    if warm_method not in WARM_METHODS:
        raise ValueError(f"warm_method {warm_method!r} is unknown; choose one of: {', '.join(WARM_METHODS)}")
    max_iter = min(max(max_iter, k), op.dim)
    generator = generator_for(op, seed)
    if warm_start is None:
        return _lanczos(op, k, tol, max_iter, random_vector(op, generator), check_every, generator)
    warm = _check_warm_start(op, warm_start)
    if warm_method == "lanczos":
        return _lanczos(op, k, tol, max_iter, warm.sum(dim=1), check_every, generator)
    tracked = _track(op, k, tol, min(max_iter, tracking_budget(k)), warm, generator)
    if tracked.converged or tracked.n_products >= max_iter:
        return tracked
    cold = _lanczos(op, k, tol, max(k, max_iter - tracked.n_products), random_vector(op, generator), check_every,
                    generator)
    return dataclasses.replace(cold, n_products=tracked.n_products + cold.n_products)
