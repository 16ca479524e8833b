"""The width of the loss valley along a direction, in units of the SGD step (Jastrzębski et al., ICLR 2019, Sec. 4).

The paper's cross-section along the sharpest direction ``e₁`` samples the loss at offsets
``a ∈ {0, ±¼, ±½, ±1, ±2, ±4, ±8, ±16}`` × the mean step length ``mean_b η|g_b·e₁|`` around θ. On each
side the valley's wall is the first offset (the one nearest θ) at which the loss reaches ``t · L(θ)``,
``t ∈ {1.01, 1.1, 1.5, 2}``; the width is the larger of the two sides' distances, which picks the far wall
whatever the sign of ``e₁``: θ sits on one wall, so the near side reaches ``t · L(θ)`` at once. For a
parabola ``L(a) = L_min + k (a − m)²`` with θ at ``a = 0`` and the floor at ``m > 0``, the far wall at the
height of θ lies at ``2m``: the step of length 1 passes the valley's floor (``m < 1``, so that twice the
step's component raises the loss) exactly when the width at ``t → 1`` is below 2 steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

THRESHOLDS = (1.01, 1.1, 1.5, 2.0)
"""The paper's loss ratios ``t`` at which a wall is placed."""
FAR_WALL_STEPS = 2.0
"""Width (in steps) at ``t → 1`` below which the step passes the valley's floor and reaches its far wall."""


def valley_width(losses: np.ndarray, offsets: Sequence[float], threshold: float) -> np.ndarray:
    """The larger of the two sides' first offsets ``|a|`` at which ``L(a) ≥ t · L(0)``.

    losses: ``(..., n)`` the loss at ``offsets`` (``n`` values, one of them 0, some on each side) along a
    direction; threshold: ``t > 1``. Returns ``(...)``, in the offsets' units (steps); ``inf`` where a side
    never reaches ``t · L(0)`` within the offsets sampled (the valley is wider than the cross-section), NaN
    where ``L(0)`` is NaN (a time at which the section was not measured).
    """
    losses, offsets = np.asarray(losses, dtype=float), np.asarray(offsets, dtype=float)
    _check(losses, offsets, threshold)
    reached = losses >= threshold * losses[..., offsets == 0]
    sides = [np.where(reached & side, np.abs(offsets), np.inf).min(axis=-1) for side in (offsets > 0, offsets < 0)]
    return np.where(np.isnan(losses[..., offsets == 0][..., 0]), np.nan, np.maximum(*sides))


def widths(section: xr.DataArray, thresholds: Sequence[float] = THRESHOLDS, dim: str = "offset") -> xr.DataArray:
    """:func:`valley_width` of a measured cross-section at each threshold: ``section`` loses ``dim`` (whose
    coordinate holds the offsets) and gains ``threshold``."""
    per_threshold = [xr.apply_ufunc(valley_width, section, input_core_dims=[[dim]],
                                    kwargs={"offsets": section[dim].values, "threshold": t}) for t in thresholds]
    return xr.concat(per_threshold, dim=xr.DataArray(list(thresholds), dims="threshold", name="threshold"))


def reaches_far_wall(mean_width: float, standard_error: float, z: float = 2.0) -> bool:
    """Whether a valley's mean width at ``t → 1`` (in steps, with its standard error) lies below
    :data:`FAR_WALL_STEPS` by a margin of ``z`` standard errors: the step then passes the valley's floor.
    An infinite mean (a valley wider than the section sampled) never does, whatever its error."""
    if mean_width == np.inf:
        return False
    if not standard_error >= 0 or not z >= 0:
        raise ValueError(f"standard_error and z must be non-negative, got {standard_error!r} and {z!r}")
    return bool(mean_width + z * standard_error <= FAR_WALL_STEPS)


def _check(losses: np.ndarray, offsets: np.ndarray, threshold: float) -> None:
    if offsets.ndim != 1 or np.count_nonzero(offsets == 0) != 1 or not (offsets > 0).any() or not (offsets < 0).any():
        raise ValueError(f"offsets must be 1-D with one 0 and values on both sides of it, got {offsets.tolist()}")
    if losses.ndim < 1 or losses.shape[-1] != len(offsets):
        raise ValueError(f"losses must end in an axis of {len(offsets)} values (one per offset), "
                         f"got shape {losses.shape}")
    if not threshold > 1:
        raise ValueError(f"threshold must be a loss ratio above 1, got {threshold!r}")
    if (losses[..., offsets == 0] <= 0).any():
        raise ValueError("losses at offset 0 must be positive: a wall is placed at a multiple of them")
