"""The suite every optimizer in the registry passes: its JSON round trip, the same numbers from the same
seed, a divergence recorded, and (where it has one) a neutral setting that is exactly SGD."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from sgdlab.optim import CDAT, OPTIMIZERS, SGD, FDRScheduler, Langevin, Nudged
from sgdlab.training import config as configuration
from sgdlab.training import loop as train
from sgdlab.training.config import RunConfig
from sgdlab.training.schedules import ReduceOnPlateau, Step

KINDS = list(OPTIMIZERS.classes)
TINY = RunConfig(train_size=128, batch_size=32, epochs=1, probes=("losses",), traces=("loss",), hessian_size=64,
                 top_k=2, measure_every=0.5, save_parameters=True, model_options={"width": 8})

DIVERGING = {  # (spec, lr) that blows up on TINY
    "sgd": (SGD(), 1e6),
    "nudged": (Nudged(gamma=1.0, k=2), 1e6),
    "cdat": (CDAT(sigma=1e6), TINY.lr),
    "langevin": (Langevin(temperature=1e-4), 1e6),
    "fdr": (FDRScheduler(), 1e6),
}
NEUTRAL = {  # the setting that reduces to SGD, or why there is none
    "sgd": SGD(),
    "nudged": Nudged(gamma=1.0, k=2, refresh=2),
    "cdat": "CDAT sets its own step size from the curvature at every step: no setting of σ or the EMA is SGD's "
            "constant step",
    "langevin": "Langevin dynamics needs a positive temperature; SGD is only its limit T → 0",
    "fdr": FDRScheduler(t_adaptive=10**6),  # never checks within the run: no cut
}


def run(config: RunConfig) -> xr.Dataset:
    return train.run(config, cache=False, progress=False)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_its_entries_in_this_suite(kind):
    assert kind in DIVERGING and kind in NEUTRAL


@pytest.mark.parametrize("kind", KINDS)
def test_an_optimizer_that_sets_its_own_learning_rate_refuses_a_schedule(kind):
    spec = OPTIMIZERS.classes[kind]()
    config = dataclasses.replace(TINY, optimizer=spec, lr_schedule=Step(values=(0.1, 0.01), boundaries=(0.5,)))
    if spec.chooses_lr:
        with pytest.raises(ValueError, match=f"lr_schedule cannot be combined with optimizer '{kind}'"):
            configuration.validate(config)
        with pytest.raises(ValueError, match=f"lr_plateau cannot be combined with optimizer '{kind}'"):
            configuration.validate(dataclasses.replace(TINY, optimizer=spec, lr_plateau=ReduceOnPlateau()))
    else:
        configuration.validate(config)
        assert run(config).step_lr.values[-1] == pytest.approx(0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_spec_survives_its_json_round_trip(kind):
    spec = DIVERGING[kind][0]
    assert OPTIMIZERS.from_dict(OPTIMIZERS.to_dict(spec)) == spec
    assert OPTIMIZERS.from_dict(kind) == OPTIMIZERS.classes[kind]()


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_runs_and_another_seed_does_not(kind):
    config = dataclasses.replace(TINY, optimizer=kind)
    first, second = run(config), run(config)
    xr.testing.assert_identical(first.drop_attrs(), second.drop_attrs())
    other = run(dataclasses.replace(config, seed=1))
    assert not np.array_equal(first.final_state.values, other.final_state.values)


@pytest.mark.parametrize("kind", KINDS)
def test_a_diverging_run_is_recorded_as_diverged(kind):
    spec, lr = DIVERGING[kind]
    ds = run(dataclasses.replace(TINY, optimizer=spec, lr=lr))
    assert ds.attrs["diverged"] == 1 and ds.attrs["diverged_at_step"] >= 0


@pytest.mark.parametrize("kind", KINDS)
def test_the_neutral_setting_is_exactly_sgd(kind):
    neutral = NEUTRAL[kind]
    if isinstance(neutral, str):
        pytest.skip(neutral)
    config = dataclasses.replace(TINY, momentum=0.9, weight_decay=1e-3)
    got, want = run(dataclasses.replace(config, optimizer=neutral)), run(dataclasses.replace(config, optimizer=SGD()))
    np.testing.assert_array_equal(got.final_state.values, want.final_state.values)
    np.testing.assert_array_equal(got.batch_loss.values, want.batch_loss.values)
