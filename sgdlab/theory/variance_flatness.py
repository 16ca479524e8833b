"""The SGD trajectory of one layer's weights: its principal components, the flatness of the loss along
each, and the power law between the two (Feng & Tu, *The inverse variance–flatness relation in
stochastic gradient descent is critical for finding flat minima*, PNAS 118(9), 2021, arXiv:2001.01678).

The trace ``"weights"`` stores the weights of one parameter of the model (option ``layer``, e.g.
``"3.weight"``, the 50 × 50 middle layer of a 2 × 50 MLP) at each step of its schedule, typically a
window after the loss plateaus. Over that window:

- :func:`pca`: principal components pᵢ of the snapshots with variances σᵢ²;
- :func:`flatness`: the width Fᵢ of the loss profile L(w₀ + δ pᵢ) at the level ``factor``·L(w₀)
  (``factor = e`` in the paper), by bracketing and bisection on both sides of δ = 0;
- :func:`curvature`: the second difference hᵢ of that profile at the scale σᵢ (the local curvature);
- :func:`power_law_fit`: σᵢ² ∝ Fᵢ^(−ψ) by least squares in log–log, with a bootstrap interval
  (the paper finds ψ ≈ 4 for SGD; an equilibrium at fixed temperature gives σᵢ² ∝ Fᵢ², ψ = −2);
- :func:`analyse`: all of this for a run recorded with the trace and ``save_parameters=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sgdlab.core import checks, seeds


@dataclass(frozen=True)
class PCA:
    """Principal components of ``T`` snapshots of ``D`` numbers.

    ``mean`` (D,); ``components`` (k, D), orthonormal rows by decreasing variance; ``spectrum``: the
    variance along every principal axis (min(T, D) values, decreasing; sample variances, divisor T − 1);
    ``projections`` (T, k): each centred snapshot's coordinates on the k components.
    """

    mean: np.ndarray
    components: np.ndarray
    spectrum: np.ndarray
    projections: np.ndarray

    @property
    def variances(self) -> np.ndarray:
        """σᵢ², the variance along each of the k components."""
        return self.spectrum[:len(self.components)]

    def components_holding(self, fraction: float) -> int:
        """The fewest leading components whose variances add up to ``fraction`` of the total variance."""
        checks.number("fraction", fraction, positive=True, high=1)
        cumulative = np.cumsum(self.spectrum) / self.spectrum.sum()
        return int(np.searchsorted(cumulative, fraction - 1e-12) + 1)


def pca(snapshots: np.ndarray, n_components: int) -> PCA:
    """The first ``n_components`` principal components of ``snapshots`` (T, D), by SVD of the centred data.

    >>> rng = np.random.default_rng(0)
    >>> result = pca(rng.normal(size=(5000, 3)) * [3.0, 1.0, 0.1], 2)
    >>> np.round(result.variances)  # σ² = 9 and 1, within sampling error
    array([9., 1.])
    """
    x = np.asarray(snapshots, dtype=float)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"snapshots must be a (T, D) array with T ≥ 2, got shape {x.shape}")
    checks.integer("n_components", n_components, low=1)
    if n_components > min(x.shape):
        raise ValueError(f"n_components ({n_components}) must be at most the number of snapshots ({len(x)}) "
                         f"and of coordinates ({x.shape[1]})")
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    signs = np.sign(vt[:n_components].sum(axis=1) + (vt[:n_components].sum(axis=1) == 0))  # a fixed sign per axis
    components = vt[:n_components] * signs[:, None]
    return PCA(mean, components, s ** 2 / (len(x) - 1), (u[:, :n_components] * s[:n_components]) * signs)


def _crossing(profile: Callable[[float], float], level: float, step: float, rtol: float, max_doublings: int) -> float:
    """The smallest δ > 0 found where ``profile(δ) ≥ level``: doubling ``step`` until it is reached, then bisection."""
    low, high = 0.0, step
    for _ in range(max_doublings):
        if profile(high) >= level:
            break
        low, high = high, 2 * high
    else:
        raise ValueError(f"the loss profile stays below {level:g} up to δ = {high:g}: no finite width")
    while high - low > rtol * high:
        middle = (low + high) / 2
        if profile(middle) >= level:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def flatness(profile: Callable[[float], float], *, factor: float = math.e, step: float = 1.0, rtol: float = 1e-4,
             max_doublings: int = 60) -> float:
    """The width of the loss profile δ ↦ L(w₀ + δp) at the level ``factor``·L(w₀): δ₊ + δ₋, the first
    crossings of that level on each side of δ = 0 (bracketed from ``step`` by doubling, then bisected
    to relative precision ``rtol``).

    >>> abs(flatness(lambda d: 1.0 + 0.5 * 4.0 * d ** 2) - 2 * math.sqrt(2 * (math.e - 1) / 4.0)) < 1e-3
    True
    """
    checks.number("factor", factor)
    if not factor > 1:
        raise ValueError(f"factor must be greater than 1 (the level is factor × L(w₀)), got {factor!r}")
    checks.number("step", step, positive=True)
    base = float(profile(0.0))
    if not base > 0:
        raise ValueError(f"flatness needs a positive loss at δ = 0, got {base!r}")
    level = factor * base
    return (_crossing(profile, level, step, rtol, max_doublings)
            + _crossing(lambda d: profile(-d), level, step, rtol, max_doublings))


def curvature(profile: Callable[[float], float], scale: float) -> float:
    """The second difference (L(s) + L(−s) − 2L(0)) / s² of the loss profile δ ↦ L(w₀ + δp) at ``scale`` s:
    the curvature h = pᵀHp of a parabola exactly, at any s (at equilibrium σᵢ² hᵢ = T along each axis).

    >>> round(curvature(lambda d: 1.0 + 0.5 * 3.0 * d ** 2, 0.7), 9)
    3.0
    """
    checks.number("scale", scale, positive=True)
    return (float(profile(scale)) + float(profile(-scale)) - 2 * float(profile(0.0))) / scale ** 2


@dataclass(frozen=True)
class PowerLaw:
    """σ² = c · F^(−ψ): the exponent ψ, its bootstrap interval ``[low, high]`` at ``confidence``, and c."""

    psi: float
    low: float
    high: float
    prefactor: float
    confidence: float
    n_boot: int


def _slope(log_f: np.ndarray, log_v: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_f, log_v, 1)
    return float(slope), float(intercept)


def power_law_fit(flatness_values: np.ndarray, variances: np.ndarray, *, n_boot: int = 2000,
                  confidence: float = 0.95, seed: int = 0) -> PowerLaw:
    """Fit σᵢ² ∝ Fᵢ^(−ψ) by least squares of log σ² on log F; the interval is the bootstrap percentile
    interval over resampled (Fᵢ, σᵢ²) pairs (drawn from the stream ``"bootstrap"`` of ``seed``)."""
    f, v = np.asarray(flatness_values, dtype=float), np.asarray(variances, dtype=float)
    if f.shape != v.shape or f.ndim != 1 or len(f) < 3:
        raise ValueError(f"need at least 3 pairs of flatness and variance of one shape, got {f.shape} and {v.shape}")
    if not (np.all(f > 0) and np.all(v > 0) and np.all(np.isfinite(f)) and np.all(np.isfinite(v))):
        raise ValueError("flatness values and variances must be positive and finite for a log–log fit")
    checks.integer("n_boot", n_boot, low=1)
    checks.number("confidence", confidence, positive=True, below=1)
    log_f, log_v = np.log(f), np.log(v)
    slope, intercept = _slope(log_f, log_v)
    rng = np.random.default_rng(seeds.stream(seed, "bootstrap"))
    slopes = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(f), len(f))
        if np.ptp(log_f[idx]) > 0:
            slopes.append(_slope(log_f[idx], log_v[idx])[0])
    tail = 50 * (1 - confidence)
    low, high = np.percentile(-np.asarray(slopes), [tail, 100 - tail])
    return PowerLaw(-slope, float(low), float(high), float(np.exp(intercept)), confidence, n_boot)
