"""Runs judged at their end: a configuration whose curvature probes measure only the endpoint
(:func:`at_end`), and the endpoint of each run of a grid or a list of runs (:func:`endpoints`, averaged over
seeds by :func:`seed_mean`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import xarray as xr

from sgdlab.findings import summaries
from sgdlab.grid import tables
from sgdlab.training.clock import Every
from sgdlab.training.config import RunConfig

# each endpoint variable: the run variable it is read from, at which coordinates
SOURCES = {"lambda1": ("lambda", {"eig": 1}), "hessian_fro": ("hessian_frobenius", {}), "test_acc": ("test_acc", {}),
           "train_acc": ("train_acc", {}), "train_loss": ("train_loss", {})}


def at_end(config: RunConfig, epochs: float, probes: Sequence[str] = ("eigen", "hessian_norm")) -> RunConfig:
    """``config`` trained for ``epochs`` epochs, measured at its start and its end (the losses), ``probes``
    only at the end."""
    unknown = [name for name in probes if name not in config.probes]
    if unknown:
        raise ValueError(f"probes {unknown} are not among the run's probes {list(config.probes)}")
    end = {name: Every(epochs=epochs, start=epochs) for name in probes}
    return dataclasses.replace(config, epochs=epochs, measure_every=epochs, every={**config.every, **end})


def endpoints(runs: xr.Dataset) -> xr.Dataset:
    """The last measured value of each :data:`SOURCES` variable a grid of runs holds (``lambda1``: the top
    eigenvalue ``lambda`` at ``eig=1``; ``hessian_fro``: ``hessian_frobenius``), along its other dims; a single
    run (along ``step``) gives scalars."""
    if "epoch" not in runs.dims:
        runs = runs.swap_dims(step="epoch")
    return xr.Dataset({name: summaries.final(runs[var].sel(at)) for name, (var, at) in SOURCES.items() if var in runs})


def seed_mean(runs: Sequence[xr.Dataset]) -> xr.Dataset:
    """The :func:`endpoints` of runs that differ only in their seed, averaged over the seeds."""
    configs = [{k: v for k, v in tables.flat_config(run).items() if k != "seed"} for run in runs]
    if not runs or any(c != configs[0] for c in configs):
        raise ValueError("runs must be at least one run, differing only in their seed")
    stacked = tables.stack({str(i): run for i, run in enumerate(runs)}, "seed")
    return endpoints(stacked).mean("seed")
