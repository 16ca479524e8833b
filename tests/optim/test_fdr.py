"""The FDR scheduler: exactly torch's SGD between cuts, a cut by (1 − Y) once FDR1 holds within X at a
stationary noisy quadratic and none far from it, the lr each step took, bad input, the JSON round trip."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdlab.optim import FDRSGD, FDRScheduler
from sgdlab.training import config as configuration
from sgdlab.training.config import RunConfig
from tests.conftest import tiny_mlp

F64 = torch.float64


def train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("momentum, dampening, weight_decay", [(0.0, 0.0, 0.0), (0.5, 0.0, 0.01), (0.9, 0.2, 1e-3)])
def test_without_a_cut_the_steps_are_exactly_torch_sgd(momentum, dampening, weight_decay):
    model, fdr_model = tiny_mlp(), tiny_mlp()
    expected = train(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum, dampening=dampening,
                                            weight_decay=weight_decay))
    opt = FDRSGD(fdr_model.parameters(), lr=0.1, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                 X=1e-9, t_adaptive=2)
    for got, want in zip(train(fdr_model, opt), expected):
        assert torch.equal(got, want)
    assert opt.cuts == [] and len(opt.o_l) == 6


class NoisyQuadratic(nn.Module):
    """L(θ) = ½ h‖θ‖² + ξ·θ with fresh noise ξ ~ N(0, σ²) at every call: independent coordinates are chains."""

    def __init__(self, theta: torch.Tensor, h: float = 2.0, sigma: float = 1.0, seed: int = 0):
        super().__init__()
        self.theta = nn.Parameter(theta)
        self.h, self.sigma = h, sigma
        self.generator = torch.Generator().manual_seed(seed)

    def loss(self) -> torch.Tensor:
        noise = self.sigma * torch.randn(self.theta.shape, generator=self.generator, dtype=self.theta.dtype)
        return 0.5 * self.h * self.theta.pow(2).sum() + noise @ self.theta


def run_quadratic(start: torch.Tensor, steps: int, h: float = 2.0, **options) -> tuple[FDRSGD, list[float], list[torch.Tensor]]:
    """The scheduler on the noisy quadratic; the lr after each step, and each step's (θ_before − θ_after, velocity)."""
    model = NoisyQuadratic(start, h=h)
    opt = FDRSGD(model.parameters(), **options)
    lrs, moves = [], []
    for _ in range(steps):
        before = model.theta.detach().clone()
        opt.zero_grad()
        model.loss().backward()
        opt.step()
        lrs.append(opt.param_groups[0]["lr"])
        buffer = opt.state[model.theta].get("momentum_buffer")
        moves.append((before - model.theta.detach(), None if buffer is None else buffer.clone()))
    return opt, lrs, moves


def stationary_start(chains: int = 4000, h: float = 2.0, sigma: float = 1.0, lr: float = 0.1) -> torch.Tensor:
    """θ drawn from plain SGD's stationary law on the noisy quadratic, variance ησ²/(h(2 − ηh))."""
    std = (lr * sigma**2 / (h * (2 - lr * h))) ** 0.5
    return std * torch.randn(chains, generator=torch.Generator().manual_seed(5), dtype=F64)


def test_a_cut_by_one_minus_y_fires_at_the_first_check_at_equilibrium():
    opt, lrs, moves = run_quadratic(stationary_start(), 260, lr=0.1, momentum=0.5, X=0.05, Y=0.9, t_adaptive=200)
    assert opt.cuts == [(200, pytest.approx(0.01))]
    assert lrs[199] == 0.1 and lrs[200] == pytest.approx(0.01)
    for t in (199, 200):  # the lr after a step is the one the step took: θ_t − θ_{t+1} = η v_{t+1}
        step, velocity = moves[t]
        assert torch.allclose(step, lrs[t] * velocity, rtol=1e-10, atol=1e-14)
    assert len(opt.o_l) == 60  # the record restarts after a cut


def test_no_cut_far_from_equilibrium():
    far = 30 * stationary_start(h=0.05)  # ‖θ‖² relaxes over ~1/(2ηh) = 100 steps: O_L ≫ O_R until step 400
    opt, lrs, _ = run_quadratic(far, 401, h=0.05, lr=0.1, momentum=0.0, X=0.05, Y=0.9, t_adaptive=200)
    assert opt.cuts == [] and set(lrs) == {0.1}


@pytest.mark.parametrize("field, value", [("X", 0.0), ("X", 1.0), ("X", -0.1), ("Y", 0.0), ("Y", 1.5)])
def test_tolerances_outside_the_open_unit_interval_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"FDRScheduler.{field} .*must be in \\(0, 1\\)"):
        FDRScheduler(**{field: value})


@pytest.mark.parametrize("fields, match", [({"t_adaptive": 0}, "t_adaptive"), ({"t_adaptive": 2.5}, "t_adaptive"),
                                           ({"dampening": 1.0}, "dampening"), ({"X": "0.1"}, "FDRScheduler.X")])
def test_other_bad_fields_are_refused(fields, match):
    with pytest.raises(ValueError, match=match):
        FDRScheduler(**fields)


def test_the_spec_round_trips_through_the_run_json_and_builds_torch_sgd():
    config = RunConfig(optimizer=FDRScheduler(X=0.05, Y=0.5, t_adaptive=300), momentum=0.5, weight_decay=0.01)
    back = configuration.from_json(configuration.to_json(config))
    assert back.optimizer == config.optimizer
    assert RunConfig(optimizer="fdr").optimizer == FDRScheduler()
    assert configuration.config_hash(dataclasses.replace(config, optimizer=FDRScheduler())) != \
        configuration.config_hash(config)
