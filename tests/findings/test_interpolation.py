"""Interpolation between states: endpoints reproduced, a linear model against its closed form,
BatchNorm mode and state restored, runs' saved states, and bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdlab.findings import interpolation
from sgdlab.task import models
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import run

TINY = RunConfig(train_size=256, epochs=2, batch_size=32, probes=("losses",), hessian_size=128,
                 model_options={"width": 16}, save_parameters=True)


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def test_linear_model_matches_the_closed_form():
    # logits are linear in the parameters, so along the line they are (1 - α)·z₁ + α·z₂
    model = nn.Linear(6, 3).double()
    start, end = models.state_vector(model), torch.randn(21, dtype=torch.float64)
    train, test = _data(50, 0), _data(30, 1)
    line = interpolation.along_line(model, start, end, train, test, batch_size=16)
    assert torch.equal(models.state_vector(model), start)  # the model is left as it was
    z1 = model(train[0]).detach()
    models.load_state_vector(model, end)
    z2 = model(train[0]).detach()
    for alpha, loss, acc in zip(line.alpha.values, line.train_loss.values, line.train_acc.values):
        z = (1 - alpha) * z1 + alpha * z2
        assert loss == pytest.approx(float(F.cross_entropy(z, train[1])), rel=1e-10)
        assert acc == pytest.approx(float((z.argmax(1) == train[1]).double().mean()))
    assert line.sizes == {"alpha": 31} and line.alpha.values[[10, 20]].tolist() == [0.0, 1.0]


def test_batchnorm_statistics_move_with_the_weights_and_the_mode_is_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    x, y = _data(64, 2)
    start = models.state_vector(model)
    model(x)  # one training-mode pass moves the running statistics
    end = models.state_vector(model)
    assert len(start) == sum(p.numel() for p in model.parameters()) + 16  # + running mean and variance
    models.load_state_vector(model, start)
    model.train()
    eval_line = interpolation.along_line(model, start, end, (x, y), (x, y), [0.0, 1.0])
    batch_line = interpolation.along_line(model, start, end, (x, y), (x, y), [0.0, 1.0], bn_mode="batch")
    assert model.training and torch.equal(models.state_vector(model), start)
    assert eval_line.train_loss[0] != eval_line.train_loss[1]  # only the statistics differ between the ends
    assert batch_line.train_loss[0] == batch_line.train_loss[1]  # batch statistics ignore them


def test_endpoints_reproduce_the_runs_measurements():
    first = run(TINY, cache=False, progress=False)
    second = run(dataclasses.replace(TINY, lr=0.2), cache=False, progress=False)
    assert first["final_state"].sizes["state"] == 40 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    init = interpolation.from_init(first)
    for alpha, step in ((0.0, 0), (1.0, -1)):
        point = init.sel(alpha=alpha)
        for name in ("train_loss", "test_loss"):
            assert float(point[name]) == pytest.approx(float(first[name][step]), rel=1e-6)
        for name in ("train_acc", "test_acc"):
            assert float(point[name]) == float(first[name][step])
    line = interpolation.between(first, second)
    assert float(line.test_loss.sel(alpha=0.0)) == pytest.approx(float(first.test_loss[-1]), rel=1e-6)
    assert float(line.test_loss.sel(alpha=1.0)) == pytest.approx(float(second.test_loss[-1]), rel=1e-6)
    assert line.attrs["first"] == first.attrs["config_hash"]


def test_bad_input():
    with_states = run(TINY, cache=False, progress=False)
    without = run(dataclasses.replace(TINY, save_parameters=False), cache=False, progress=False)
    with pytest.raises(ValueError, match="save_parameters=True"):
        interpolation.from_init(without)
    other_data = run(dataclasses.replace(TINY, train_size=128, hessian_size=64), cache=False, progress=False)
    with pytest.raises(ValueError, match=r"must share data and model; they differ in \['train_size'\]"):
        interpolation.between(with_states, other_data)
    with pytest.raises(ValueError, match="state vector has 3 entries"):
        models.load_state_vector(nn.Linear(2, 2), torch.zeros(3))
