"""The valley's width along a direction against closed forms on parabolas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from sgdlab.theory import valley_width as V
from sgdlab.theory.directions import OFFSETS


def parabola(floor_at: float, curvature: float = 1.0, bottom: float = 1.0) -> np.ndarray:
    """``L(a) = bottom + curvature (a − floor_at)²`` at the paper's offsets: θ (a = 0) on one wall."""
    a = np.asarray(OFFSETS)
    return bottom + curvature * (a - floor_at) ** 2


def closed_form(floor_at: float, t: float, curvature: float = 1.0, bottom: float = 1.0) -> float:
    """The first sampled offset beyond the far wall, ``a ≥ m + √((t L(0) − bottom) / k)``, for ``m > 0``."""
    wall = floor_at + math.sqrt((t * (bottom + curvature * floor_at**2) - bottom) / curvature)
    return min(a for a in OFFSETS if a >= wall)


@pytest.mark.parametrize("floor_at", [0.3, 0.6, 1.5, 3.0])
@pytest.mark.parametrize("t", V.THRESHOLDS)
def test_the_width_is_the_far_walls_first_offset_whichever_way_the_direction_points(floor_at, t):
    losses = parabola(floor_at)
    assert V.valley_width(losses, OFFSETS, t) == closed_form(floor_at, t)
    assert V.valley_width(losses[::-1], OFFSETS, t) == closed_form(floor_at, t)  # e₁ and −e₁ alike


def test_a_step_that_passes_the_floor_reaches_the_far_wall_and_one_that_stops_short_does_not():
    passes, short = V.valley_width(parabola(0.6), OFFSETS, 1.01), V.valley_width(parabola(1.5), OFFSETS, 1.01)
    assert passes == 2.0 and V.reaches_far_wall(passes, 0.0)
    assert short == 4.0 and not V.reaches_far_wall(short, 0.0)


def test_the_far_wall_needs_the_margin_of_the_standard_error():
    assert V.reaches_far_wall(1.5, 0.2)
    assert not V.reaches_far_wall(1.9, 0.1)  # 1.9 + 2 × 0.1 > 2 steps


def test_a_side_that_never_reaches_the_threshold_makes_the_valley_wider_than_the_section():
    flat_beyond = np.where(np.asarray(OFFSETS) > 0, 1.0, 1.0 + np.abs(OFFSETS))
    assert V.valley_width(flat_beyond, OFFSETS, 1.01) == np.inf
    assert not V.reaches_far_wall(float(np.mean([2.0, np.inf])), float("nan"))  # the error of an infinite mean


def test_a_section_not_measured_has_no_width():
    unmeasured = np.full(len(OFFSETS), np.nan)
    assert np.isnan(V.valley_width(np.stack([unmeasured, parabola(0.6)]), OFFSETS, 1.01)[0])


def test_widths_of_a_measured_section_gain_a_threshold_dim_and_keep_the_others():
    section = xr.DataArray(np.stack([parabola(0.6), parabola(1.5)]), dims=("epoch", "offset"),
                           coords={"epoch": [1.0, 2.0], "offset": list(OFFSETS)})
    got = V.widths(section)
    assert got.dims == ("threshold", "epoch") and got.threshold.values.tolist() == list(V.THRESHOLDS)
    assert got.sel(threshold=1.01).values.tolist() == [2.0, 4.0]


@pytest.mark.parametrize(
    ("losses", "offsets", "t", "match"),
    [
        (np.ones(3), [0.0, 1.0, 2.0], 1.1, "values on both sides"),
        (np.ones(3), [-1.0, 0.0, 0.0], 1.1, "one 0"),
        (np.ones(2), [-1.0, 0.0, 1.0], 1.1, "one per offset"),
        (np.ones(3), [-1.0, 0.0, 1.0], 1.0, "threshold must be a loss ratio above 1"),
        (np.array([1.0, 0.0, 1.0]), [-1.0, 0.0, 1.0], 1.1, "at offset 0 must be positive"),
    ],
)
def test_bad_input_is_named(losses, offsets, t, match):
    with pytest.raises(ValueError, match=match):
        V.valley_width(losses, offsets, t)
