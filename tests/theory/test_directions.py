"""Direction maths against closed forms on a quadratic, and against a dense float64 Hessian of a tiny model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdlab.curvature import vectors
from sgdlab.theory import directions as D

LAMBDAS = torch.tensor([5.0, 2.0, 0.5, 0.1], dtype=torch.float64)
Q = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
A = Q @ torch.diag(LAMBDAS) @ Q.T
THETA = torch.tensor([1.0, -0.5, 0.3, 2.0], dtype=torch.float64)


def quadratic(theta: torch.Tensor) -> torch.Tensor:
    return 0.5 * theta @ A @ theta


def noisy_gradients() -> torch.Tensor:
    noise = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return A @ THETA + 0.1 * noise


def test_step_decomposition_matches_the_quadratic_closed_form():
    grads, lr = noisy_gradients(), 0.3
    got = D.step_decomposition(quadratic, THETA, grads, Q, lr)
    slope = A @ THETA
    full = torch.stack([-lr * g @ slope + 0.5 * lr**2 * g @ A @ g for g in grads]).mean().abs()
    for i, lam in enumerate(LAMBDAS):
        c = grads @ Q[:, i]
        for j, s in enumerate(D.SCALES):
            change = (-s * lr * c * (slope @ Q[:, i]) + 0.5 * (s * lr * c) ** 2 * lam).mean()
            assert got[i, j].item() == pytest.approx((change / full).item(), rel=1e-9)


def test_sharpest_direction_overshoots_at_the_full_step_and_descends_at_a_fraction():
    # ηλ₁ = 1.5: the whole step along e₁ lands beyond the floor, a quarter of it lands short of it.
    change = D.step_decomposition(quadratic, THETA, (A @ THETA)[None], Q[:, :1], 0.3)[0]
    assert change[D.SCALES.index(0.25)] < 0 and change[D.SCALES.index(2.0)] > 0


def test_cross_section_matches_the_quadratic_closed_form():
    units = torch.tensor([0.2, 0.7], dtype=torch.float64)
    got = D.cross_section(quadratic, THETA, Q[:, :2], units)
    for i in range(2):
        u, lam = Q[:, i], LAMBDAS[i]
        a = torch.tensor(D.OFFSETS, dtype=torch.float64) * units[i]
        torch.testing.assert_close(got[i], quadratic(THETA) + a * (A @ THETA @ u) + 0.5 * a**2 * lam)
    assert D.OFFSETS == (-16, -8, -4, -2, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 2, 4, 8, 16)


def test_steps_cross_the_valley_exactly_where_lr_times_curvature_exceeds_one():
    # With the exact gradient, the step along eᵢ overshoots the floor iff ηλᵢ > 1: only e₁ (ηλ = 1.5).
    crossed = D.opposite_walls(quadratic, THETA, (A @ THETA)[None], Q, lr=0.3)
    torch.testing.assert_close(crossed, torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64))


def test_orient_points_the_mean_step_to_positive_offsets_and_step_lengths_average_magnitudes():
    grads = noisy_gradients()
    oriented = D.orient(grads, Q)
    assert (-(grads.mean(0) @ oriented) >= 0).all()
    assert torch.equal(oriented.abs(), Q.abs())
    torch.testing.assert_close(D.step_lengths(grads, Q, 0.3), 0.3 * (grads @ Q).abs().mean(0))


def test_alignment_and_its_random_baseline():
    grads = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    directions = torch.eye(3, dtype=torch.float64)[:, :2]
    torch.testing.assert_close(D.alignment(grads, directions), torch.tensor([0.3, 0.4], dtype=torch.float64))
    assert D.random_alignment(1) == pytest.approx(1.0)
    assert D.random_alignment(2) == pytest.approx(2 / math.pi)
    assert D.random_alignment(3) == pytest.approx(0.5)
    assert D.random_alignment(10**6) == pytest.approx(math.sqrt(2 / (math.pi * 10**6)), rel=1e-5)
    u = D.random_direction(50, torch.Generator().manual_seed(0))
    assert u.shape == (50, 1) and u.norm().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        D.random_alignment(0)


def tiny_mlp_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g))
               for n in (7, 5)]
    return model, batches


def test_loss_of_is_the_size_weighted_mean_loss_and_differentiates_like_the_model():
    model, batches = tiny_mlp_and_data()
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    loss = D.loss_of(model, batches)
    theta = vectors.parameter_vector(model)
    expected = F.cross_entropy(model(x), y)
    torch.testing.assert_close(loss(theta), expected)
    grads = torch.autograd.grad(expected, list(model.parameters()))
    torch.testing.assert_close(D.gradient_of(loss, theta), torch.cat([g.reshape(-1) for g in grads]))


def test_cross_section_curvature_along_the_top_eigenvector_is_lambda_1():
    model, batches = tiny_mlp_and_data()
    loss, theta = D.loss_of(model, batches), vectors.parameter_vector(model)
    values, eigenvectors = torch.linalg.eigh(torch.func.hessian(loss)(theta))
    unit = 1e-3
    section = D.cross_section(loss, theta, eigenvectors[:, -1:], torch.tensor([unit], dtype=torch.float64),
                              offsets=(-1.0, 0.0, 1.0))[0]
    second_difference = (section[0] - 2 * section[1] + section[2]) / unit**2
    assert second_difference.item() == pytest.approx(values[-1].item(), rel=1e-4)
