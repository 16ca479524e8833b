"""Three factors (B1–B5): each statistic against its closed form, on synthetic data that supports the
paper's claim and on data that contradicts it (where the verdict must fail), and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from sgdlab.theory import three_factors as tf

ALPHAS = np.linspace(-1.0, 2.0, 13)


def _line(left: float, right: float) -> xr.DataArray:
    """A loss along α that rises as left·α² before θ₁ (α < 0) and right·(α − 1)² beyond θ₂ (α > 1)."""
    a = ALPHAS
    loss = 1.0 + np.where(a < 0, left * a**2, 0.0) + np.where(a > 1, right * (a - 1) ** 2, 0.0)
    return xr.DataArray(loss, dims="alpha", coords={"alpha": a})


def test_line_asymmetry_is_the_difference_of_the_log_growth_beyond_each_end():
    # the loss grows from 1 to 1 + left beyond θ₁ and from 1 to 1 + right beyond θ₂
    assert float(tf.line_asymmetry(_line(2.0, 2.0))) == 0.0  # equally wide ends: the same minimum shape
    assert float(tf.line_asymmetry(_line(1.0, 4.0))) == pytest.approx(math.log(5.0 / 2.0))
    assert float(tf.line_asymmetry(_line(4.0, 1.0))) == pytest.approx(math.log(5.0 / 2.0))
    lines = xr.concat([_line(1.0, 1.0), _line(1.0, 8.0)], dim="partner")
    np.testing.assert_allclose(tf.line_asymmetry(lines), [0.0, math.log(9.0 / 2.0)])
    # a factor: a common scale of the loss leaves it unchanged
    assert float(tf.line_asymmetry(5 * _line(1.0, 4.0))) == pytest.approx(math.log(5.0 / 2.0))


def test_line_asymmetry_stays_small_on_a_nearly_flat_line_and_fails_ends_of_unequal_width():
    """B2: endpoints of one ratio lie in one flat region; a ratio of two tiny rises would blow up there."""
    flat = _line(1e-3, 4e-3)  # rises of 0.001 and 0.004: the ratio of rises reads a four-fold difference
    assert float(tf.line_asymmetry(flat)) < 0.01
    assert float(tf.line_asymmetry(_line(1.0, 8.0))) > 1.0  # a wide and a sharp end: data contradicting "the same"
    falling = _line(1.0, 1.0) - xr.DataArray(np.where(ALPHAS > 1, 0.5 * (ALPHAS - 1), 0.0), dims="alpha")
    assert float(tf.line_asymmetry(falling)) == pytest.approx(math.log(2.0 / 1.5))  # defined where a rise is < 0
    assert np.isnan(float(tf.line_asymmetry(_line(1.0, 1.0).where(ALPHAS != 2.0))))  # a NaN loss: NaN


def test_difference_tolerance_is_two_standard_errors_of_a_difference():
    assert tf.difference_tolerance(0.9, 4000) == pytest.approx(2 * math.sqrt(2 * 0.9 * 0.1 / 4000))
    assert tf.difference_tolerance(1.0, 10) == 0.0


def test_breakdown_is_the_first_beta_past_the_tolerance():
    betas = [0.25, 1.0, 4.0, 8.0, 16.0]
    tolerance = tf.difference_tolerance(0.9, 1000)  # ≈ 0.027
    beta, tol = tf.breakdown(betas, [0.91, 0.90, 0.89, 0.85, 0.60], 1000)
    assert (beta, tol) == (8.0, pytest.approx(tolerance))
    # a drop within the tolerance is no breakdown; a β below the reference never counts
    assert tf.breakdown(betas, [0.10, 0.90, 0.89, 0.88, 0.88], 1000)[0] == math.inf


def test_breakdown_claim_fails_when_the_smaller_set_breaks_later():
    """B3: the smaller training set must break at a smaller β; data where it breaks later contradict it."""
    betas = [1.0, 4.0, 8.0, 16.0]
    small = tf.breakdown(betas, [0.80, 0.79, 0.78, 0.60], 1000)[0]
    large = tf.breakdown(betas, [0.90, 0.89, 0.80, 0.70], 1000)[0]
    assert not small < large
    small = tf.breakdown(betas, [0.80, 0.70, 0.60, 0.50], 1000)[0]
    assert small < large


def test_alternation_contrasts_cancel_a_trend_and_see_the_swings():
    trend = np.linspace(3.0, 2.0, 8)  # λ₁ falls steadily over four cycles: no alternation
    np.testing.assert_allclose(tf.alternation_contrasts(trend, 4), [0.0, 0.0, 0.0], atol=1e-12)
    swings = trend - 0.2 * (np.arange(8) % 2 == 0)  # lower at the end of every high-noise stage (even k)
    np.testing.assert_allclose(tf.alternation_contrasts(swings, 4), [0.2, 0.2, 0.2])
    inverted = trend + 0.2 * (np.arange(8) % 2 == 0)  # sharper after high noise: contradicts the claim
    assert max(tf.alternation_contrasts(inverted, 4)) < 0


def test_matched_runs_keeps_the_runs_that_reached_the_level():
    ratio, clean = [1e-3, 2e-3, 4e-3, 8e-3], [0.5, np.nan, 0.6, 0.7]
    x, y = tf.matched_runs(ratio, clean, 3)
    assert x.tolist() == [1e-3, 4e-3, 8e-3] and y.tolist() == [0.5, 0.6, 0.7]
    assert tf.matched_runs(ratio, clean, 4) is None


def test_matched_memorisation_claim_fails_where_a_higher_ratio_generalises_worse():
    """B5 (ρ ≥ +0.5 among the runs that reach a level): supported by rising accuracy, contradicted by falling."""
    ratio = [1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2]
    rising, falling = [0.50, 0.52, np.nan, 0.55, 0.58, 0.60], [0.60, 0.58, 0.55, np.nan, 0.52, 0.50]
    assert stats.spearmanr(*tf.matched_runs(ratio, rising, 5)).statistic >= 0.5
    assert stats.spearmanr(*tf.matched_runs(ratio, falling, 5)).statistic < 0.5


def test_bad_input():
    with pytest.raises(ValueError, match="alpha = -1, 0, 1 and 2"):
        tf.line_asymmetry(_line(1.0, 1.0).sel(alpha=slice(0.0, None)))
    with pytest.raises(ValueError, match="accuracy must be in"):
        tf.difference_tolerance(1.5, 100)
    with pytest.raises(ValueError, match="reference β = 1"):
        tf.breakdown([2.0, 4.0], [0.9, 0.8], 100)
    with pytest.raises(ValueError, match="one value per stage"):
        tf.alternation_contrasts([1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError, match="min_runs"):
        tf.matched_runs([1.0], [0.5], 1)
