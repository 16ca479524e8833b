"""Langevin dynamics: the drift is gradient descent, the noise is isotropic with variance 2ηT, seeded."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sgdlab import optim
from sgdlab.optim import Langevin, LangevinDynamics
from sgdlab.task import losses
from sgdlab.training import config as configuration
from sgdlab.training.config import RunConfig


def setting(momentum: float = 0.0, weight_decay: float = 0.0) -> optim.Setting:
    return optim.Setting(lr=0.1, momentum=momentum, weight_decay=weight_decay, loss_fn=losses.cross_entropy,
                         hessian_batches=[], lanczos_seed=7)


def steps(model: nn.Module, opt: torch.optim.Optimizer, gradient: torch.Tensor, n: int) -> torch.Tensor:
    p = next(model.parameters())
    for _ in range(n):
        p.grad = gradient.clone()
        opt.step()
    return p.detach().clone()


def unit_gradient_steps(pairs, n: int = 1) -> None:
    """``n`` steps of each (model, optimizer) pair with a gradient of ones on every parameter."""
    for _ in range(n):
        for m, o in pairs:
            for p in m.parameters():
                p.grad = torch.ones_like(p)
            o.step()


def test_noise_around_the_gradient_step_is_isotropic_with_variance_two_eta_t():
    model = nn.Linear(2000, 1, bias=False)
    nn.init.zeros_(model.weight)
    opt = Langevin(temperature=0.5).build(model, setting())
    gradient = torch.full((1, 2000), 3.0)
    moved = steps(model, opt, gradient, 1)
    noise = moved + 0.1 * gradient
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(noise.var()) == pytest.approx(2 * 0.1 * 0.5, rel=0.1)


def test_the_drift_includes_weight_decay_and_vanishes_into_sgd_at_tiny_temperature():
    model, reference = nn.Linear(3, 2), nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    opt = Langevin(temperature=1e-30).build(model, setting(weight_decay=0.01))
    unit_gradient_steps([(model, opt), (reference, torch.optim.SGD(reference.parameters(), lr=0.1, weight_decay=0.01))])
    for got, want in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_same_seed_same_noise_and_a_named_stream_per_seed():
    def moved(seed: int) -> torch.Tensor:
        model = nn.Linear(5, 1, bias=False)
        nn.init.zeros_(model.weight)
        return steps(model, LangevinDynamics(model.parameters(), lr=0.1, temperature=1.0, seed=seed),
                     torch.zeros(1, 5), 2)

    assert torch.equal(moved(1), moved(1)) and not torch.equal(moved(1), moved(2))


def test_registered_and_round_tripped_through_a_run_config():
    config = RunConfig(optimizer=Langevin(temperature=0.01), batch_size=None)
    assert configuration.from_json(configuration.to_json(config)).optimizer == Langevin(temperature=0.01)
    assert "langevin" in optim.OPTIMIZERS.classes


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf])
def test_bad_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match="Langevin.temperature"):
        Langevin(temperature=temperature)


def test_momentum_is_rejected():
    with pytest.raises(ValueError, match="set momentum=0"):
        Langevin().build(nn.Linear(2, 2), setting(momentum=0.9))


def test_after_plain_steps_only_the_named_parameter_moves_with_noise_and_an_unknown_name_is_rejected():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    reference = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    reference.load_state_dict(model.state_dict())
    opt = Langevin(temperature=0.5, only="1.weight", after=2).build(model, setting())
    unit_gradient_steps([(model, opt), (reference, torch.optim.SGD(reference.parameters(), lr=0.1))], 2)  # no noise
    for got, want in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, atol=1e-7, rtol=0)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    opt.step()
    moved = {name: p - before[name] for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert set(moved) == {"1.weight"}
    assert not torch.allclose(moved["1.weight"], torch.full((2, 4), -0.1))  # the gradient step plus noise
    with pytest.raises(ValueError, match=r"Langevin.only 'middle' is not a parameter of this model; choose one of: "
                                         r"0.weight, 0.bias, 1.weight, 1.bias"):
        Langevin(only="middle").build(model, setting())
