"""Fluctuation–dissipation relations: the exact per-step identity, FDR1 and FDR2 on a noisy quadratic
(closed-form stationary moments), the half-window ratio, the "fdr" trace and the "fdr2" probe."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sgdlab import optim
from sgdlab.curvature import as_batches, vectors
from sgdlab.measure import fdr
from sgdlab.measure.probes import ProbeContext
from sgdlab.task import losses
from sgdlab.theory import directions, fluctuation_dissipation
from sgdlab.training.config import RunConfig, validate
from sgdlab.training.loop import run

F64 = torch.float64


def test_norm_change_is_exact_to_float64_precision():
    g = torch.Generator().manual_seed(0)
    for lr in (1e-3, 0.1, 2.0):
        theta, d = torch.randn(1000, generator=g, dtype=F64), torch.randn(1000, generator=g, dtype=F64)
        after = theta - lr * d
        expected = after @ after - theta @ theta
        assert float(fluctuation_dissipation.norm_change(theta, d, lr)) == pytest.approx(float(expected), rel=1e-12, abs=1e-12)


def test_norm_change_holds_for_every_step_of_torch_sgd_with_momentum_and_weight_decay():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.7, weight_decay=0.05)
    for _ in range(20):
        x, y = torch.randn(16, 4, dtype=F64), torch.randint(0, 3, (16,))
        theta = vectors.parameter_vector(model)
        opt.zero_grad()
        losses.cross_entropy(model(x), y).backward()
        opt.step()
        velocity = vectors.flat([opt.state[p]["momentum_buffer"] for p in model.parameters()])
        after = vectors.parameter_vector(model)
        assert float(fluctuation_dissipation.norm_change(theta, velocity, 0.3)) == pytest.approx(
            float(after @ after - theta @ theta), rel=1e-9, abs=1e-12)


def test_observables_of_plain_sgd_are_theta_dot_grad_f_and_half_lr_grad_f_squared():
    theta, grad = torch.tensor([1.0, -2.0], dtype=F64), torch.tensor([0.5, 0.25], dtype=F64)
    o_l, o_r = fluctuation_dissipation.observables(theta, grad, 0.2, weight_decay=0.1)
    grad_f = torch.tensor([0.6, 0.05], dtype=F64)
    assert o_l == pytest.approx(float(theta @ grad_f))
    assert o_r == pytest.approx(0.1 * float(grad_f @ grad_f))
    assert fluctuation_dissipation.observables(theta, grad, 0.2, velocity=grad, momentum=0.5, dampening=0.5)[1] == pytest.approx(
        0.1 * 3 * float(grad @ grad))


def noisy_quadratic(h: float, sigma: float, lr: float, momentum: float, dampening: float, steps: int,
                    chains: int = 4000, weight_decay: float = 0.0, seed: int = 0):
    """SGD on f = ½ h‖θ‖² with gradient noise N(0, σ²) per coordinate (independent coordinates: chains),
    started at rest at θ = 0, as torch.optim.SGD; per-step observables after a burn-in of half the steps."""
    g = torch.Generator().manual_seed(seed)
    theta = nn.Parameter(torch.zeros(chains, dtype=F64))
    opt = torch.optim.SGD([theta], lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    o_l, o_r, grad_sq, forms = [], [], [], []
    for t in range(steps):
        before = theta.detach().clone()
        noise = sigma * torch.randn(chains, generator=g, dtype=F64)
        theta.grad = (h - weight_decay) * before + noise  # the loss's gradient: f's less the weight decay
        opt.step()
        if t >= steps // 2:
            velocity = opt.state[theta]["momentum_buffer"] if momentum else None
            values = fluctuation_dissipation.observables(before, theta.grad, lr, weight_decay=weight_decay, velocity=velocity,
                                     momentum=momentum, dampening=dampening)
            o_l.append(values[0])
            o_r.append(values[1])
            grad_f = h * before + noise
            grad_sq.append(float((h * before) @ (h * before)))
            forms.append(h * float(grad_f @ grad_f))
    return o_l, o_r, grad_sq, forms


@pytest.mark.parametrize("momentum, dampening", [(0.0, 0.0), (0.5, 0.0), (0.9, 0.3)])
def test_fdr1_holds_at_stationarity_of_a_noisy_quadratic(momentum, dampening):
    o_l, o_r, _, _ = noisy_quadratic(h=2.0, sigma=1.0, lr=0.2, momentum=momentum, dampening=dampening, steps=600,
                                     weight_decay=0.5)
    ratio = sum(o_l) / sum(o_r)
    assert fluctuation_dissipation.fdr1_distance(ratio) < 0.02
    if momentum:  # without the factor (1 + μ)/(1 − δ) the relation would be off by that factor
        assert abs(ratio * fluctuation_dissipation.momentum_factor(momentum, dampening) - 1) > 0.3


def test_stationary_moments_of_the_noisy_quadratic_satisfy_fdr1_and_fdr2_in_closed_form():
    h, sigma, lr = 3.0, 0.7, 0.1
    theta_sq = lr * sigma**2 / (h * (2 - lr * h))  # ⟨θ²⟩ of θ' = θ − η(hθ + ξ)
    o_l, o_r = h * theta_sq, 0.5 * lr * (h**2 * theta_sq + sigma**2)
    assert o_l == pytest.approx(o_r, rel=1e-14)
    left, right = h**2 * theta_sq, 0.5 * lr * h * (h**2 * theta_sq + sigma**2)
    assert left == pytest.approx(right, rel=1e-14)
    assert fluctuation_dissipation.hessian_magnitude(left, o_r) == pytest.approx(h, rel=1e-14)
    assert fluctuation_dissipation.hessian_magnitude(left, o_l) == pytest.approx(h, rel=1e-14)  # FDR1: ⟨O_L⟩ = ⟨O_R⟩


def test_fdr2_and_the_hessian_magnitude_hold_on_a_simulated_noisy_quadratic():
    h, lr = 3.0, 0.1
    o_l, o_r, grad_sq, forms = noisy_quadratic(h=h, sigma=0.7, lr=lr, momentum=0.0, dampening=0.0, steps=600)

    def mean(xs):
        return sum(xs) / len(xs)

    assert mean(grad_sq) == pytest.approx(fluctuation_dissipation.fdr2_right(lr, torch.tensor(forms, dtype=F64)), rel=0.03)
    assert fluctuation_dissipation.hessian_magnitude(mean(grad_sq), mean(o_r)) == pytest.approx(h, rel=0.03)
    assert fluctuation_dissipation.hessian_magnitude(mean(grad_sq), mean(o_l)) == pytest.approx(h, rel=0.03)


def test_half_window_ratio_uses_the_last_half_of_the_steps():
    o_l, o_r = [10.0, 10.0, 1.0, 3.0], [1.0, 1.0, 1.0, 1.0]
    assert fluctuation_dissipation.half_window_ratio(o_l, o_r) == pytest.approx(2.0)
    # windows of 1, 1 and 2 steps: the last window ends after half of the 4 steps, the others do not
    assert fluctuation_dissipation.half_window_ratio([10.0, 10.0, 2.0], [1.0, 1.0, 1.0], counts=[1, 1, 2]) == pytest.approx(2.0)
    assert fluctuation_dissipation.half_window_ratio(o_l, o_r, counts=[1, 1, 1, 1]) == pytest.approx(2.0)
    running = fluctuation_dissipation.running_half_ratio([2.0, 4.0], [1.0, 1.0], [1, 1])
    assert running.tolist() == pytest.approx([2.0, 4.0])
    # a restart after step 2: the windows before it no longer count
    running = fluctuation_dissipation.running_half_ratio([9.0, 9.0, 2.0, 1.0, 3.0], [1.0] * 5, [1, 1, 1, 1, 2], restarts=[2])
    assert running.tolist() == pytest.approx([9.0, 9.0, 2.0, 1.0, 3.0])
    assert fluctuation_dissipation.running_half_ratio([9.0, 1.0, 3.0], [1.0] * 3, [2, 2, 2], restarts=[2])[-1] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="o_l and o_r"):
        fluctuation_dissipation.half_window_ratio([1.0], [1.0, 2.0])


TINY = RunConfig(train_size=256, epochs=2, batch_size=32, hessian_size=128, measure_every=1.0, probes=("losses",),
                 traces=("fdr",), momentum=0.5, weight_decay=0.01, lr=0.1)


def test_the_fdr_trace_averages_every_step_between_measurements():
    ds = run(TINY, cache=False, progress=False)
    steps = ds.fdr_steps.dropna("step")
    assert steps.values.tolist() == [8, 8]
    assert bool((ds.fdr_or.dropna("step") > 0).all())
    assert ds.fdr_ol.attrs["units"] == "loss"


@pytest.mark.parametrize("optimizer", [optim.Nudged(gamma=0.5, k=2), optim.CDAT()])
def test_the_fdr_trace_refuses_optimizers_that_do_not_take_the_sgd_step(optimizer):
    import dataclasses

    with pytest.raises(ValueError, match="trace 'fdr'"):
        validate(dataclasses.replace(TINY, optimizer=optimizer))


def test_the_fdr2_probe_matches_a_dense_hessian_on_a_linear_model():
    torch.manual_seed(2)
    model = nn.Linear(3, 2).double()
    x, y = torch.randn(40, 3, dtype=F64), torch.randint(0, 2, (40,))
    config = RunConfig(loss="mse", weight_decay=0.1, probe_gradients=4, dtype="float64", probes=("fdr2",))
    ctx = ProbeContext(model=model, config=config, loss_fn=losses.mse, train=(x, y), test=(x, y),
                       hessian_batches=as_batches(x, y, 40), lr=0.05, batch_size=8)
    out = fdr.fdr2(ctx)
    theta = vectors.parameter_vector(model)
    loss = directions.loss_of(model, [(x, y)], losses.mse)

    def f(t):  # f = L + (λ/2)‖θ‖², λ = 0.1
        return loss(t) + 0.05 * t @ t

    H = torch.func.hessian(f)(theta)
    grad = torch.func.grad(f)(theta)
    grads = ctx.state["minibatch_gradients"][1] + 0.1 * theta
    forms = torch.einsum("bi,ij,bj->b", grads, H, grads)
    assert out["fdr2_grad_sq"][1] == pytest.approx(float(grad @ grad), rel=1e-10)
    assert out["fdr2_right"][1] == pytest.approx(0.025 * float(forms.mean()), rel=1e-10)
    assert out["fdr2_rayleigh"][1] == pytest.approx(float(forms.mean() / grads.pow(2).sum(1).mean()), rel=1e-10)
    assert not math.isnan(out["fdr2_batch_grad_sq"][1])


def relaxing_quadratic(theta0: float, steps: int, h: float = 2.0, sigma: float = 1.0, lr: float = 0.01,
                       chains: int = 200, every: int = 50, seed: int = 0):
    """Plain SGD on f = ½ h‖θ‖² with gradient noise, from θ = ``theta0`` in every coordinate: per-measurement
    means of ‖∇f‖² (over the chains) and of (η/2) ∇f_Bᵀ H ∇f_B, every ``every`` steps."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.full((chains,), theta0, dtype=F64)
    left, right = [], []
    for t in range(steps):
        grad_b = h * theta + sigma * torch.randn(chains, generator=g, dtype=F64)
        if t % every == 0:
            left.append(float((h * theta) @ (h * theta)))
            right.append(0.5 * lr * h * float(grad_b @ grad_b))
        theta = theta - lr * grad_b
    return left, right


