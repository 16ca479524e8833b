"""Grids of runs: cached runs are loaded, the rest run on any ``concurrent.futures``-style executor."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, as_completed
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from sgdlab.core import paths
from sgdlab.grid import executors, tables
from sgdlab.training import config as configuration
from sgdlab.training import loop as train
from sgdlab.training import run_cache
from sgdlab.training.config import RunConfig


def run_quietly(config: RunConfig, cache_dir: Path) -> xr.Dataset:
    """:func:`sgdlab.run` cached in ``cache_dir``, without a progress bar (what grid workers call).

    Each run sets torch's thread count to its ``threads`` field (one by default), so a run's numbers
    do not depend on where or beside what it ran."""
    return train.run(config, cache=cache_dir, progress=False)


def _cached(configs: Sequence[RunConfig], cache_dir: Path) -> tuple[dict[str, xr.Dataset], dict[str, RunConfig]]:
    """The runs already in the cache, and the configurations still to run, both by hash."""
    if cache_dir.is_dir():
        run_cache.remove_stale_temporaries(cache_dir)
    done: dict[str, xr.Dataset] = {}
    missing: dict[str, RunConfig] = {}
    for config in configs:
        path = run_cache.run_path(config, cache_dir)
        if (ds := run_cache.load_cached(path)) is not None:
            done[path.stem] = ds
        else:
            missing.setdefault(path.stem, config)
    return done, missing


def _submitted(pool: Executor, missing: dict[str, RunConfig], cache_dir: Path, bar: tqdm) -> dict[str, xr.Dataset]:
    """Run the missing configurations on ``pool``; save each result here too (a worker's disk may be another)."""
    done = {}
    futures = {pool.submit(run_quietly, config, cache_dir): key for key, config in missing.items()}
    for future in as_completed(futures):
        ds, path = future.result(), cache_dir / f"{futures[future]}.nc"
        if not path.exists():
            run_cache.save(ds, path)
        done[futures[future]] = ds
        bar.update()
    return done


def run_grid(
    configs: Sequence[RunConfig] | Mapping[Any, RunConfig],
    executor: Executor | str | None = None,
    *,
    dims: Sequence[str] | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> list[xr.Dataset] | dict[Any, xr.Dataset] | xr.Dataset:
    """Every configuration's Dataset, in order (a list), or under the same keys for a mapping of
    configurations (a dict: ``run_grid({"cyclic η": a, "cyclic S": b})["cyclic S"]``); with ``dims``,
    one labelled Dataset over those configuration fields (:func:`sgdlab.grid.tables.load_grid`:
    ``run_grid(configs, dims=["lr", "batch_size"]).sel(lr=0.1)``). Cached runs are loaded; the rest go
    to ``executor``.

    ``executor`` is any ``concurrent.futures.Executor`` or a name from :mod:`sgdlab.grid.executors`
    (``"local"``, ``"dask://HOST:PORT"``, ``"submitit[:FOLDER]"``); by default ``$SGDLAB_EXECUTOR``,
    else local worker processes (``jobs`` of them, default ``$SGDLAB_JOBS`` or one per core). Locally,
    a single missing run or ``jobs == 1`` runs in this process. Each run is written to the cache as
    soon as it finishes (by the worker, and here if the worker's disk is not this one), so an
    interrupted grid resumes where it stopped.
    """
    if dims is not None:
        return tables.load_grid(run_grid(configs, executor, jobs=jobs, progress=progress), dims)
    if isinstance(configs, Mapping):
        return dict(zip(configs, run_grid(list(configs.values()), executor, jobs=jobs, progress=progress)))
    configs = [dataclasses.replace(c, device=configuration.resolve_device(c.device)) for c in configs]
    for config in configs:
        configuration.validate(config)
    jobs = jobs or executors.default_jobs()
    name = None if isinstance(executor, Executor) else executor or executors.default_name()
    if name is not None:
        executors.check(name)
    cache_dir = paths.runs_dir()
    done, missing = _cached(configs, cache_dir)
    if missing:
        run_cache.check_writable(cache_dir)
    with run_cache.planned(cache_dir, list(missing)):
        done |= _compute(missing, name, executor, jobs, cache_dir, progress)
    return [done[configuration.config_hash(c)] for c in configs]


def _compute(missing: dict[str, RunConfig], name: str | None, executor: Executor | str | None, jobs: int | None,
             cache_dir: Path, progress: bool) -> dict[str, xr.Dataset]:
    """The missing runs, in this process (one run, or one job) or on the executor."""
    done: dict[str, xr.Dataset] = {}
    bar = tqdm(total=len(missing), desc="runs", unit="run", disable=not progress or not missing)
    if name == "local" and (len(missing) <= 1 or jobs == 1):
        for key, config in missing.items():
            done[key] = run_quietly(config, cache_dir)
            bar.update()
    elif missing:
        opened = (nullcontext(executor) if name is None
                  else executors.open_executor(name, min(jobs or os.cpu_count() or 1, len(missing))))
        with opened as pool:
            done |= _submitted(pool, missing, cache_dir, bar)
    bar.close()
    return done
