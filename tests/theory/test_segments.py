"""The segment between consecutive iterates: closed-form floors of quadratics, convexity, height, the trace."""

from __future__ import annotations

import numpy as np
import pytest

from sgdlab.measure import probes
from sgdlab.theory import segments
from sgdlab.training import config as configuration
from sgdlab.training import loop as train
from sgdlab.training.clock import Every
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import run

A = segments.ALPHAS


def quadratic_segment(theta: np.ndarray, step: np.ndarray, hessian: np.ndarray, minimum: np.ndarray):
    """ℓ(α) of L(θ) = ½ (θ − m)ᵀ H (θ − m) + 1 on θ + α·step, and its exact minimiser."""
    ell = [0.5 * (theta + a * step - minimum) @ hessian @ (theta + a * step - minimum) + 1.0 for a in A]
    alpha_star = -(step @ hessian @ (theta - minimum)) / (step @ hessian @ step)
    return np.asarray(ell), alpha_star


def test_the_grid_runs_from_minus_a_quarter_to_one_and_a_quarter_through_both_iterates():
    assert A[0] == -0.25 and A[-1] == 1.25 and 0.0 in A and 1.0 in A


@pytest.mark.parametrize("lr", [0.8, 1.6, 2.4])
def test_floor_of_a_quadratic_is_its_exact_minimiser_along_the_step(lr):
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    hessian = q @ np.diag([2.0, 1.0, 0.5, 0.1]) @ q.T
    theta, minimum = rng.normal(size=4), rng.normal(size=4)
    step = -lr * hessian @ (theta - minimum)  # a gradient-descent step
    ell, alpha_star = quadratic_segment(theta, step, hessian, minimum)
    assert -0.25 < alpha_star < 1.25
    found, floor = segments.valley_floor(A, ell)
    assert found == pytest.approx(alpha_star, abs=1e-9)
    assert floor == pytest.approx(np.interp(alpha_star, A, ell), abs=0.01)
    assert segments.height(A, ell) == pytest.approx(ell[A.tolist().index(0.0)] - floor)
    assert segments.nonconvexity(A, ell) == pytest.approx(0.0, abs=1e-12)


def test_a_step_across_the_valley_has_an_interior_floor_and_a_short_one_does_not():
    assert segments.is_interior(segments.valley_floor(A, (A - 0.5) ** 2)[0])
    short = (A - 3.0) ** 2  # the minimum lies beyond the grid: the floor is its end, not interior
    assert segments.valley_floor(A, short) == (1.25, pytest.approx((1.25 - 3.0) ** 2))
    assert not segments.is_interior(segments.valley_floor(A, short)[0])
    assert not segments.is_interior(segments.valley_floor(A, (A + 0.1) ** 2)[0])


def test_nonconvexity_is_one_for_a_symmetric_concave_segment_and_in_between_for_a_bump():
    assert segments.nonconvexity(A, -(A - 0.5) ** 2) == pytest.approx(1.0)
    bumpy = (A - 0.5) ** 2 + 0.05 * np.exp(-((A - 0.5) / 0.05) ** 2)
    assert 0.05 < segments.nonconvexity(A, bumpy) < 0.5
    assert segments.nonconvexity(A, np.ones_like(A)) == 0.0


def test_a_segment_needs_increasing_alphas_and_matching_losses():
    with pytest.raises(ValueError, match="increasing alphas"):
        segments.valley_floor(A[::-1], A)
    with pytest.raises(ValueError, match="one loss per alpha"):
        segments.nonconvexity(A, A[:-1])
    with pytest.raises(ValueError, match="α = 0"):
        segments.height(A + 0.01, A)


TINY = RunConfig(train_size=256, epochs=2, batch_size=32, probes=("losses",), model_options={"width": 16}, hessian_size=64,
                 traces=("segment",), trace_options={"segment": {"examples": 64}})


def test_trace_records_the_segment_of_each_step_of_its_windows_and_ends_at_the_iterates():
    windows = (Every(steps=1, start=0.0, stop=2 / 8), Every(steps=1, start=1.0, stop=1.0 + 2 / 8))
    config = RunConfig(**{**TINY.__dict__, "every": {"segment": windows}, "traces": ("segment", "loss")})
    ds = run(config, cache=False, progress=False)
    assert ds.segment_loss.dims == ("iteration", "alpha")
    traced = ds.segment_loss.dropna("iteration", how="all").iteration.values
    assert traced.tolist() == [0, 1, 2, 8, 9, 10]
    assert np.isfinite(ds.segment_loss.sel(iteration=traced)).all()
    assert (ds.segment_step_norm.sel(iteration=traced) > 0).all()
    summary = segments.summarise(ds.segment_loss)
    assert summary.sizes["iteration"] == 6 and set(summary) >= {"alpha_star", "height", "nonconvexity", "interior"}


def test_segment_at_zero_is_the_loss_before_the_step_on_the_subset():
    config = RunConfig(**{**TINY.__dict__, "every": {"segment": Every(steps=1, start=0.0, stop=0.0)}})
    ds = run(config, cache=False, progress=False)
    prepared, model = train.prepare(config)
    subset = train._fixed_subset(256, None, config.seed, "eval_subset")[:64]
    loss0 = probes.evaluate(model, prepared.x_train[subset], prepared.y_train[subset], 1024)[0]
    assert float(ds.segment_loss.sel(iteration=0, alpha=0.0)) == pytest.approx(loss0, rel=1e-6)


@pytest.mark.parametrize("options, message", [
    ({"segment": {"examples": 0}}, "examples"),
    ({"segment": {"size": 3}}, "among: examples"),
    ({"weights": {"layer": "1.weight"}}, "not one of this run's traces"),
])
def test_bad_trace_options_are_rejected_before_training(options, message):
    with pytest.raises(ValueError, match=message):
        run(RunConfig(**{**TINY.__dict__, "trace_options": options}), cache=False, progress=False)


def test_more_examples_than_the_evaluation_subset_are_rejected():
    with pytest.raises(ValueError, match="at most the evaluation subset"):
        run(RunConfig(**{**TINY.__dict__, "trace_options": {"segment": {"examples": 257}}}), cache=False, progress=False)


def test_a_window_outside_the_run_is_rejected_naming_the_trace():
    windows = (Every(steps=1, start=0.0, stop=0.1), Every(steps=1, start=5.0, stop=5.1))
    with pytest.raises(ValueError, match=r"every\['segment'\].*never fires"):
        run(RunConfig(**{**TINY.__dict__, "every": {"segment": windows}}), cache=False, progress=False)


def test_windows_round_trip_through_json_and_keep_the_hash_of_a_single_window():
    windows = (Every(steps=1, start=0.0, stop=0.25), Every(steps=1, start=1.0, stop=1.25))
    config = RunConfig(**{**TINY.__dict__, "every": {"segment": windows}})
    assert configuration.from_json(configuration.to_json(config)) == config
    single = RunConfig(**{**TINY.__dict__, "every": {"segment": windows[0]}})
    assert configuration.from_json(configuration.to_json(single)) == single
    assert configuration.config_hash(config) != configuration.config_hash(single)
    with pytest.raises(ValueError, match="tuple of them"):
        configuration.validate(RunConfig(**{**TINY.__dict__, "every": {"segment": ()}}))