def test_fdr2_ratio_with_error_brackets_one_at_stationarity_and_not_while_relaxing():
    stationary_start = math.sqrt(0.01 / (2.0 * (2 - 0.02)))  # the stationary ⟨θ²⟩^½ of θ' = θ − η(hθ + ξ)
    ratio, error = fluctuation_dissipation.ratio_with_error(*relaxing_quadratic(stationary_start, 20000), blocks=10)
    assert 0 < error < 0.02 and abs(ratio - 1) < 3 * error
    relaxing = relaxing_quadratic(0.3, 2000, h=0.5, lr=0.002, every=10)  # relaxation time 1/(2ηh) = 500 steps
    ratio, error = fluctuation_dissipation.ratio_with_error(*relaxing, blocks=10)
    assert ratio - 1 > 2 * error  # ⟨f⟩ still falls: the left side exceeds the right


@pytest.mark.parametrize("blocks", [1, 7, 2.0])
def test_ratio_with_error_refuses_a_bad_block_count(blocks):
    with pytest.raises(ValueError, match="blocks"):
        fluctuation_dissipation.ratio_with_error([1.0] * 6, [1.0] * 6, blocks=blocks)


def test_norm_sq_change_recovers_the_weight_norm_of_plain_sgd_with_weight_decay_from_window_means():
    g = torch.Generator().manual_seed(3)
    lr, wd, window = 0.05, 0.1, 7
    theta = torch.randn(50, generator=g, dtype=F64)
    start, means, norms = float(theta @ theta), [], []
    for _ in range(6):
        pairs = []
        for _ in range(window):
            grad_l = 0.3 * theta + torch.randn(50, generator=g, dtype=F64)
            pairs.append(fluctuation_dissipation.observables(theta, grad_l, lr, weight_decay=wd))
            theta = theta - lr * (grad_l + wd * theta)
        means.append([sum(p[i] for p in pairs) / window for i in (0, 1)])
        norms.append(float(theta @ theta) - start)
    o_l, o_r = zip(*means)
    change = fluctuation_dissipation.norm_sq_change(o_l, o_r, [window] * 6, lr)
    assert change == pytest.approx(norms, rel=1e-10)
    with pytest.raises(ValueError, match="counts"):
        fluctuation_dissipation.norm_sq_change(o_l, o_r, [window] * 5, lr)


