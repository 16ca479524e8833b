"""CDAT in closed form on quadratics: η = σ gᵀg / gᵀAg, the edge 2/λ₁ along e₁, ηλ₁ ≥ σ, the EMA,
weight decay as curvature, chunked batches, bad input, η = inf diverging; and in a full-batch run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from sgdlab.optim import CDAT, CurvatureAwareGD
from sgdlab.task import losses
from sgdlab.training import loop as train
from sgdlab.training.config import RunConfig

EIGENVALUES = torch.tensor([9.0, 4.0, 2.0, 1.0, 0.25], dtype=torch.float64)


class Quadratic(nn.Module):
    """L(θ) = ½ θᵀAθ + cᵀθ with A = Q diag(λ) Qᵀ (λ₁ along Q's first column e₁)."""

    def __init__(self, eigenvalues: torch.Tensor = EIGENVALUES, theta: torch.Tensor | None = None, linear: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.Q = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g, dtype=torch.float64))[0]
        self.A = self.Q @ torch.diag(eigenvalues) @ self.Q.T
        self.c = torch.full((len(eigenvalues),), linear, dtype=torch.float64)
        start = torch.linspace(-1, 1, len(eigenvalues), dtype=torch.float64) if theta is None else theta
        self.theta = nn.Parameter(start.clone())

    def loss(self) -> torch.Tensor:
        return 0.5 * self.theta @ self.A @ self.theta + self.c @ self.theta

    def forward_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(), torch.zeros(1, 1)


ONE_BATCH = [(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long))]


def step(model: Quadratic, optimizer: CurvatureAwareGD) -> float:
    optimizer.step_on(ONE_BATCH, model.forward_batch)
    return optimizer.param_groups[0]["lr"]


def greedy_lr(A: torch.Tensor, theta: torch.Tensor, sigma: float = 1.0) -> float:
    g = A @ theta
    return float(sigma * (g @ g) / (g @ A @ g))


def test_sigma_two_with_the_gradient_along_e1_is_the_edge_two_over_lambda1():
    model = Quadratic()
    model.theta.data = 0.7 * model.Q[:, 0]
    lr = step(model, CurvatureAwareGD(model.parameters(), sigma=2.0))
    assert lr == pytest.approx(2 / 9.0, rel=1e-12)
    torch.testing.assert_close(model.theta.detach(), -0.7 * model.Q[:, 0])  # the edge: θ flips, |θ| stays


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("seed", range(5))
def test_eta_lambda1_is_at_least_sigma_for_the_gradient_direction(sigma, seed):
    theta = torch.randn(5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    model = Quadratic(theta=theta)
    lr = step(model, CurvatureAwareGD(model.parameters(), sigma=sigma))
    assert lr == pytest.approx(greedy_lr(model.A, theta, sigma), rel=1e-12)
    assert lr * float(EIGENVALUES[0]) >= sigma * (1 - 1e-12)


def test_sigma_one_minimises_the_quadratic_along_the_step():
    model = Quadratic()
    theta, g = model.theta.detach().clone(), model.A @ model.theta.detach()
    lr = step(model, CurvatureAwareGD(model.parameters(), sigma=1.0))
    along = lambda eta: float(0.5 * (theta - eta * g) @ model.A @ (theta - eta * g))
    assert along(lr) < min(along(0.99 * lr), along(1.01 * lr))


def test_ema_averages_numerator_and_denominator_from_the_first_step():
    model, beta, sigma = Quadratic(), 0.6, 2.0
    optimizer = CurvatureAwareGD(model.parameters(), sigma=sigma, ema=beta)
    terms = []
    for _ in range(3):
        g = model.A @ model.theta.detach()
        terms.append((float(g @ g), float(g @ model.A @ g)))
        step(model, optimizer)
    n, d = terms[0]
    for numerator, denominator in terms[1:]:
        n, d = beta * n + (1 - beta) * numerator, beta * d + (1 - beta) * denominator
    assert optimizer.param_groups[0]["lr"] == pytest.approx(sigma * n / d, rel=1e-12)
    assert optimizer.param_groups[0]["lr"] != pytest.approx(sigma * terms[-1][0] / terms[-1][1], rel=1e-6)


def test_weight_decay_acts_as_curvature_wd_times_identity():
    wd, theta = 0.5, torch.linspace(1, -1, 5, dtype=torch.float64)
    decayed, shifted = Quadratic(theta=theta), Quadratic(EIGENVALUES + wd, theta=theta)
    lr = step(decayed, CurvatureAwareGD(decayed.parameters(), sigma=2.0, weight_decay=wd))
    assert lr == pytest.approx(step(shifted, CurvatureAwareGD(shifted.parameters(), sigma=2.0)), rel=1e-12)
    torch.testing.assert_close(decayed.theta.detach(), shifted.theta.detach())


def test_chunked_batches_give_the_step_of_the_whole_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(12, 4, dtype=torch.float64), torch.randint(0, 3, (12,))
    forward = lambda batch: (nn.functional.cross_entropy(net(batch[0]), batch[1]), net(batch[0]))
    start = [p.detach().clone() for p in net.parameters()]
    whole = CurvatureAwareGD(net.parameters(), sigma=2.0)
    whole.step_on([(x, y)], forward)
    after_whole = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p, s in zip(net.parameters(), start):
            p.copy_(s)
    chunked = CurvatureAwareGD(net.parameters(), sigma=2.0)
    chunked.step_on([(x[:5], y[:5]), (x[5:], y[5:])], forward)
    assert chunked.param_groups[0]["lr"] == pytest.approx(whole.param_groups[0]["lr"], rel=1e-10)
    for got, want in zip(net.parameters(), after_whole):
        torch.testing.assert_close(got.detach(), want)


def test_zero_curvature_along_the_step_gives_an_infinite_step_and_non_finite_parameters():
    model = Quadratic(torch.zeros(5, dtype=torch.float64), linear=1.0)  # L = cᵀθ: uᵀHu = 0
    lr = step(model, CurvatureAwareGD(model.parameters(), sigma=2.0))
    assert lr == float("inf")
    assert not torch.isfinite(model.theta).all()


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"sigma": 0.0}, "CDAT.sigma"),
        ({"sigma": -1.0}, "CDAT.sigma"),
        ({"sigma": float("nan")}, "CDAT.sigma"),
        ({"ema": 1.0}, "CDAT.ema"),
        ({"ema": -0.1}, "CDAT.ema"),
    ],
)
def test_bad_sigma_or_ema_raises_value_error_naming_the_field(fields, match):
    with pytest.raises(ValueError, match=match):
        CDAT(**fields)
    model = Quadratic()
    with pytest.raises(ValueError, match=match):
        CurvatureAwareGD(model.parameters(), **fields)


