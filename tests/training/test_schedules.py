"""Schedules: their values over time, their JSON form, runs that use them, and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from sgdlab.training import config as configuration
from sgdlab.training import loop as train
from sgdlab.training import schedules
from sgdlab.training.clock import clock_of
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import run
from sgdlab.training.schedules import Alternating, Constant, Step, Triangular

TINY = RunConfig(train_size=256, epochs=2, batch_size=32, probes=("losses",), hessian_size=128, measure_every=1.0,
                 model_options={"width": 16})


def test_constant_and_step_values():
    assert Constant(0.1).at(123.0) == 0.1 and Constant(0.1).bounds() == (0.1, 0.1)
    step = Step((0.1, 0.01, 0.001), (10, 20))
    assert [step.at(e) for e in (0, 9.99, 10, 19.5, 20, 1e6)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert step.bounds() == (0.001, 0.1)


def test_triangular_cycle_goes_to_the_turn_and_back():
    tri = Triangular(start=0.001, turn=0.005, step_size=4)
    epochs = [0, 2, 4, 6, 8, 10, 12]
    np.testing.assert_allclose([tri.at(e) for e in epochs], [0.001, 0.003, 0.005, 0.003, 0.001, 0.003, 0.005])
    down = Triangular(start=640, turn=128, step_size=4)
    np.testing.assert_allclose([down.at(e) for e in (0, 2, 4, 8)], [640, 384, 128, 640])
    assert down.bounds() == (128, 640)


def test_reciprocal_triangle_keeps_the_ratio_on_the_learning_rate_triangle():
    lr, batch = Triangular(0.001, 0.005, 4), Triangular(640, 128, 4, reciprocal=True)
    epochs = np.linspace(0, 16, 33)
    np.testing.assert_allclose([0.005 / batch.at(e) for e in epochs], [lr.at(e) / 128 for e in epochs])


def test_alternating_schedule_switches_between_two_values_every_stage():
    cycle = Alternating(first=0.005, second=0.001, stage=15)
    assert [cycle.at(e) for e in (0, 14.99, 15, 29.9, 30, 45, 61)] == [0.005, 0.005, 0.001, 0.001, 0.005, 0.001, 0.005]
    assert cycle.bounds() == (0.001, 0.005)


def test_alternating_batch_cycle_keeps_the_ratio_of_the_learning_rate_cycle():
    lr, batch = Alternating(0.005, 0.001, 4), Alternating(128, 640, 4)
    epochs = np.linspace(0, 16, 65)
    np.testing.assert_allclose([0.005 / batch.at(e) for e in epochs], [lr.at(e) / 128 for e in epochs])


def test_schedules_round_trip_through_json():
    config = dataclasses.replace(TINY, lr_schedule=Step((0.1, 0.01), (1.0,)),
                                 batch_schedule=Triangular(32, 64, 0.5, reciprocal=True))
    back = configuration.from_json(configuration.to_json(config))
    assert back == config
    for schedule in (Constant(3.0), Step((1.0, 2.0), (5.0,)), Triangular(1.0, 2.0, 3.0), Alternating(2.0, 1.0, 3.0)):
        assert schedules.from_dict(schedules.to_dict(schedule)) == schedule
    assert configuration.config_hash(config) != configuration.config_hash(dataclasses.replace(config, lr_schedule=None))


def test_default_schedules_keep_existing_hashes(monkeypatch):
    # values computed before schedules existed, at that cache version: new fields at their defaults change no hash
    monkeypatch.setattr(configuration, "CACHE_VERSION", 1)
    assert configuration.config_hash(RunConfig()) == "7fa7bc184287c13f"
    old = RunConfig(lr=0.1, batch_size=32, model_options={"width": 16}, probes=("losses",))
    assert configuration.config_hash(old) == "791009ed54084c18"


def test_constant_schedules_reproduce_constant_runs_exactly():
    plain = run(TINY, cache=False, progress=False)
    scheduled = run(dataclasses.replace(TINY, lr_schedule=Constant(0.05), batch_schedule=Constant(32)),
                    cache=False, progress=False)
    xr.testing.assert_identical(plain.drop_attrs(), scheduled.drop_attrs())


def test_learning_rate_schedule_is_applied_per_step():
    frozen = dataclasses.replace(TINY, epochs=3, lr_schedule=Step((0.5, 1e-30), (1.0,)))
    loss = run(frozen, cache=False, progress=False)["train_loss"].values
    assert loss[1] < loss[0]  # trained during the first epoch ...
    assert loss[1] == loss[2] == loss[3]  # ... and not after it


def test_batch_schedule_sets_each_step_and_counts_examples():
    config = dataclasses.replace(TINY, epochs=4, batch_schedule=Triangular(16, 64, 1.0))
    clock = clock_of(config, n_train=256)
    assert clock.batch_sizes[0] == 16 and 56 <= clock.batch_sizes.max() <= 64  # steps straddle the turn
    np.testing.assert_allclose(np.diff(clock.epochs), 1 / np.ceil(256 / clock.batch_sizes))
    expected = [schedules.batch_size_at(config.batch_schedule, e) for e in clock.epochs[:-1]]
    assert clock.batch_sizes.tolist() == expected
    assert abs(clock.epochs[-1] - 4) <= 0.5 / 4  # ends within half a step of the last epoch
    first, second = (run(config, cache=False, progress=False) for _ in range(2))
    xr.testing.assert_identical(first.drop_attrs(), second.drop_attrs())
    np.testing.assert_allclose(first.epoch.values, [0, 1, 2, 3, 4], atol=0.5 / 4)  # half the longest step
    assert first.attrs["steps_per_epoch"] == 0 and first.attrs["total_steps"] == clock.total_steps


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Triangular(0.1, 0.2, 0), r"Triangular.step_size \(half a cycle, in epochs\) must be positive"),
        (lambda: Triangular(0.1, 0.2, -1.0), "step_size .* must be positive"),
        (lambda: Triangular(0.0, 0.2, 1.0), "start and turn must be positive"),
        (lambda: Alternating(0.1, 0.2, 0), r"Alternating.stage \(one stage, in epochs\) must be positive"),
        (lambda: Alternating(0.1, -0.2, 1.0), "first and second must be positive"),
        (lambda: Step((0.1,), (5,)), "one more value than boundaries"),
        (lambda: Step((0.1, 0.2, 0.3), (5, 5)), "boundaries must increase strictly"),
        (lambda: Constant(-1), "Constant.value must be positive"),
        (lambda: schedules.from_dict({"kind": "cosine"}), "kind 'cosine' is unknown; choose one of: constant"),
    ],
)
def test_bad_schedules_raise_on_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_schedule": Triangular(32, 300, 1.0)},
         r"batch_schedule reaches a batch size of 300, more than the training set size \(256\)"),
        ({"lr_schedule": "cyclic"}, "lr_schedule must be None or a schedule"),
    ],
)
def test_bad_schedule_in_a_run_is_rejected_before_training(change, message, monkeypatch):
    monkeypatch.setattr(train.torch.optim, "SGD", None)  # training would fail differently
    with pytest.raises(ValueError, match=message):
        run(dataclasses.replace(TINY, **change), cache=False, progress=False)


def test_reduce_on_plateau_cuts_the_learning_rate_after_each_patience_without_improvement():
    # the training loss falls, so in mode "max" it never improves on its first value: a cut every epoch
    rule = schedules.ReduceOnPlateau(monitor="train_loss", patience=1.0, factor=0.5, mode="max")
    config = dataclasses.replace(TINY, epochs=3, lr=0.2, lr_plateau=rule, traces=("loss",))
    ds = run(config, cache=False, progress=False)
    spe = 256 // 32
    np.testing.assert_allclose(ds["step_lr"].values, [0.2] * spe + [0.1] * spe + [0.05] * spe)
    improving = dataclasses.replace(config, lr_plateau=dataclasses.replace(rule, mode="min"))
    np.testing.assert_allclose(run(improving, cache=False, progress=False)["step_lr"].values, 0.2)


def test_early_stopping_ends_the_run_once_the_monitored_value_stalls_for_its_patience():
    rule = schedules.EarlyStopping(monitor="train_loss", patience=2.0, mode="max")
    ds = run(dataclasses.replace(TINY, epochs=6, early_stopping=rule), cache=False, progress=False)
    assert float(ds.epoch[-1]) == 2.0 and ds.attrs["stopped_at_step"] == 2 * 256 // 32
    full = run(dataclasses.replace(TINY, epochs=3, early_stopping=dataclasses.replace(rule, mode="min")),
               cache=False, progress=False)
    assert float(full.epoch[-1]) == 3.0


def test_plateau_rules_round_trip_keep_old_hashes_and_reject_bad_input():
    config = dataclasses.replace(TINY, lr_plateau=schedules.ReduceOnPlateau(), early_stopping=schedules.EarlyStopping())
    assert configuration.from_json(configuration.to_json(config)) == config
    assert configuration.config_hash(RunConfig()) == "96dab6f413e23b14"  # the hash before the rules existed
    assert configuration.config_hash(config) != configuration.config_hash(TINY)
    with pytest.raises(ValueError, match="ReduceOnPlateau.factor must be"):
        schedules.ReduceOnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="EarlyStopping.mode 'up' is unknown; choose one of: min, max"):
        schedules.EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="early_stopping must be None or an instance of EarlyStopping"):
        RunConfig(early_stopping=schedules.ReduceOnPlateau())
    with pytest.raises(ValueError, match="lr_plateau.monitor 'val_loss' is not measured"):
        run(dataclasses.replace(TINY, lr_plateau=schedules.ReduceOnPlateau(monitor="val_loss")), cache=False,
            progress=False)
