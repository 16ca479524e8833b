"""A tuner's step size against the sharpness (CDAT, finding C3): the per-step reading of a period-two cycle,
trend factors through oscillations, the greedy tuner's undershoot mechanism, the early fall of the
sharpness and the warm-up of σ = 2 — each supported by synthetic data of the claimed shape and failed by
data that contradicts it."""

from __future__ import annotations

import numpy as np
import pytest

from sgdlab.theory import edge_of_stability as eos


def greedy_run(sharpening: float, lr_fall: float, steps: int = 1000, every: int = 40):
    """A synthetic greedy-CDAT run: λ₁ grows by ``sharpening`` over the run, the cycle-mean η_t shrinks by
    ``lr_fall``; η_t alternates short/long around that mean (ratio 1 : 2.5); λ₁ is measured at pairs of
    consecutive states (t, t + 1) every ``every`` steps, as the notebook measures it."""
    t = np.arange(steps)
    mean_lr = 0.2 * lr_fall ** (-t / (steps - 1))
    step_lr = mean_lr * np.where(t % 2 == 0, 2 / 3.5, 5 / 3.5)
    lam = 8.0 * sharpening ** (t / (steps - 1)) * (1 + 0.02 * np.cos(t))
    measured = np.sort(np.concatenate([t[::every], t[1::every]]))
    return measured, lam[measured], step_lr


def second_half_trends(steps, sharpness, step_lr):
    states, lam_pairs, lr = eos.cycle_pairs(steps, sharpness, step_lr)
    products = lam_pairs * lr
    late = states >= (len(step_lr) // 2)
    at = dict(zip(steps, sharpness))
    lam = np.array([(at[s] + at[s + 1]) / 2 for s in states[late]])
    return (eos.trend_factor(states[late], lam), eos.trend_factor(states[late], lr[late].mean(axis=1)),
            [eos.trend_factor(states[late], products[late, j]) for j in (0, 1)])


def test_cycle_pairs_order_each_pair_short_then_long_whatever_the_parity_of_the_measurement_step():
    step_lr = np.tile([0.1, 0.3], 10)
    even = eos.cycle_pairs([4, 5], [10.0, 20.0], step_lr)
    odd = eos.cycle_pairs([5, 6], [20.0, 10.0], step_lr)
    np.testing.assert_allclose(even[1] * even[2], [[1.0, 6.0]])
    np.testing.assert_allclose(odd[1] * odd[2], even[1] * even[2])
    np.testing.assert_allclose(odd[2], [[0.1, 0.3]])
    states, _, _ = eos.cycle_pairs([0, 1, 2, 7, 10, 11], [1.0, 1.0, 1.0, 1.0, 1.0, np.nan], step_lr)
    assert states.tolist() == [0, 1]  # 10 has no λ₁ at 11; 7 has no successor measured


def test_trend_factor_is_exact_on_a_geometric_series_and_reads_through_a_period_two_oscillation():
    t = np.arange(0, 101)
    assert eos.trend_factor(t, 3.0 * 1.5 ** (t / 100)) == pytest.approx(1.5)
    zigzag = 3.0 * 1.5 ** (t / 100) * np.where(t % 2 == 0, 0.6, 1.4)
    assert eos.trend_factor(t, zigzag) == pytest.approx(1.5, rel=0.03)
    assert eos.trend_factor([0, 10], [2.0, 1.0]) == pytest.approx(0.5)


def test_undershoot_mechanism_holds_where_the_step_falls_as_the_sharpness_rises():
    sharpness, lr, products = second_half_trends(*greedy_run(sharpening=1.8, lr_fall=1.8))
    assert 1.25 < sharpness < 1.35 and lr == pytest.approx(1 / sharpness, rel=0.02)  # 1.8 over the states 520–960
    assert products == pytest.approx([1.0, 1.0], abs=0.03)
    assert eos.undershoot_mechanism(sharpness, lr, products)


@pytest.mark.parametrize(("sharpening", "lr_fall", "why"), [
    (1.0, 1.0, "λ₁ stabilises, as at the edge of stability"),
    (1.2, 1.2, "λ₁ rises by under 20% over the second half"),
    (1.8, 1.0, "λ₁ rises but η_t does not fall: the product grows with λ₁"),
    (1.8, 1.15, "η_t falls, but too little: the product rises more than half as much as λ₁"),
    (1.8, 6.0, "η_t falls far faster than λ₁ rises: the product collapses"),
])
def test_undershoot_mechanism_fails_on_runs_that_contradict_it(sharpening, lr_fall, why):
    assert not eos.undershoot_mechanism(*second_half_trends(*greedy_run(sharpening, lr_fall))), why


def test_initial_excess_is_above_one_only_where_the_sharpness_falls_early_and_stays_below_its_start():
    steps = np.arange(0, 1000, 20)
    falls_then_sharpens = 5.0 + 16.0 * np.exp(-steps / 40) + steps / 500
    assert eos.initial_excess(steps, falls_then_sharpens) == pytest.approx(21.0 / falls_then_sharpens[1:].max())
    assert eos.initial_excess(steps, falls_then_sharpens) > 1
    progressive_sharpening = 4.0 + steps / 250  # the tanh MLP with PyTorch's initialisation
    assert eos.initial_excess(steps, progressive_sharpening) < 1
    comes_back = 5.0 + 16.0 * np.exp(-steps / 40) + steps / 40  # falls, then sharpens past its start
    assert eos.initial_excess(steps, comes_back) < 1


def test_warm_up_ratio_sees_a_growing_step_and_not_a_falling_one_despite_a_large_first_step():
    growing = np.concatenate([[2.0], np.linspace(0.15, 0.4, 299), np.full(700, 0.38)])  # one-step transient first
    assert eos.warm_up_ratio(growing) > 2
    falling = np.concatenate([[2.0], 0.66 * np.exp(-np.arange(999) / 400)])  # σ = 2 under progressive sharpening
    assert eos.warm_up_ratio(falling) < 1
    assert eos.warm_up_ratio(np.full(100, 0.3)) == pytest.approx(1.0)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: eos.cycle_pairs([0, 2], [1.0, 1.0], [0.1] * 4), "two consecutive states"),
    (lambda: eos.cycle_pairs([0, 1, 5], [1.0, 1.0, 1.0], [0.1] * 4), "steps must be states 0..3"),
    (lambda: eos.trend_factor([0, 1], [1.0, -1.0]), "values must be positive"),
    (lambda: eos.trend_factor([1, 1], [1.0, 2.0]), "2 distinct steps"),
    (lambda: eos.undershoot_mechanism(1.5, 0.7, [], rise=1.2), "factors must be positive"),
    (lambda: eos.undershoot_mechanism(1.5, 0.7, [1.0], rise=0), "rise"),
    (lambda: eos.initial_excess([0], [3.0]), "at least 2 measurements"),
    (lambda: eos.warm_up_ratio([0.1, 0.2], head=1.0), "head"),
    (lambda: eos.warm_up_ratio([0.1, 0.0]), "positive"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
