"""Runs judged at their end: curvature measured only at the end, endpoints read from a run, seed means."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sgdlab.findings import endpoints
from sgdlab.training.config import RunConfig
from sgdlab.training.loop import run

TINY = RunConfig(train_size=128, epochs=1, batch_size=32, probes=("losses", "eigen", "hessian_norm"), top_k=1,
                 hessian_size=64, hutchinson_samples=2, model_options={"width": 8})


@pytest.fixture(scope="module")
def runs():
    """Two seeds of one configuration, trained 2 epochs and measured at the end."""
    return [run(endpoints.at_end(dataclasses.replace(TINY, seed=s), 2.0), cache=False, progress=False) for s in (0, 1)]


def test_at_end_measures_the_curvature_only_at_the_end(runs):
    config = endpoints.at_end(TINY, 2.0)
    assert (config.epochs, config.measure_every) == (2.0, 2.0)
    assert runs[0].epoch.values.tolist() == [0.0, 2.0]
    assert np.isnan(runs[0]["lambda"].values[0]).all() and np.isfinite(runs[0]["lambda"].values[-1]).all()
    assert np.isfinite(runs[0]["train_loss"].values).all()  # the losses at the start and the end


def test_endpoints_and_their_seed_mean(runs):
    ends = [endpoints.endpoints(r) for r in runs]
    assert set(ends[0]) == {"lambda1", "hessian_fro", "test_acc", "train_acc", "train_loss"}
    assert float(ends[0].lambda1) == float(runs[0]["lambda"].sel(eig=1)[-1])
    assert float(ends[0].hessian_fro) == float(runs[0]["hessian_frobenius"][-1])
    mean = endpoints.seed_mean(runs)
    for name in mean:
        assert float(mean[name]) == pytest.approx((float(ends[0][name]) + float(ends[1][name])) / 2)


def test_bad_input(runs):
    with pytest.raises(ValueError, match="not among the run's probes"):
        endpoints.at_end(dataclasses.replace(TINY, probes=("losses",)), 2.0)
    other = runs[1].copy()
    other.attrs["config"] = json.dumps(json.loads(other.attrs["config"]) | {"lr": 0.5})
    with pytest.raises(ValueError, match="differing only in their seed"):
        endpoints.seed_mean([runs[0], other])
    with pytest.raises(ValueError, match="at least one run"):
        endpoints.seed_mean([])