def test_drift_fraction_explains_fdr2s_imbalance_while_relaxing_and_vanishes_at_stationarity():
    h, lr, every = 0.5, 0.002, 10
    stationary = math.sqrt(lr / (h * (2 - lr * h)))  # ⟨θ²⟩^½ of θ' = θ − η(hθ + ξ) with σ = 1
    for theta0, expect_drift in ((stationary, False), (0.3, True)):
        left, right = relaxing_quadratic(theta0, 2000, h=h, lr=lr, every=every)
        f = [x / (2 * h) for x in left]  # ½ h θ² summed over the chains, from ‖∇f‖² = h² θ²
        grad_sq = sum(left) / len(left)
        fraction = fluctuation_dissipation.drift_fraction(f[0], f[-1], every * (len(f) - 1), lr, grad_sq)
        imbalance = 1 - sum(right) / sum(left)
        if expect_drift:  # f falls: the drift accounts for FDR2's imbalance
            assert fraction > 0.3 and fraction == pytest.approx(imbalance, abs=0.15)
        else:
            assert abs(fraction) < 0.1 and abs(imbalance) < 0.1


def test_drift_fraction_refuses_an_empty_window_and_a_zero_gradient():
    with pytest.raises(ValueError, match="steps"):
        fluctuation_dissipation.drift_fraction(1.0, 0.9, 0, 0.1, 1.0)
    with pytest.raises(ValueError, match="grad_sq"):
        fluctuation_dissipation.drift_fraction(1.0, 0.9, 5, 0.1, 0.0)
