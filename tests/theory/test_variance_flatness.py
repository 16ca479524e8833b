"""Trajectory PCA, flatness and the power-law fit against closed forms; the weights trace and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sgdlab.findings import trajectory_analysis
from sgdlab.measure import probes
from sgdlab.task import losses, models
from sgdlab.theory import variance_flatness
from sgdlab.training.clock import Every
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import prepare, run


def test_pca_of_a_known_gaussian_recovers_its_axes_and_variances():
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    stds = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.1])
    samples = (rng.normal(size=(20000, 6)) * stds) @ q.T + 3.0
    result = variance_flatness.pca(samples, 3)
    np.testing.assert_allclose(result.variances, stds[:3] ** 2, rtol=0.03)
    np.testing.assert_allclose(np.abs(result.components @ q[:, :3]), np.eye(3), atol=0.02)
    np.testing.assert_allclose(result.mean, 3.0, atol=0.05)
    np.testing.assert_allclose(result.components @ result.components.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(result.projections, (samples - result.mean) @ result.components.T, atol=1e-9)
    assert result.components_holding(0.9) == 2  # 16 + 4 of 21.3


def test_pca_over_more_components_than_snapshots_is_rejected():
    with pytest.raises(ValueError, match=r"n_components \(5\) must be at most the number of snapshots \(4\)"):
        variance_flatness.pca(np.zeros((4, 10)), 5)


@pytest.mark.parametrize("h, base", [(4.0, 1.0), (0.01, 0.3), (250.0, 2.0)])
def test_flatness_of_a_parabola_is_its_closed_form_width(h, base):
    width = variance_flatness.flatness(lambda d: base + 0.5 * h * d ** 2, step=1e-3)
    assert width == pytest.approx(2 * math.sqrt(2 * (math.e - 1) * base / h), rel=1e-3)


def test_flatness_adds_the_two_sides_of_an_asymmetric_profile():
    def profile(d: float) -> float:
        return 1.0 + (d ** 2 if d > 0 else 4 * d ** 2)

    assert variance_flatness.flatness(profile, factor=2.0) == pytest.approx(1.0 + 0.5, rel=1e-3)


@pytest.mark.parametrize("factor", [1.0, 0.5, -2.0])
def test_flatness_factors_of_at_most_one_are_rejected(factor):
    with pytest.raises(ValueError, match="factor must be greater than 1"):
        variance_flatness.flatness(lambda d: 1 + d ** 2, factor=factor)


def test_a_profile_that_never_reaches_the_level_is_rejected():
    with pytest.raises(ValueError, match="no finite width"):
        variance_flatness.flatness(lambda d: 1 + math.tanh(abs(d)), factor=3.0)


def test_curvature_is_exact_on_a_parabola_and_sees_the_quartic_term_of_a_steeper_profile():
    assert variance_flatness.curvature(lambda d: 2.0 + 0.5 * 5.0 * d ** 2, 0.3) == pytest.approx(5.0)
    # 1 + h d²/2 + c d⁴: the second difference at s is h + 2 c s²
    assert variance_flatness.curvature(lambda d: 1.0 + 2.0 * d ** 2 + 3.0 * d ** 4, 0.5) == pytest.approx(4.0 + 1.5)
    with pytest.raises(ValueError, match="scale"):
        variance_flatness.curvature(lambda d: d ** 2, 0.0)


def test_power_law_fit_recovers_an_exact_exponent_and_brackets_a_noisy_one():
    f = np.geomspace(1, 20, 30)
    exact = variance_flatness.power_law_fit(f, 3.0 * f ** -4.0, n_boot=200)
    assert (exact.psi, exact.low, exact.high) == pytest.approx((4.0, 4.0, 4.0))
    assert exact.prefactor == pytest.approx(3.0)
    rng = np.random.default_rng(1)
    noisy = variance_flatness.power_law_fit(f, f ** 2.0 * np.exp(rng.normal(0, 0.3, 30)), n_boot=500)
    assert noisy.low < -2.0 < noisy.high and noisy.high < 0


def test_power_law_fit_needs_positive_values():
    with pytest.raises(ValueError, match="positive and finite"):
        variance_flatness.power_law_fit(np.array([1.0, 2.0, 0.0]), np.ones(3))


TINY = RunConfig(train_size=256, epochs=3, batch_size=32, probes=("losses",), hessian_size=64,
                 model_options={"width": 8, "depth": 2}, traces=("weights",), save_parameters=True,
                 every={"weights": Every(steps=1, start=1.0)}, trace_options={"weights": {"layer": "3.weight"}})


def test_weights_trace_stores_the_layer_after_each_step_and_analyse_fits_it():
    ds = run(TINY, cache=False, progress=False)
    snapshots = ds.layer_weights.dropna("iteration", how="all")
    assert snapshots.shape == (16, 64)
    final = ds.final_state.values
    offset = 40 * 8 + 8  # the first layer's weight and bias come first in the state
    np.testing.assert_allclose(snapshots.isel(iteration=-1).values, final[offset:offset + 64], rtol=1e-6)
    analysis = trajectory_analysis.analyse(ds, 5, n_boot=50)
    assert analysis.sizes["component"] == 5 and (analysis.flatness > 0).all()
    assert np.all(np.diff(analysis.variance.values) <= 0)
    assert analysis.attrs["psi_low"] <= analysis.attrs["psi"] <= analysis.attrs["psi_high"]


def test_a_layer_name_that_does_not_exist_is_rejected_naming_the_valid_ones():
    config = RunConfig(**{**TINY.__dict__, "trace_options": {"weights": {"layer": "middle"}}})
    with pytest.raises(ValueError, match=r"'middle' is not a parameter of this model; choose one of: 1.weight, 1.bias"):
        run(config, cache=False, progress=False)


def test_the_weights_trace_needs_a_layer():
    with pytest.raises(ValueError, match="needs trace_options"):
        run(RunConfig(**{**TINY.__dict__, "trace_options": {}}), cache=False, progress=False)


def test_the_whole_model_is_recorded_and_analyse_holds_every_layer_at_its_window_mean():
    config = RunConfig(**{**TINY.__dict__, "trace_options": {"weights": {"layer": "3.weight", "whole_model": True}}})
    ds = run(config, cache=False, progress=False)
    states = ds.model_weights.dropna("iteration", how="all")
    offset = 40 * 8 + 8
    np.testing.assert_allclose(states.values[:, offset:offset + 64], ds.layer_weights.dropna("iteration", how="all"))
    np.testing.assert_allclose(states.isel(iteration=-1).values, ds.final_state.values, rtol=1e-6)
    analysis = trajectory_analysis.analyse(ds, 6, skip=1, n_boot=50)
    prepared, model = prepare(config)
    models.load_state_vector(model, torch.as_tensor(states.mean("iteration").values, dtype=torch.float32))
    loss = probes.evaluate(model, prepared.x_train, prepared.y_train, 1024, "eval", losses.cross_entropy)[0]
    assert analysis.attrs["center_loss"] == pytest.approx(loss, rel=1e-5)
    fit = variance_flatness.power_law_fit(analysis.flatness.values[1:], analysis.variance.values[1:], n_boot=50)
    assert analysis.attrs["psi"] == pytest.approx(fit.psi)
    assert analysis.curvature.shape == (6,) and np.isfinite(analysis.curvature).all()
    assert analysis.attrs["flatness_range"] == pytest.approx(float(analysis.flatness[1:].max() / analysis.flatness[1:].min()))


def test_leaving_out_too_many_components_is_rejected():
    with pytest.raises(ValueError, match="skip"):
        trajectory_analysis.analyse(run(TINY, cache=False, progress=False), 5, skip=3)


def ou_snapshots(curvatures: np.ndarray, noise: np.ndarray, *, lr: float = 0.002, steps: int = 300_000,
                 every: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Snapshots of w' = w − η H w + √η ξ, ξ ~ N(0, diag(``noise``)) in H's eigenbasis, started at its
    stationary law; H = Q diag(``curvatures``) Qᵀ with a random rotation Q. Returns (snapshots (T, D), Q).
    Stationary variance along eigenvector i: noiseᵢ / (hᵢ (2 − η hᵢ)) (isotropic noise 2T: T/hᵢ, Langevin)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(len(curvatures), len(curvatures))))[0]
    decay = 1 - lr * curvatures
    stationary = np.sqrt(lr * noise / (1 - decay**2))
    kicks = rng.normal(size=(steps, len(curvatures))) * np.sqrt(lr * noise)
    kicks[0] = rng.normal(size=len(curvatures)) * stationary
    path = np.stack([lfilter([1.0], [1.0, -d], kicks[:, i]) for i, d in enumerate(decay)], axis=1)
    return path[::every] @ q.T, q


def quadratic_exponent(curvatures: np.ndarray, noise: np.ndarray) -> variance_flatness.PowerLaw:
    """ψ of σᵢ² ∝ Fᵢ^(−ψ) from an Ornstein–Uhlenbeck trajectory on L(w) = 1 + ½ wᵀHw, through pca, flatness and
    power_law_fit, with the first component left out of the fit as in the analysis of a run."""
    snapshots, q = ou_snapshots(curvatures, noise)
    hessian = q @ np.diag(curvatures) @ q.T
    result = variance_flatness.pca(snapshots, len(curvatures))

    def along(direction):
        return lambda d: 1.0 + 0.5 * (result.mean + d * direction) @ hessian @ (result.mean + d * direction)

    widths = np.array([variance_flatness.flatness(along(c), step=math.sqrt(v))
                       for v, c in zip(result.variances, result.components)])
    return variance_flatness.power_law_fit(widths[1:], result.variances[1:], n_boot=500)


CURVATURES = np.geomspace(0.1, 10.0, 12)  # the flatness spans a factor 10


def test_the_pipeline_recovers_the_equilibrium_exponent_of_langevin_dynamics():
    fit = quadratic_exponent(CURVATURES, np.full(12, 2e-3))  # isotropic noise: σᵢ² = T/hᵢ ∝ Fᵢ²
    assert fit.low <= -2 <= fit.high and fit.high - fit.low < 0.5


def test_noise_growing_with_the_curvature_gives_the_inverse_relation_and_misses_minus_two():
    fit = quadratic_exponent(CURVATURES, 2e-3 * CURVATURES**3)  # σᵢ² ∝ hᵢ² ∝ Fᵢ⁻⁴
    assert fit.low > 0 and not fit.low <= -2 <= fit.high
    assert 3.5 < fit.low <= fit.high < 4.5  # 4 up to the discrete step's factor 2 − ηhᵢ
