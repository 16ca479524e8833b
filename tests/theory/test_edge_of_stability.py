"""Edge of stability: the threshold (plain and with momentum) from GD on quadratics, the edge step, the
median after it, short-timescale rises and long-timescale decrease of the loss, bad input."""

from __future__ import annotations

import dataclasses
import doctest
import math

import numpy as np
import pytest

from sgdlab.findings import eos_settings
from sgdlab.theory import edge_of_stability


def gd_on_quadratic(curvature: float, lr: float, momentum: float = 0.0, steps: int = 400) -> float:
    """|x| after heavy-ball GD (v ← βv + λx, x ← x − ηv) on ½λx² from x = 1."""
    x, v = 1.0, 0.0
    for _ in range(steps):
        v = momentum * v + curvature * x
        x -= lr * v
    return abs(x)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_threshold_separates_stable_from_divergent_gd_on_a_quadratic(momentum):
    lr = 0.1
    edge = edge_of_stability.stability_threshold(lr, momentum)
    assert edge == pytest.approx((2 + 2 * momentum) / lr)
    assert gd_on_quadratic(0.98 * edge, lr, momentum) < 1  # just below: contracts
    assert gd_on_quadratic(1.02 * edge, lr, momentum) > 1e2  # just above: blows up


def test_normalised_sharpness_is_one_at_the_threshold_and_takes_a_step_per_entry():
    np.testing.assert_allclose(edge_of_stability.normalised_sharpness([10.0, 20.0, 40.0], 0.1), [0.5, 1.0, 2.0])
    np.testing.assert_allclose(edge_of_stability.normalised_sharpness([10.0, 10.0], [0.1, 0.4]), [0.5, 2.0])
    assert edge_of_stability.normalised_sharpness([38.0], 0.1, momentum=0.9)[0] == pytest.approx(1.0)


def test_edge_step_is_the_first_measured_step_at_the_threshold_skipping_nan():
    steps = [0, 20, 40, 60, 80]
    lam = [5.0, np.nan, 9.9, 10.0, 9.5]  # threshold 2/0.2 = 10
    assert edge_of_stability.edge_step(steps, lam, 0.2) == 60
    assert edge_of_stability.edge_step(steps, lam, 0.2, fraction=0.95) == 40
    assert edge_of_stability.edge_step(steps, [1.0, 2.0, 3.0, 4.0, 5.0], 0.2) is None


def test_median_after_the_edge_counts_only_the_measurements_from_the_edge_on():
    steps = np.arange(0, 200, 20)
    lam = [2, 4, 6, 8, 10, 11, 10.5, 9.8, 10.2, 12]  # edge at step 80; after: 10, 11, 10.5, 9.8, 10.2, 12
    assert edge_of_stability.median_after_edge(steps, lam, 0.2) == pytest.approx(np.median([10, 11, 10.5, 9.8, 10.2, 12]) / 10)
    assert math.isnan(edge_of_stability.median_after_edge(steps, np.ones(10), 0.2))


def test_rise_fraction_counts_increases_and_gd_on_a_stable_quadratic_never_rises():
    assert edge_of_stability.rise_fraction([3, 2, 2.5, 1, 1.5]) == pytest.approx(0.5)
    x = 1.0 * (1 - 0.1 * 15) ** np.arange(30)  # ηλ = 1.5 < 2: the iterate flips sign, the loss still falls
    assert edge_of_stability.rise_fraction(0.5 * 15 * x**2) == 0.0
    x = 1.0 * (1 - 0.1 * 21) ** np.arange(30)  # ηλ = 2.1: every step raises the loss
    assert edge_of_stability.rise_fraction(0.5 * 21 * x**2) == 1.0


def test_window_means_and_long_timescale_decrease_despite_short_oscillations():
    t = np.arange(400)
    loss = np.exp(-t / 200) + 0.05 * (-1.0) ** t  # rises every other step, falls over long windows
    assert edge_of_stability.rise_fraction(loss) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(edge_of_stability.window_means(np.arange(6.0), 3), [0.5, 2.5, 4.5])
    assert edge_of_stability.decreases_over_windows(loss, 4)
    assert not edge_of_stability.decreases_over_windows(loss[::-1], 4)
    assert not edge_of_stability.decreases_over_windows(np.ones(8), 4)  # flat is not a decrease


