"""Runs: determinism, the cache, divergence, measurement schedules and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import xarray as xr

from sgdlab.measure import probes
from sgdlab.measure.variables import Variable
from sgdlab.optim import FDRScheduler, Nudged
from sgdlab.task import data
from sgdlab.training import clock, run_cache
from sgdlab.training import config as configuration
from sgdlab.training import loop as train
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import run

TINY = RunConfig(train_size=256, epochs=2, batch_size=32, hessian_size=128, top_k=2, measure_every=1.0,
                 model_options={"width": 16})


def test_same_config_gives_identical_numbers():
    first = run(TINY, cache=False, progress=False)
    second = run(TINY, cache=False, progress=False)
    xr.testing.assert_identical(first.drop_attrs(), second.drop_attrs())
    assert set(first.data_vars) >= {"train_loss", "test_acc", "lambda", "hvp_count"}
    assert first.sizes == {"step": 3, "eig": 2}
    assert (first["lambda"].diff("eig") <= 0).all()


def test_run_records_provenance():
    ds = run(TINY, cache=False, progress=False)
    assert ds.attrs["config_hash"] == configuration.config_hash(TINY)
    assert '"lr": 0.05' in ds.attrs["config"]
    assert ds.attrs["diverged"] == 0 and ds.attrs["wall_time_s"] > 0
    assert ds.attrs["version_torch"] and ds.attrs["git_commit"]


def test_cached_run_is_reused_and_failed_runs_leave_the_cache_intact(tmp_path, monkeypatch):
    ds = run(TINY, cache=tmp_path, progress=False)
    path = run_cache.run_path(TINY, tmp_path)
    before = path.read_bytes()

    def no_training(*args, **kwargs):
        raise RuntimeError("training should not run for a cached config")

    monkeypatch.setattr(train, "train_uncached", no_training)
    xr.testing.assert_identical(run(TINY, cache=tmp_path, progress=False), ds)
    with pytest.raises(RuntimeError):
        run(dataclasses.replace(TINY, seed=1), cache=tmp_path, progress=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "run.nc"
    run_cache.save(xr.Dataset({"a": ("x", [1.0])}), path)

    def broken_write(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken_write)
    with pytest.raises(OSError):
        run_cache.save(xr.Dataset({"a": ("x", [2.0])}), path)
    assert run_cache.load(path)["a"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_divergence_ends_the_run_cleanly():
    ds = run(dataclasses.replace(TINY, lr=1e4), cache=False, progress=False)
    assert ds.attrs["diverged"] == 1
    assert ds.attrs["diverged_at_step"] >= 0
    assert ds.sizes["step"] < 3


def test_config_hash_ignores_defaults_and_sees_changes():
    assert configuration.config_hash(RunConfig()) == configuration.config_hash(RunConfig(lr=0.05))
    assert configuration.config_hash(RunConfig(lr=0.1)) != configuration.config_hash(RunConfig())
    assert configuration.config_hash(TINY) != configuration.config_hash(dataclasses.replace(TINY, seed=1))


def test_measurement_schedule_zooms_into_early_training():
    assert clock.measurement_steps(1.0, 1.0, 0.25, clock.layout(3, 8, 1)) == [0, 2, 4, 6, 8, 16, 24]
    assert clock.measurement_steps(2.0, 0.0, 0.1, clock.layout(2.5, 4, 1)) == [0, 8, 10]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dataset": "imagenet"}, "dataset 'imagenet' is unknown; choose one of: mnist1d"),
        ({"model": "transformer"}, "model 'transformer' is unknown; choose one of: mlp"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"batch_size": -1}, "batch_size must be at least 1"),
        ({"batch_size": 257}, r"batch_size must be between 1 and the training set size \(256\)"),
        ({"hessian_size": 1000}, r"hessian_size must be between 1 and the training set size \(256\)"),
        ({"top_k": 10**7}, "top_k must be between 1 and the number of parameters"),
        ({"probes": ("losses", "telepathy")}, "probes .* unknown"),
        ({"dtype": "float16"}, "dtype 'float16' is unknown"),
        ({"optimizer": "adam"}, "optimizer kind 'adam' is unknown; choose one of: sgd, nudged"),
        ({"optimizer": {"kind": "nudged", "gamma": -1.0}}, r"Nudged.gamma \(the nudge γ\) must be non-negative"),
        ({"optimizer": {"kind": "nudged", "k": 0}}, "Nudged.k must be at least 1"),
        ({"optimizer": {"kind": "nudged", "k": 10**7}}, r"Nudged.k must be between 1 and the number of parameters \(\d+\)"),
        ({"optimizer": {"kind": "nudged", "refresh": 0}}, r"Nudged.refresh \(steps\) must be at least 1"),
        ({"probes": ("losses", "alignment", "eigen")}, r"probes \['alignment'\] use the top eigenvectors"),
        ({"probe_gradients": 0}, "probe_gradients must be at least 1"),
        ({"label_noise": 1.0}, r"label_noise must be in \[0, 1\)"),
        pytest.param({"device": "cuda"}, "device 'cuda': no CUDA device is visible to this process",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")),
    ],
)
def test_bad_configuration_is_rejected_before_training(change, message, monkeypatch):
    monkeypatch.setattr(train.torch.optim, "SGD", None)  # training would fail differently
    with pytest.raises(ValueError, match=message):
        run(dataclasses.replace(TINY, **change), cache=False, progress=False)


def test_a_model_without_trainable_parameters_is_named_before_training():
    from sgdlab.task import models

    models.register("all_frozen", lambda shape, classes: torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(40, classes)).requires_grad_(False), version="1")
    try:
        with pytest.raises(ValueError, match="model 'all_frozen' has no trainable parameters"):
            run(dataclasses.replace(TINY, model="all_frozen", model_options={}), cache=False, progress=False)
    finally:
        models.unregister("all_frozen")


def test_float64_runs_match_float32_closely():
    ds32 = run(TINY, cache=False, progress=False)
    ds64 = run(dataclasses.replace(TINY, dtype="float64"), cache=False, progress=False)
    np.testing.assert_allclose(ds64["lambda"].isel(step=0), ds32["lambda"].isel(step=0), rtol=1e-3)


def test_nudged_sgd_at_gamma_one_is_the_sgd_run_and_other_gammas_change_it():
    sgd = run(TINY, cache=False, progress=False)
    nudged = dataclasses.replace(TINY, optimizer=Nudged(k=2, refresh=3))
    xr.testing.assert_identical(run(nudged, cache=False, progress=False).drop_attrs(), sgd.drop_attrs())
    sharp = run(dataclasses.replace(nudged, optimizer=Nudged(gamma=0.1, k=2, refresh=3)), cache=False, progress=False)
    assert sharp.attrs["diverged"] == 0
    assert not np.allclose(sharp["train_loss"].isel(step=-1), sgd["train_loss"].isel(step=-1))


def test_a_diverging_nudged_run_is_recorded_as_diverged():
    ds = run(dataclasses.replace(TINY, optimizer=Nudged(gamma=5.0, k=2), lr=1e3), cache=False, progress=False)
    assert ds.attrs["diverged"] == 1


def test_direction_probes_record_their_measurements():
    config = dataclasses.replace(TINY, top_k=5, probe_gradients=2, probes=(
        "losses", "eigen", "step_decomposition", "cross_sections", "alignment", "distance_from_init"))
    ds = run(config, cache=False, progress=False)
    assert ds.sizes == {"step": 3, "eig": 5, "scale": 7, "section": 3, "offset": 15}
    assert ds["distance_from_init"].isel(step=0) == 0 and (ds["distance_from_init"].isel(step=slice(1, None)) > 0).all()
    assert ((ds["opposite_walls"] >= 0) & (ds["opposite_walls"] <= 1)).all()
    assert (ds["grad_cos_top"] > 0).all() and (ds["grad_cos_top"] <= 1).all()
    section = ds["section_loss"].isel(offset=7)  # offset 0: the current point
    assert (section == section.isel(section=0)).all()


def test_memorisation_probe_splits_training_accuracy_by_label_kind():
    noisy = dataclasses.replace(TINY, train_size=64, label_noise=0.5, batch_size=16, epochs=150, hessian_size=32,
                                measure_every=50.0, probes=("losses", "memorisation"), model_options={"width": 64})
    ds = run(noisy, cache=False, progress=False)
    mixed = 0.5 * ds["memorised_acc"] + 0.5 * ds["clean_train_acc"]  # 32 of 64 labels are random
    np.testing.assert_allclose(mixed, ds["train_acc"], rtol=1e-12)
    assert ds["memorised_acc"][0] < 0.3  # random labels: about chance at initialisation ...
    assert ds["memorised_acc"][-1] == 1.0  # ... learnt by heart (against the random labels) in the end


def test_the_test_set_probe_reports_the_real_test_set_beside_a_validation_split():
    probes = ("losses", "test_set")
    on_test = run(dataclasses.replace(TINY, probes=probes), cache=False, progress=False)
    np.testing.assert_array_equal(on_test["test_set_acc"], on_test["test_acc"])  # the same set
    on_validation = run(dataclasses.replace(TINY, probes=probes, holdout="validation"), cache=False, progress=False)
    accuracies = on_validation["test_set_acc"].values * 1000  # MNIST-1D's 1,000 test examples
    np.testing.assert_allclose(accuracies, np.round(accuracies), atol=1e-9)
    assert not np.array_equal(on_validation["test_set_acc"], on_validation["test_acc"])


def test_memorisation_needs_random_labels():
    with pytest.raises(ValueError, match="memorisation probe needs label_noise > 0"):
        run(dataclasses.replace(TINY, probes=("losses", "memorisation")), cache=False, progress=False)


def test_the_recomputing_hessian_path_gives_the_same_numbers_and_is_chosen_when_memory_runs_out(monkeypatch):
    reused = run(TINY, cache=False, progress=False)
    recomputed = run(dataclasses.replace(TINY, hessian_reuse_graph=False, hessian_batch_size=32), cache=False,
                     progress=False)
    np.testing.assert_allclose(recomputed["lambda"], reused["lambda"], rtol=1e-4)
    from sgdlab import curvature

    real, calls = curvature.hessian, []

    def short_of_memory(model, batches, loss_fn, *, reuse_graph=True, **options):
        calls.append(reuse_graph)
        if reuse_graph:
            raise torch.OutOfMemoryError("no room for the retained graph")
        return real(model, batches, loss_fn, reuse_graph=reuse_graph, **options)

    monkeypatch.setattr(curvature, "hessian", short_of_memory)
    fallback = run(TINY, cache=False, progress=False)
    np.testing.assert_allclose(fallback["lambda"], reused["lambda"], rtol=1e-4)
    assert calls[:2] == [True, False] and not any(calls[2:])  # once out of memory, it recomputes from then on


@probes.probe("seen_lr", seen_lr=Variable("learning rate seen by a probe", "ctx.lr at the measurement"))
def _seen_lr(ctx):
    return {"seen_lr": ((), ctx.lr)}


def test_a_probe_after_an_fdr_cut_sees_the_cut_learning_rate(monkeypatch):
    """The FDR scheduler sets its own η (it does not take the step's batch): probes read the η it holds,
    not the configured one. FDR1 is made to hold at every check, so η halves every 4 steps."""
    monkeypatch.setattr("sgdlab.optim.fdr.fdr1_distance", lambda ratio: 0.0)
    config = dataclasses.replace(TINY, probes=("losses", "seen_lr"), traces=("loss",), measure_every=0.25,
                                 optimizer=FDRScheduler(Y=0.5, t_adaptive=4))
    ds = run(config, cache=False, progress=False)
    step_lr = ds["step_lr"].values
    assert step_lr[-1] < config.lr  # the scheduler cut η during the run
    seen = ds["seen_lr"].sel(step=ds.step[1:-1]).values  # states with a step after them
    taken = step_lr[ds.step[1:-1].values]  # the η of the step taken from each of those states
    cut_before = step_lr[ds.step[1:-1].values - 1]
    assert (seen == cut_before).all()  # the probe sees the η the scheduler holds at the state
    assert (seen < config.lr).any()
    # η held at the state is the one of the last step; a cut at the next check shows in the step after it
    assert ((taken == seen) | (taken == 0.5 * seen)).all()


def test_a_run_records_its_training_and_held_out_set_sizes():
    ds = run(dataclasses.replace(TINY, epochs=1), cache=False, progress=False)
    assert ds.attrs["n_train"] == 256 and ds.attrs["n_test"] == len(data.load("mnist1d").y_test)
