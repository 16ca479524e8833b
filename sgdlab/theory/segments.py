"""The loss on the segment between consecutive SGD iterates (Xing, Arpit, Tsirigotis & Bengio, *A Walk
with SGD*, 2018, arXiv:1802.08770).

For the optimizer step from θ_t to θ_{t+1} the trace ``"segment"`` records

    ℓ_t(α) = L_train(θ_t + α (θ_{t+1} − θ_t)),   α ∈ ALPHAS = −0.25, −0.20, …, 1.25,

on a fixed training subset in inference mode. The pure functions below read one segment: its valley
floor α* (:func:`valley_floor`, interior when 0 < α* < 1), how far it is from convex
(:func:`nonconvexity`) and the height of the iterate above the floor (:func:`height`, ℓ_t(0) − ℓ_t(α*));
:func:`summarise` applies them to every step a run traced.

References: Xing et al. 2018, sections 3–4 (interpolation between consecutive iterates).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

ALPHAS = np.round(np.linspace(-0.25, 1.25, 31), 10)  # steps of 0.05; α = 0 and 1 exactly


def _as_arrays(alphas: Any, losses: Any) -> tuple[np.ndarray, np.ndarray]:
    a, ell = np.asarray(alphas, dtype=float), np.asarray(losses, dtype=float)
    if a.ndim != 1 or a.shape != ell.shape or len(a) < 3 or not np.all(np.diff(a) > 0):
        raise ValueError(f"a segment needs at least 3 increasing alphas and one loss per alpha; got alphas of "
                         f"shape {a.shape}, losses of shape {ell.shape}")
    return a, ell


def valley_floor(alphas: Any, losses: Any) -> tuple[float, float]:
    """The segment's minimum ``(α*, ℓ(α*))``: the grid's smallest loss, refined by the parabola through
    it and its two neighbours (exact for a quadratic loss); at an end of the grid, that end.

    >>> a = np.linspace(-0.25, 1.25, 31)
    >>> valley_floor(a, (a - 0.43) ** 2 + 1)
    (0.43, 1.0)
    """
    a, ell = _as_arrays(alphas, losses)
    i = int(np.argmin(ell))
    if i in (0, len(a) - 1):
        return float(a[i]), float(ell[i])
    coefficients = np.polyfit(a[i - 1:i + 2], ell[i - 1:i + 2], 2)
    if not coefficients[0] > 0:
        return float(a[i]), float(ell[i])
    vertex = float(np.clip(-coefficients[1] / (2 * coefficients[0]), a[i - 1], a[i + 1]))
    return round(vertex, 12), round(float(np.polyval(coefficients, vertex)), 12)


def is_interior(alpha_star: float) -> bool:
    """Whether the floor lies strictly between the two iterates (0 < α* < 1): the step crossed it."""
    return 0 < alpha_star < 1


def nonconvexity(alphas: Any, losses: Any) -> float:
    """How far the segment rises above its lower convex envelope, as a fraction of its range
    (max ℓ − min ℓ): 0 for a convex segment, 1 for e.g. a symmetric concave one; 0 for a flat one."""
    a, ell = _as_arrays(alphas, losses)
    spread = float(ell.max() - ell.min())
    if spread == 0:
        return 0.0
    return float((ell - _lower_envelope(a, ell)).max() / spread)


def _lower_envelope(a: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """The lower convex hull of the points (a, ℓ), evaluated at ``a`` (monotone chain)."""
    hull: list[int] = []
    for i in range(len(a)):
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            if (ell[k] - ell[j]) * (a[i] - a[j]) >= (ell[i] - ell[j]) * (a[k] - a[j]):
                hull.pop()
            else:
                break
        hull.append(i)
    return np.interp(a, a[hull], ell[hull])


def height(alphas: Any, losses: Any) -> float:
    """The height of the iterate θ_t above the segment's floor, ℓ(0) − ℓ(α*) (≥ 0; needs α = 0 in the grid)."""
    a, ell = _as_arrays(alphas, losses)
    at_zero = np.flatnonzero(np.isclose(a, 0.0, atol=1e-12))
    if not len(at_zero):
        raise ValueError("height needs α = 0 among the alphas")
    return float(ell[at_zero[0]] - valley_floor(a, ell)[1])


def summarise(segment: xr.DataArray) -> xr.Dataset:
    """Floor, interiority, non-convexity and height of each traced segment of ``segment`` (a run's
    ``segment_loss``, dims ``(iteration, alpha)``); steps that were not traced are dropped."""
    segment = segment.dropna("iteration", how="all")
    alphas = segment.alpha.values
    rows = [(*valley_floor(alphas, ell), nonconvexity(alphas, ell), height(alphas, ell)) for ell in segment.values]
    values = np.asarray(rows, dtype=float).reshape(-1, 4)
    names = ("alpha_star", "floor_loss", "nonconvexity", "height")
    out = xr.Dataset({name: ("iteration", values[:, i]) for i, name in enumerate(names)},
                     coords={c: segment[c] for c in segment.coords if segment[c].dims == ("iteration",)})
    return out.assign(interior=(out.alpha_star > 0) & (out.alpha_star < 1))