def test_edge_learning_rates_put_the_edge_the_given_ratios_above_the_sharpness():
    lrs = edge_of_stability.edge_learning_rates(4.0, [2.5, 2.0, 1.5], digits=6)
    np.testing.assert_allclose([2 / lr for lr in lrs], [10.0, 8.0, 6.0], rtol=1e-5)
    assert edge_of_stability.edge_learning_rates(5.7844, [2.5, 2.0, 1.5]) == [0.14, 0.17, 0.23]  # two significant digits
    # a larger sharpness at initialisation gives smaller steps, at every ratio
    assert all(a > b for a, b in zip(edge_of_stability.edge_learning_rates(4.0, [2.0, 1.5]), edge_of_stability.edge_learning_rates(6.0, [2.0, 1.5])))


def test_cycle_step_size_does_not_depend_on_the_parity_of_the_measurement_step():
    alternating = np.tile([0.078, 0.199], 50)  # a period-2 step size, as greedy CDAT takes
    np.testing.assert_allclose(edge_of_stability.cycle_step_size(alternating, [10, 11, 20, 21]), 0.1385)
    np.testing.assert_allclose(edge_of_stability.cycle_step_size(np.full(10, 0.3), [0, 8]), [0.3, 0.3])
    np.testing.assert_allclose(edge_of_stability.cycle_step_size([1.0, 2.0, 3.0], [0], span=3), [2.0])


EOS_TINY = dict(train_size=64, hessian_size=64, top_k=2, loss="mse",
                model_options={"width": 8, "depth": 2, "activation": "tanh", "init": "torch"})


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """Runs go to a fresh cache, never the user's."""
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path / "sgdlab-data"))


def test_initial_sharpness_is_the_runs_own_lambda1_at_step_0_whatever_its_step_size(data_dir):
    from sgdlab.training.config import RunConfig
    from sgdlab.training.loop import run

    gd = eos_settings.full_batch(RunConfig(**EOS_TINY), 0.05, steps=3, eigen_every=1)
    measured = eos_settings.initial_sharpness({"a": gd, "b": dataclasses.replace(gd, seed=1)})
    full = run(dataclasses.replace(gd, lr=0.3), cache=False, progress=False)  # another η, the same θ₀
    assert measured["a"] == pytest.approx(float(full["lambda"].sel(eig=1, step=0)), rel=1e-4)
    assert measured["a"] > 0 and measured["a"] != pytest.approx(measured["b"], rel=1e-3)  # the seed's own model
    assert eos_settings.step_sizes(gd, [2.0]) == edge_of_stability.edge_learning_rates(measured["a"], [2.0])
    assert eos_settings.step_sizes(gd, None, fixed=[0.01, 0.02]) == [0.01, 0.02]  # a profile's frozen η: nothing measured


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: edge_of_stability.stability_threshold(0.0), "lr"),
        (lambda: edge_of_stability.stability_threshold(0.1, momentum=1.0), "momentum"),
        (lambda: edge_of_stability.normalised_sharpness([1.0], [0.1, -0.1]), "lr must be positive"),
        (lambda: edge_of_stability.edge_step([0, 1], [1.0], 0.1), "steps and values must be 1-D of one length"),
        (lambda: edge_of_stability.edge_step([0, 1], [1.0, 2.0], 0.1, fraction=0), "fraction"),
        (lambda: edge_of_stability.rise_fraction([1.0]), "at least 2 steps"),
        (lambda: edge_of_stability.window_means([1.0, 2.0], 3), "at least windows=3"),
        (lambda: edge_of_stability.window_means([1.0, 2.0], 0), "windows"),
        (lambda: edge_of_stability.edge_learning_rates(0.0, [2.0]), "sharpness"),
        (lambda: edge_of_stability.edge_learning_rates(4.0, [2.0, -1.0]), "ratios"),
        (lambda: edge_of_stability.edge_learning_rates(4.0, []), "ratios"),
        (lambda: eos_settings.step_sizes(None, None), "edge_ratios"),
        (lambda: edge_of_stability.cycle_step_size([0.1, 0.2], [1]), "states must be steps 0..0"),
        (lambda: edge_of_stability.cycle_step_size([0.1, 0.2], [0], span=0), "span"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_docstring_examples():
    assert doctest.testmod(edge_of_stability).failed == 0
