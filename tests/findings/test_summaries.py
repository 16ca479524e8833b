"""Summaries of measured curves: the tail of a run and its last measured value, NaN marking no measurement."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sgdlab.findings import summaries

NAN = np.nan


@pytest.fixture
def curves():
    """Two runs on one epoch axis (an outer join): run b is measured at other times and ends earlier."""
    values = [[0.0, 1.0, 2.0, 3.0, NAN, 5.0],
              [10.0, NAN, 12.0, NAN, 14.0, NAN]]
    return xr.DataArray(values, dims=("run", "epoch"), coords={"run": ["a", "b"], "epoch": [0, 1, 2, 3, 4, 5]})


def test_tail_keeps_the_measurements_from_that_fraction_of_the_time_axis_on(curves):
    late = summaries.tail(curves, 0.4)
    assert late.epoch.values.tolist() == [3, 4, 5]
    np.testing.assert_array_equal(late.sel(run="a"), [3.0, NAN, 5.0])
    assert float(late.sel(run="b").median()) == 14.0


def test_tail_measures_time_from_the_first_to_the_last_measurement():
    da = xr.DataArray([NAN, 1.0, 2.0, 3.0, 4.0, NAN], dims="epoch", coords={"epoch": [0, 2, 4, 6, 8, 10]})
    # measured from epoch 2 to 8: the second half starts at epoch 5
    assert summaries.tail(da, 0.5).epoch.values.tolist() == [6, 8]


def test_tail_mean_is_the_mean_of_the_tail(curves):
    np.testing.assert_allclose(summaries.tail(curves, 0.5).mean("epoch"), summaries.tail_mean(curves, 0.5))


def test_tail_of_a_dataset_keeps_every_variable():
    ds = xr.Dataset({"x": ("epoch", [1.0, 2.0, 3.0, 4.0]), "y": ("epoch", [NAN, NAN, 7.0, 8.0])},
                    coords={"epoch": [0.0, 1.0, 2.0, 3.0]})
    late = summaries.tail(ds, 0.5)
    assert late.epoch.values.tolist() == [2.0, 3.0]
    assert late.x.values.tolist() == [3.0, 4.0] and late.y.values.tolist() == [7.0, 8.0]


def test_final_is_each_entrys_last_measured_value(curves):
    last = summaries.final(curves)
    assert last.dims == ("run",)
    assert last.values.tolist() == [5.0, 14.0]
    assert "epoch" not in last.coords


def test_final_is_nan_where_an_entry_was_never_measured():
    da = xr.DataArray([[1.0, 2.0], [NAN, NAN]], dims=("run", "epoch"), coords={"epoch": [0, 1]})
    assert np.isnan(summaries.final(da).values[1])
    assert summaries.final(da).values[0] == 2.0


def test_final_of_a_curve_keeps_its_other_coordinates():
    da = xr.DataArray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dims=("eig", "epoch"),
                      coords={"eig": [1, 2], "epoch": [0.0, 0.5, 1.0]})
    last = summaries.final(da)
    assert last.eig.values.tolist() == [1, 2] and last.values.tolist() == [3.0, 6.0]


def test_initial_is_the_first_measured_value_of_each_run(curves):
    shifted = curves.where(curves.epoch > 0)
    np.testing.assert_array_equal(summaries.initial(shifted), [1.0, 12.0])


def test_smoothed_is_a_centred_moving_mean_shorter_at_the_ends():
    da = xr.DataArray([0.0, 0.0, 6.0, 0.0, 0.0], dims="epoch", coords={"epoch": range(5)})
    np.testing.assert_allclose(summaries.smoothed(da, 3), [0.0, 2.0, 2.0, 2.0, 0.0])


def test_smoothed_counts_only_the_times_a_run_was_measured(curves):
    smooth = summaries.smoothed(curves, 3)
    assert smooth.dims == curves.dims
    # run b is measured at epochs 0, 2, 4 only: its neighbours are those, not the NaN between them
    np.testing.assert_allclose(smooth.sel(run="b"), [11.0, NAN, 12.0, NAN, 13.0, NAN])
    np.testing.assert_allclose(smooth.sel(run="a"), [0.5, 1.0, 2.0, 10 / 3, NAN, 4.0])


def test_smoothed_rejects_a_window_that_is_not_a_number_of_measurements():
    da = xr.DataArray([1.0, 2.0], dims="epoch")
    with pytest.raises(ValueError, match="window must be a positive integer"):
        summaries.smoothed(da, 0)
    with pytest.raises(ValueError, match="window"):
        summaries.smoothed(da, 2.5)


def test_rise_time_is_when_the_given_fraction_of_the_rise_is_covered():
    da = xr.DataArray([[1.0, 5.0, 9.0, 10.0, 10.0, 10.0], [NAN, 0.0, 1.0, 2.0, 3.0, 4.0]], dims=("run", "epoch"),
                      coords={"epoch": [0, 1, 2, 3, 4, 5]})
    # run 0: 90% of the rise 1 -> 10 is 9.1, first reached at epoch 3; run 1 still climbing: its last epoch
    np.testing.assert_array_equal(summaries.rise_time(da, 0.9), [3.0, 5.0])
    np.testing.assert_array_equal(summaries.rise_time(da, 0.5), [2.0, 3.0])


def test_rise_time_rejects_a_fraction_outside_zero_to_one():
    with pytest.raises(ValueError, match="fraction must lie in"):
        summaries.rise_time(xr.DataArray([1.0, 2.0], dims="epoch"), 1.5)


def test_at_best_reads_one_variable_where_another_peaks_first():
    epoch = [0.0, 1.0, 2.0, 3.0]
    by = xr.DataArray([[0.1, 0.6, 0.6, 0.5], [0.2, 0.3, np.nan, 0.9]], dims=("run", "epoch"),
                      coords={"run": [0, 1], "epoch": epoch})
    values = xr.DataArray([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], dims=("run", "epoch"), coords=by.coords)
    np.testing.assert_array_equal(summaries.at_best(values, by), [2.0, 8.0])  # first of the tied best; NaN skipped
    never = by.where(by.run == 0)
    assert np.isnan(summaries.at_best(values, never).sel(run=1))


def test_at_first_crossing_interpolates_between_the_bracketing_measurements():
    epoch = [0.0, 1.0, 2.0, 3.0]
    by = xr.DataArray([[0.1, 0.3, 0.7, 0.9], [0.6, 0.8, 0.9, 1.0], [0.1, 0.2, 0.2, 0.3], [0.1, np.nan, 0.9, 1.0]],
                      dims=("run", "epoch"), coords={"run": [0, 1, 2, 3], "epoch": epoch})
    values = xr.DataArray(np.tile([10.0, 20.0, 40.0, 80.0], (4, 1)), dims=("run", "epoch"), coords=by.coords)
    got = summaries.at_first_crossing(values, by, 0.5)
    assert got.dims == ("run",)
    np.testing.assert_allclose(got.values[[0, 1, 3]], [30.0, 10.0, 10.0 + 30.0 * 0.4 / 0.8])
    assert np.isnan(got.sel(run=2))  # never reaches the level


def test_at_first_crossing_of_a_constant_level_is_the_value_at_that_time():
    t = np.linspace(0.0, 1.0, 11)
    by = xr.DataArray(t, dims="epoch", coords={"epoch": t})
    values = xr.DataArray(3 * t + 1, dims="epoch", coords={"epoch": t})
    np.testing.assert_allclose(float(summaries.at_first_crossing(values, by, 0.55)), 3 * 0.55 + 1)


def test_mean_with_error_is_the_mean_and_its_standard_error_over_seeds():
    d = xr.DataArray([[0.02, 0.04, 0.03, 0.05], [1.0, NAN, 3.0, 2.0]], dims=("run", "seed"))
    mean, error = summaries.mean_with_error(d)
    np.testing.assert_allclose(mean, [0.035, 2.0])
    np.testing.assert_allclose(error, [np.std([0.02, 0.04, 0.03, 0.05], ddof=1) / 2, 1 / np.sqrt(3)])


def test_clearly_positive_holds_for_a_consistent_gap_and_fails_for_one_the_seeds_do_not_support():
    consistent = xr.DataArray([0.040, 0.002, 0.044, 0.029], dims="seed")  # every seed worse, by varying amounts
    assert bool(summaries.clearly_positive(consistent))
    one_seed = xr.DataArray([0.120, -0.010, -0.020, 0.002], dims="seed")  # one large gap, the others none
    assert not bool(summaries.clearly_positive(one_seed))
    assert not bool(summaries.clearly_positive(-consistent))


def test_mean_with_error_needs_two_values_and_clearly_positive_a_non_negative_z():
    with pytest.raises(ValueError, match="at least 2 values along 'seed'"):
        summaries.mean_with_error(xr.DataArray([1.0, NAN], dims="seed"))
    with pytest.raises(ValueError, match="z must be"):
        summaries.clearly_positive(xr.DataArray([1.0, 2.0], dims="seed"), z=-1)


def test_early_value_is_cut_before_smoothing_so_later_measurements_never_enter_it():
    t = np.arange(0, 4.25, 0.25)
    curve = xr.DataArray(np.where(t <= 2, 1.0, 100.0), dims="epoch", coords={"epoch": t})  # jumps after the window
    assert float(summaries.early_value(curve, 2.0)) == 1.0
    assert float(summaries.final(summaries.smoothed(curve, 5).where(curve.epoch <= 2.0))) > 1.0  # smoothing first leaks


def test_plateaued_holds_for_a_converged_loss_and_fails_for_one_still_falling():
    t = np.linspace(0, 20, 41)
    converged = xr.DataArray(2 * np.exp(-t) + 0.1, dims="epoch", coords={"epoch": t})
    falling = xr.DataArray(2 * np.exp(-t / 20) + 0.1, dims="epoch", coords={"epoch": t})
    assert bool(summaries.plateaued(converged)) and not bool(summaries.plateaued(falling))
    with pytest.raises(ValueError, match="fraction must lie in"):
        summaries.plateaued(converged, fraction=1.0)


def test_plateau_start_is_the_first_epoch_whose_loss_moved_less_than_the_tolerance_over_the_span():
    epochs = np.arange(0.0, 201.0, 2.0)
    settling = xr.DataArray(0.3 + 2.0 * np.exp(-epochs / 15), coords={"epoch": epochs})
    start = float(summaries.plateau_start(settling, span=20, tolerance=0.05))
    drop = 2.0 * np.exp(-(start - 20) / 15) * (1 - np.exp(-20 / 15))  # L(t − 20) − L(t)
    assert drop <= 0.05 * (0.3 + 2.0 * np.exp(-(start - 20) / 15))
    assert 2.0 * np.exp(-(start - 22) / 15) * (1 - np.exp(-20 / 15)) > 0.05 * (0.3 + 2.0 * np.exp(-(start - 22) / 15))
    memorising = xr.DataArray(2.3 * np.exp(-epochs / 40), coords={"epoch": epochs})  # falls 39% every 20 epochs
    assert np.isnan(float(summaries.plateau_start(memorising, span=20)))
    with pytest.raises(ValueError, match="span"):
        summaries.plateau_start(settling, span=0)


def test_still_rising_reads_each_run_over_its_own_last_quarter():
    t = np.arange(0.0, 41.0)
    climbing = np.log1p(t)  # still growing at the end
    peaked = np.concatenate([np.log1p(t[:21]), np.full(20, np.log1p(20.0)) * np.linspace(1.0, 0.9, 20)])[:41]
    short = np.where(t <= 20, np.log1p(np.minimum(t, 10)), np.nan)  # levelled off, and measured half as long
    runs = xr.DataArray(np.stack([climbing, peaked, short]), dims=("run", "epoch"), coords={"epoch": t})
    assert summaries.still_rising(runs).values.tolist() == [True, False, False]
    with pytest.raises(ValueError, match="fraction must lie in"):
        summaries.still_rising(runs, fraction=0.0)


def test_peaks_ordered_needs_the_claimed_lower_run_to_have_peaked():
    sizes = {"coords": {"S": [32, 128, 1024]}, "dims": "S"}
    peaks = xr.DataArray([18.0, 26.0, 30.0], **sizes)
    none_rising = xr.DataArray([False, False, False], **sizes)
    largest_rising = xr.DataArray([False, False, True], **sizes)  # its maximum is a lower bound: still decided
    middle_rising = xr.DataArray([False, True, False], **sizes)  # 128's peak could still pass 1024's
    assert summaries.peaks_ordered(peaks, none_rising, "S") and summaries.peaks_ordered(peaks, largest_rising, "S")
    assert not summaries.peaks_ordered(peaks, middle_rising, "S")
    assert not summaries.peaks_ordered(peaks[::-1].assign_coords(S=[32, 128, 1024]), none_rising, "S")  # wrong order
    assert not summaries.peaks_ordered(xr.DataArray([18.0, 26.0, 26.0], **sizes), none_rising, "S")  # a tie
    assert summaries.peaks_ordered(peaks[::-1].assign_coords(S=[32, 128, 1024]), none_rising, "S", increasing=False)
    with pytest.raises(ValueError, match="1-D along"):
        summaries.peaks_ordered(peaks.expand_dims(seed=2), none_rising, "S")
