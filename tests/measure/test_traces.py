"""Per-step traces, accumulators, per-probe schedules, full-batch gradient descent and the tuner's batch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sgdlab import curvature
from sgdlab.measure import probes, traces, variables
from sgdlab.optim import CDAT
from sgdlab.task import losses
from sgdlab.training import loop as train
from sgdlab.training.clock import Every
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import run
from sgdlab.training.schedules import Step

GD = RunConfig(train_size=200, batch_size=None, loss="mse", epochs=30, lr=0.05, hessian_size=200, top_k=2,
               probes=("losses", "eigen"), traces=("loss",), model_options={"width": 16},
               every={"eigen": Every(steps=10), "losses": Every(steps=5)})


def test_mse_is_half_the_squared_distance_to_the_one_hot_target_averaged_over_examples():
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    labels = torch.tensor([0, 2])
    assert float(losses.mse(logits, labels)) == pytest.approx((0.0 + 0.5 * (4 + 0)) / 2)
    assert float(losses.mse(logits, labels, reduction="sum")) == pytest.approx(2.0)


def test_full_batch_mse_run_records_the_loss_every_step_and_lambda_on_its_own_schedule():
    ds = run(GD, cache=False, progress=False)
    assert ds.attrs["total_steps"] == 30 and ds.sizes["iteration"] == 30
    assert (ds.step_batch_size == 200).all() and (ds.step_lr == 0.05).all()
    measured = ds["lambda"].sel(eig=1).dropna("step").step.values.tolist()
    assert measured == [0, 10, 20, 30]
    assert ds["train_loss"].dropna("step").step.values.tolist() == [0, 5, 10, 15, 20, 25, 30]
    # full batch, no BatchNorm: the step's batch loss at θ_t is the training loss at state t
    for t in (0, 5, 10, 25):
        assert float(ds.batch_loss.sel(iteration=t)) == pytest.approx(float(ds.train_loss.sel(step=t)), rel=1e-5)


def test_physical_batches_change_memory_not_the_step():
    whole = run(GD, cache=False, progress=False)
    chunked = run(dataclasses.replace(GD, physical_batch_size=48), cache=False, progress=False)
    np.testing.assert_allclose(chunked.batch_loss, whole.batch_loss, rtol=1e-5)
    np.testing.assert_allclose(chunked["lambda"], whole["lambda"], rtol=1e-4)


def test_a_run_stops_at_its_training_accuracy_goal_and_measures_the_state_there():
    goal = dataclasses.replace(GD, loss="cross_entropy", lr=0.5, epochs=400, stop_at_train_acc=0.6)
    ds = run(goal, cache=False, progress=False)
    stop = ds.attrs["stopped_at_step"]
    assert 0 < stop < 400 and int(ds.step[-1]) == stop and ds.sizes["iteration"] == stop
    assert float(ds.batch_acc.isel(iteration=-1)) < 0.6 <= float(ds.train_acc.isel(step=-1))
    assert np.isfinite(ds["lambda"].isel(step=-1)).all()


def test_the_tuner_reads_the_steps_batch():
    sigma = 2.0
    config = dataclasses.replace(GD, optimizer=CDAT(sigma=sigma), epochs=3, every={})
    ds = run(config, cache=False, progress=False)
    data, model = train.prepare(config)
    with curvature.hessian(model, [(data.x_train, data.y_train)], losses.mse, bn_mode="batch") as H:
        g = H.gradient()
        expected = sigma * float(g @ g) / float(g @ H.matvec(g))
    assert float(ds.step_lr.sel(iteration=0)) == pytest.approx(expected, rel=1e-4)
    assert ds.step_lr.std() > 0  # the tuner sets every step's learning rate


def test_an_accumulator_is_the_mean_over_the_steps_since_the_last_measurement(monkeypatch):
    class SquaredNorm(traces.Trace):
        name = "squared_norm"

        def on_step(self, info):
            return {"grad_sq": ((), float(info.gradient.pow(2).sum()))}

    monkeypatch.setitem(traces.TRACES, "squared_norm", SquaredNorm)
    monkeypatch.setitem(variables.VARIABLES, "grad_sq", variables.Variable("g²", "test"))
    config = RunConfig(train_size=256, batch_size=32, epochs=2, measure_every=0.5, probes=("losses",),
                       traces=("gradient_norm", "squared_norm"), hessian_size=64, model_options={"width": 16})
    ds = run(config, cache=False, progress=False)
    assert ds.step.values.tolist() == [0, 4, 8, 12, 16]
    per_step = ds.grad_sq.values
    for step in [4, 8, 12, 16]:
        window = per_step[step - 4 : step]
        assert float(ds.mean_grad_norm_sq.sel(step=step)) == pytest.approx(window.mean(), rel=1e-6)
        assert int(ds.steps_averaged.sel(step=step)) == 4
    assert np.isnan(float(ds.mean_grad_norm_sq.sel(step=0)))


def test_probes_see_the_current_learning_rate_and_batch_size(monkeypatch):
    seen = []

    def current(ctx):
        seen.append((ctx.step, ctx.lr))
        return {}

    monkeypatch.setitem(probes.PROBES, "current", current)
    config = RunConfig(train_size=256, batch_size=32, epochs=2, measure_every=1.0, probes=("current",),
                       lr_schedule=Step((0.1, 0.01), (1.0,)), hessian_size=64, model_options={"width": 16})
    run(config, cache=False, progress=False)
    assert seen == [(0, 0.1), (8, 0.01), (16, 0.01)]


def test_every_variable_of_a_run_carries_cf_attributes():
    config = dataclasses.replace(GD, top_k=5, epochs=4, every={}, probe_gradients=2, save_parameters=True,
                                 traces=("loss", "gradient_norm"),
                                 probes=("losses", "eigen", "hessian_norm", "step_decomposition", "cross_sections",
                                         "alignment", "distance_from_init"))
    ds = run(config, cache=False, progress=False)
    for name in ds.variables:
        attrs = ds[name].attrs
        assert attrs.get("long_name") and attrs.get("description") and attrs.get("units"), name


@pytest.mark.parametrize(
    "change, message",
    [
        ({"every": {"eigen": Every(steps=5, start=100.0)}},
         r"every\['eigen'\]: .* never fires in this run of 30 steps"),
        ({"probes": ("losses", "eigen", "alignment"), "every": {"eigen": Every(steps=10), "alignment": Every(steps=3)}},
         r"probe 'alignment' uses the eigenvectors of its step: its schedule must be within eigen's"),
        ({"batch_size": 500}, r"batch_size must be between 1 and the training set size \(200\)"),
    ],
)
def test_schedules_that_cannot_work_are_rejected_before_training(change, message, monkeypatch):
    monkeypatch.setattr(train, "take_step", None)  # training would fail differently
    with pytest.raises(ValueError, match=message):
        run(dataclasses.replace(GD, **change), cache=False, progress=False)


def test_a_trace_that_needs_a_fixed_batch_refuses_a_batch_schedule(monkeypatch):
    class FixedBatch(traces.Trace):
        name = "fixed_batch"
        needs_fixed_batch = True

    monkeypatch.setitem(traces.TRACES, "fixed_batch", FixedBatch)
    with pytest.raises(ValueError, match="trace 'fixed_batch' needs a fixed batch size; this run has a batch_schedule"):
        RunConfig(traces=("fixed_batch",), batch_schedule=Step((32, 64), (1.0,)))
