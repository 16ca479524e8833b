"""RunConfig: every field's type and range checked when the configuration is made, JSON round trips."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sgdlab.optim import CDAT, SGD, Nudged
from sgdlab.training import config as configuration
from sgdlab.training.clock import Every
from sgdlab.training.config import RunConfig
from sgdlab.training.schedules import Triangular


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr": "0.1"}, r"lr must be a finite number, got '0.1' \(str\)"),
        ({"lr": [0.1]}, r"lr must be a finite number, got \[0.1\] \(list\)"),
        ({"batch_size": "32"}, r"batch_size must be an integer, got '32' \(str\)"),
        ({"batch_size": 32.5}, r"batch_size must be an integer, got 32.5 \(float\)"),
        ({"top_k": 2.5}, r"top_k must be an integer, got 2.5"),
        ({"probes": "losses"}, r"probes must be a tuple of names, got 'losses'"),
        ({"epochs": math.inf}, r"epochs must be a finite number, got inf"),
        ({"momentum": math.nan}, r"momentum must be a finite number, got nan"),
        ({"momentum": 5}, r"momentum must be in \[0, 1\), got 5"),
        ({"device": "bogus"}, r"device 'bogus' is unknown; choose one of: cpu, cuda, auto"),
        ({"loss": "hinge"}, r"loss 'hinge' is unknown; choose one of: cross_entropy, mse"),
        ({"optimizer": "adam"}, r"optimizer kind 'adam' is unknown; choose one of: sgd, nudged, cdat"),
        ({"optimizer": 3}, r"optimizer must be one of sgd, nudged, cdat"),
        ({"traces": ("loss", "telepathy")}, r"traces \['telepathy'\] are unknown; choose from: loss"),
        ({"every": {"eigen": 5}}, r"every\['eigen'\] must be an sgdlab.training.clock.Every or a non-empty tuple of them, got 5"),
        ({"every": {"lambda": Every(steps=2)}}, r"every names 'lambda', which is not one of this run's probes or traces"),
        ({"stop_at_train_acc": 1.5}, r"stop_at_train_acc must be at most 1, got 1.5"),
        ({"seed": -1}, r"seed must be non-negative, got -1"),
        ({"augment": "yes"}, r"augment must be True or False, got 'yes'"),
        ({"threads": 0}, r"threads must be at least 1, got 0"),
        ({"batch_size": None, "batch_schedule": Triangular(32, 64, 1.0)}, r"batch_size=None \(full batch\) and a batch_schedule exclude each other"),
        ({"lr": 1e308}, r"lr 1e\+308 is larger than the largest float32 \(3.403e\+38\)"),
        ({"lr_schedule": Triangular(0.1, 1e39, 1.0)}, r"lr_schedule reaches 1e\+39, larger than the largest float32"),
        ({"seed": 2**70}, r"seed must be below 2\*\*63 \(torch's generators take 64-bit seeds\), got 1180591620717411303424"),
        ({"device": "cuda:abc"}, r"device 'cuda:abc' is not a device: use 'cpu', 'cuda', 'cuda:<index>'"),
        ({"device": "cpu:x"}, r"device 'cpu:x' is not a device"),
    ],
)
def test_bad_fields_are_named_when_the_configuration_is_made(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(RunConfig(), **change)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Every(), "Every needs exactly one of steps or epochs"),
        (lambda: Every(steps=0), r"Every.steps must be at least 1, got 0"),
        (lambda: Every(epochs=1.0, start=2.0, stop=1.0), r"Every.stop \(epochs\) must be at least 2"),
        (lambda: CDAT(sigma=0.0), r"CDAT.sigma must be positive, got 0.0"),
        (lambda: CDAT(ema=1.0), r"CDAT.ema must be in \[0, 1\), got 1.0"),
        (lambda: Nudged(k=2.5), r"Nudged.k must be an integer, got 2.5"),
    ],
)
def test_bad_schedules_and_optimizers_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_configuration_round_trips_through_json_with_every_new_field():
    config = RunConfig(loss="mse", batch_size=None, physical_batch_size=64, optimizer=Nudged(gamma=0.1, k=3),
                       traces=("loss", "gradient_norm"), every={"eigen": Every(steps=20), "loss": Every(steps=1, stop=2.0)},
                       stop_at_train_acc=0.99, threads=2)
    assert configuration.from_json(configuration.to_json(config)) == config
    assert configuration.config_hash(config) != configuration.config_hash(dataclasses.replace(config, threads=1))


def test_a_kind_name_means_the_optimizers_defaults():
    assert RunConfig(optimizer="sgd").optimizer == SGD()
    assert RunConfig(optimizer="nudged").optimizer == Nudged()
    assert configuration.config_hash(RunConfig(optimizer="sgd")) == configuration.config_hash(RunConfig())
