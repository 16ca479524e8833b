"""Nudged SGD: exactly SGD at γ = 1, step sizes γη inside the eigen-subspace, momentum, refresh, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdlab.curvature import vectors
from sgdlab.optim import NudgedSGD, top_eigenvectors
from sgdlab.theory import directions
from tests.conftest import tiny_mlp


def batches(n: int = 4, size: int = 8):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 5, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def orthonormal(dim: int, k: int, seed: int = 2, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(dim, k, generator=g, dtype=dtype))[0]


def train(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    for x, y in batches():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-3)])
def test_gamma_one_is_exactly_torch_sgd(momentum, weight_decay):
    model, nudged_model = tiny_mlp(), tiny_mlp()
    expected = train(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay))
    nudged = NudgedSGD(nudged_model.parameters(), lr=0.1, gamma=1.0, momentum=momentum, weight_decay=weight_decay)
    nudged.set_basis(orthonormal(nudged.n_params, 3))
    for got, want in zip(train(nudged_model, nudged), expected):
        assert torch.equal(got, want)


class Quadratic(nn.Module):
    """L(θ) = ½ θᵀAθ with A = Q diag(λ) Qᵀ: the Hessian's eigenvectors are Q's columns."""

    def __init__(self, eigenvalues: torch.Tensor, seed: int = 3):
        super().__init__()
        self.Q = orthonormal(len(eigenvalues), len(eigenvalues), seed, torch.float64)
        self.A = self.Q @ torch.diag(eigenvalues) @ self.Q.T
        self.theta = nn.Parameter(torch.linspace(-1, 1, len(eigenvalues), dtype=torch.float64))

    def loss(self) -> torch.Tensor:
        return 0.5 * self.theta @ self.A @ self.theta


def test_step_is_gamma_lr_along_the_basis_and_lr_elsewhere():
    model, lr, gamma = Quadratic(torch.tensor([8.0, 5.0, 2.0, 1.0, 0.5, 0.1], dtype=torch.float64)), 0.05, 0.25
    optimizer = NudgedSGD(model.parameters(), lr=lr, gamma=gamma)
    optimizer.set_basis(model.Q[:, :2])
    before = model.theta.detach().clone()
    model.loss().backward()
    g = model.theta.grad.clone()
    optimizer.step()
    per_direction = (model.Q.T @ (model.theta.detach() - before)) / -(model.Q.T @ g)
    torch.testing.assert_close(per_direction, torch.tensor([gamma * lr] * 2 + [lr] * 4, dtype=torch.float64))


def test_momentum_buffer_keeps_the_unnudged_velocity():
    model, lr, gamma, mu = Quadratic(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)), 0.1, 0.1, 0.9
    V = model.Q[:, :1]
    optimizer = NudgedSGD(model.parameters(), lr=lr, gamma=gamma, momentum=mu)
    optimizer.set_basis(V)
    velocity = torch.zeros(3, dtype=torch.float64)
    for _ in range(3):
        before = model.theta.detach().clone()
        optimizer.zero_grad()
        model.loss().backward()
        velocity = mu * velocity + model.theta.grad
        optimizer.step()
        torch.testing.assert_close(optimizer.state[model.theta]["momentum_buffer"], velocity)
        expected = -lr * (velocity - (1 - gamma) * V @ (V.T @ velocity))
        torch.testing.assert_close(model.theta.detach() - before, expected)


def test_basis_is_refreshed_every_n_steps_from_the_previous_one():
    model = tiny_mlp()
    calls = []

    def basis(previous):
        calls.append(previous)
        return orthonormal(sum(p.numel() for p in model.parameters()), 2, seed=len(calls))

    optimizer = NudgedSGD(model.parameters(), lr=0.1, gamma=0.5, basis=basis, refresh_every=3)
    for x, y in batches(n=7):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert len(calls) == 3  # before steps 0, 3 and 6
    assert calls[0] is None and torch.equal(calls[2], orthonormal(optimizer.n_params, 2, seed=2))


def test_top_eigenvectors_span_the_dense_hessians_top_subspace():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    data = [(x.double(), y) for x, y in batches()]
    V = top_eigenvectors(model, data, k=3, tol=1e-8)(None)
    H = torch.func.hessian(directions.loss_of(model, data))(vectors.parameter_vector(model))
    top = torch.linalg.eigh(H).eigenvectors[:, -3:]
    torch.testing.assert_close(top.T @ V @ V.T @ top, torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gamma": -0.1}, "gamma .* must be non-negative"),
        ({"refresh_every": 0}, "refresh_every must be a positive integer"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"momentum": -0.5}, "momentum and weight_decay must be non-negative"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NudgedSGD(tiny_mlp().parameters(), **({"lr": 0.1} | kwargs))


def test_a_basis_of_the_wrong_shape_is_rejected():
    optimizer = NudgedSGD(tiny_mlp().parameters(), lr=0.1, gamma=0.5)
    with pytest.raises(ValueError, match=r"the basis must have shape \(n_params=66, K\)"):
        optimizer.set_basis(torch.zeros(65, 2))
