"""RunConfig.hessian_params: validation, JSON and hash, and a run whose λ's have a block dimension."""

from __future__ import annotations

import numpy as np
import pytest

import sgdlab
from sgdlab.training import config as config_module
from sgdlab.training.config import RunConfig, config_hash, from_json, to_json


def test_the_default_leaves_every_hash_as_it_was(monkeypatch):
    configs = [RunConfig(), RunConfig(lr=0.1, top_k=2), RunConfig(model="cnn", probes=("eigen",))]
    hashes = [config_hash(c) for c in configs]
    fields = config_module._fields
    monkeypatch.setattr(config_module, "_fields", lambda c: {k: v for k, v in fields(c).items()
                                                             if k != "hessian_params"})
    assert [config_hash(c) for c in configs] == hashes  # as without the field


def test_blocks_survive_json_as_tuples():
    config = RunConfig(hessian_params={"first": ["1.*"], "last": "5.*"}, top_k=2)
    assert config.hessian_params == {"first": ("1.*",), "last": "5.*"}
    assert from_json(to_json(config)) == config
    assert RunConfig(hessian_params=["1.*", "3.*"]).hessian_params == ("1.*", "3.*")
    assert config_hash(config) != config_hash(RunConfig(top_k=2))


@pytest.mark.parametrize("value, message", [
    (3, "hessian_params must be None, a glob pattern, a non-empty tuple of patterns or a dict"),
    ((), "hessian_params must be None, a glob pattern"),
    ({"a": 3}, "hessian_params must be None, a glob pattern"),
    ({}, "hessian_params: a dict of blocks needs at least one block and non-empty string names"),
    ({"": "1.*"}, "hessian_params: a dict of blocks needs"),
])
def test_bad_hessian_params_are_named(value, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(hessian_params=value)


def test_direction_probes_need_every_parameter():
    with pytest.raises(ValueError, match=r"hessian_params='1.\*' measures a block of parameters, but probes "
                                         r"\['alignment'\] need the eigenvectors of every parameter"):
        RunConfig(hessian_params="1.*", probes=("eigen", "alignment"))


def test_a_run_tracks_each_block_and_caches_the_block_dimension():
    config = RunConfig(train_size=200, hessian_size=200, epochs=1, batch_size=100, top_k=2, probes=("eigen",),
                       hessian_params={"first": "1.*", "last": "5.*"})
    ds = sgdlab.run(config)
    assert ds["lambda"].dims == ("step", "block", "eig") and ds.block.values.tolist() == ["first", "last"]
    assert np.isfinite(ds["lambda"].values).all() and ds["hvp_count"].dims == ("step", "block")
    again = sgdlab.run(config)  # from the cache
    assert again.block.values.tolist() == ["first", "last"]
    np.testing.assert_array_equal(again["lambda"].values, ds["lambda"].values)
    with pytest.raises(ValueError, match="params: pattern 'head.\\*' matches no parameter"):
        sgdlab.run(RunConfig(train_size=200, hessian_size=200, epochs=1, top_k=2, probes=("eigen",),
                             hessian_params="head.*"))
