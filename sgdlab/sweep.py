"""Grids of runs: cached runs are loaded, the rest run on any ``concurrent.futures``-style executor."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager

import torch
import xarray as xr
from tqdm.auto import tqdm

from sgdlab import results, train
from sgdlab.train import RunConfig


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, so grid results do not depend on how runs were scheduled."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_pinned(config: RunConfig) -> xr.Dataset:
    """:func:`sgdlab.run` on one thread, without a progress bar (what every grid worker calls)."""
    with single_thread():
        return train.run(config, progress=False)


def local_executor(jobs: int | None = None) -> ProcessPoolExecutor:
    """Local worker processes (``spawn``, safe with torch), one per core by default."""
    return ProcessPoolExecutor(max_workers=jobs or os.cpu_count(), mp_context=multiprocessing.get_context("spawn"))


def run_grid(
    configs: Sequence[RunConfig], executor: Executor | None = None, *, jobs: int | None = None, progress: bool = True
) -> list[xr.Dataset]:
    """Every configuration's Dataset, in order. Cached runs are loaded; the rest go to ``executor``.

    Without an executor, missing runs go to :func:`local_executor` (``jobs`` processes), or run in
    this process when only one is missing or ``jobs == 1``. A worker writes its run to the cache as
    it finishes, so an interrupted grid resumes where it stopped.
    """
    configs = [dataclasses.replace(c, device=train.resolve_device(c.device)) for c in configs]
    for config in configs:
        train.validate(config)
    done: dict[str, xr.Dataset] = {}
    missing: dict[str, RunConfig] = {}
    for config in configs:
        path = results.run_path(config)
        key = path.stem
        if path.exists():
            done[key] = results.load(path)
        else:
            missing.setdefault(key, config)
    bar = tqdm(total=len(missing), desc="runs", unit="run", disable=not progress or not missing)
    if executor is None and (len(missing) <= 1 or jobs == 1):
        for key, config in missing.items():
            done[key] = run_pinned(config)
            bar.update()
    elif missing:
        pool = executor or local_executor(min(jobs or os.cpu_count() or 1, len(missing)))
        try:
            futures = {pool.submit(run_pinned, config): key for key, config in missing.items()}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                bar.update()
        finally:
            if executor is None:
                pool.shutdown(cancel_futures=True)
    bar.close()
    return [done[results.config_hash(c)] for c in configs]