def test_plain_step_is_refused():
    model = Quadratic()
    with pytest.raises(TypeError, match="step_on"):
        CurvatureAwareGD(model.parameters()).step()


# --- in a run ---------------------------------------------------------------------------------------

FULL_BATCH = RunConfig(train_size=128, batch_size=None, epochs=6, loss="mse", optimizer=CDAT(sigma=2.0),
                       traces=("loss",), probes=("eigen",), hessian_size=128, top_k=2, measure_every=1.0,
                       eigen_tol=1e-6, model_options={"width": 8, "activation": "tanh"}, dtype="float64")


def first_cdat_lr(config: RunConfig) -> float:
    """σ gᵀg / gᵀHg on the whole training set at initialisation, computed directly."""
    data, model = train.prepare(config)
    params = list(model.parameters())
    x, y = data.x_train.to(torch.float64), data.y_train
    g = torch.autograd.grad(losses.get(config.loss)(model(x), y), params, create_graph=True)
    hg = torch.autograd.grad(g, params, grad_outputs=[t.detach() for t in g])
    gg = sum(float((t.detach() ** 2).sum()) for t in g)
    return config.optimizer.sigma * gg / sum(float((t.detach() * h).sum()) for t, h in zip(g, hg))


def test_a_full_batch_cdat_run_records_its_lr_every_step():
    ds = train.run(FULL_BATCH, cache=False, progress=False)
    assert ds.attrs["diverged"] == 0
    lrs = ds["step_lr"].values
    assert len(lrs) == FULL_BATCH.epochs and np.isfinite(lrs).all() and (lrs > 0).all()
    assert lrs[0] == pytest.approx(first_cdat_lr(FULL_BATCH), rel=1e-8)
    assert len(np.unique(lrs)) == len(lrs)  # a new η_t each step, not the configured lr
    lambda1 = ds["lambda"].sel(eig=1).values  # the Hessian of the whole set: ηλ₁ ≥ σ at every state
    assert (lrs * lambda1[:-1] >= FULL_BATCH.optimizer.sigma * (1 - 1e-5)).all()


def test_zero_curvature_in_a_run_is_recorded_as_diverged(monkeypatch):
    monkeypatch.setattr(CurvatureAwareGD, "_hvp", lambda self, grads, u, *args: [torch.zeros_like(v) for v in u])
    ds = train.run(dataclasses.replace(FULL_BATCH, probes=("losses",)), cache=False, progress=False)
    assert ds.attrs["diverged"] == 1 and ds.attrs["diverged_at_step"] == 0
