"""Run results on disk: configuration hashes, provenance, atomic netCDF writes, the run cache."""

from __future__ import annotations

import dataclasses
import glob
import itertools
import json
import os
import platform
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sgdlab import atomic, paths
from sgdlab.atomic import remove_stale_temporaries  # noqa: F401 (part of this module's interface)
from sgdlab.config import RunConfig, config_hash, resolve_device
from sgdlab.version import __version__

_PACKAGES = ("torch", "numpy", "xarray", "mnist1d")


def run_path(config: RunConfig, root: Path | None = None) -> Path:
    """Where the run of ``config`` is cached: ``<runs_dir>/<hash>.nc``, with ``device="auto"`` resolved
    to the device it runs on here (as :func:`sgdlab.run_grid` runs it)."""
    if config.device == "auto":
        config = dataclasses.replace(config, device=resolve_device(config.device))
    return (root or paths.runs_dir()) / f"{config_hash(config)}.nc"


def git_commit() -> str:
    """The commit of the sgdlab checkout (``+dirty`` if modified), or ``unknown`` outside git."""
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance() -> dict[str, str]:
    """Package versions, git commit and platform, as netCDF-safe string attributes."""
    versions = {"version_sgdlab": __version__}  # also right when run from a source tree
    for name in _PACKAGES:
        try:
            versions[f"version_{name}"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[f"version_{name}"] = "not installed"
    return {**versions, "git_commit": git_commit(), "python": platform.python_version(), "host": platform.node()}


def save(ds: xr.Dataset, path: Path) -> Path:
    """Write ``ds`` to ``path`` atomically (see :mod:`sgdlab.atomic`), with the mode the process umask gives."""
    return atomic.write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


def load_cached(path: Path) -> xr.Dataset | None:
    """The cached run at ``path``, or ``None`` when there is none or it cannot be read.

    An unreadable file (truncated, emptied, corrupted) is moved aside to ``<name>.corrupt``, kept for
    inspection, with one warning naming it, so the caller recomputes the run.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 (h5py, h5netcdf, xarray: OSError, KeyError, RuntimeError... on bad bytes)
        aside = path.with_name(f"{path.name}.corrupt")
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        try:
            os.replace(path, aside)
        except FileNotFoundError:  # another process moved it aside first
            return None
        warnings.warn(f"unreadable cache file {path} ({reason}) moved to {aside.name}; recomputing it",
                      RuntimeWarning, stacklevel=2)
        return None


def check_writable(folder: Path) -> None:
    """Raise ValueError, naming ``folder``, unless files can be created in it (it is created if missing).

    Tried for real (a temporary file created and removed): permission bits do not tell, e.g. for root
    or on a read-only mount.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ValueError(f"the run cache {folder} is not writable ({exc.strerror or exc}); make it writable, "
                         "or point SGDLAB_DATA at a folder you can write to") from None


PROVENANCE = ("config", "config_hash", "git_commit", "wall_time_s", "diverged")
_FILL = {"config": "", "config_hash": "", "git_commit": "", "diverged": -1}


PLANNED = ".planned.*.tmp"  # named like a temporary, so one a killed grid left is removed as stale
_PLANNED_COUNT = itertools.count()


@contextmanager
def planned(folder: Path, hashes: Sequence[str]) -> Iterator[None]:
    """Announce, while a grid computes them, the runs it will add to the cache ``folder`` (a small
    ``.planned.<host>.<pid>.<n>.tmp`` file), so a watcher in another process knows the total."""
    if not hashes:
        yield
        return
    path = folder / f".planned.{socket.gethostname()}.{os.getpid()}.{next(_PLANNED_COUNT)}.tmp"
    atomic.write(path, lambda tmp: Path(tmp).write_text(json.dumps(list(hashes))))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def planned_runs(folder: Path, since: float = 0.0) -> set[str]:
    """The hashes announced by the grids computing into ``folder`` now, in files written after the
    time ``since`` (see :func:`planned`)."""
    found: set[str] = set()
    for path in Path(folder).glob(PLANNED):
        try:
            if path.stat().st_mtime < since:
                continue
            found |= set(json.loads(path.read_text()))
        except (OSError, ValueError):  # removed or being written meanwhile
            continue
    return found


def flat_config(run: xr.Dataset) -> dict[str, Any]:
    """A run's configuration with nested fields flattened: ``{"optimizer.gamma": 0.1, "lr": 0.2, ...}``."""

    def flatten(fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for key, value in fields.items():
            if isinstance(value, dict) and key != "model_options" and key != "every":
                out |= flatten(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value
        return out

    return flatten(json.loads(run.attrs["config"]))


def load_grid(source: Sequence[xr.Dataset] | Sequence[RunConfig] | Mapping[Any, xr.Dataset] | str | Path,
              dims: Sequence[str] | None = None) -> xr.Dataset:
    """Runs side by side in one Dataset, one dim per swept configuration field (``lr``, ``batch_size``, ``seed``...).

    ``source``: run Datasets (a sequence, or the values of a mapping such as :func:`sgdlab.run_grid`
    returns for a mapping), run configurations (read from the cache), a folder of run files, or a glob
    pattern. ``dims`` defaults to the scalar fields that differ between the runs; a nested field is
    named by its path (``"optimizer.gamma"``) and its dim by the path's last part (``gamma``). Runs are
    aligned on ``epoch`` (an outer join: NaN where a run was not measured); per-step traces on
    ``iteration``; combinations of the dims that were not run hold NaN. Each run's provenance
    (:data:`PROVENANCE`: configuration, hash, git commit, wall time, divergence flag) becomes a
    coordinate over the dims, so ``ds.sel(lr=0.1)`` keeps it.
    """
    runs = _runs(list(source.values()) if isinstance(source, Mapping) else source)
    configs = [flat_config(ds) for ds in runs]
    paths_ = list(dims) if dims is not None else _varying(configs)
    unknown = [d for d in paths_ if d not in configs[0]]
    if unknown or not paths_:
        raise ValueError(f"dims {unknown or paths_} must be configuration fields that differ between runs; "
                         f"choose from: {', '.join(configs[0])}")
    names = [p.rsplit(".", 1)[-1] for p in paths_]
    keys = [tuple(c[d] for d in paths_) for c in configs]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            j = keys.index(key)
            differ = sorted(f for f in configs[i] if configs[i][f] != configs[j][f])
            raise ValueError(f"two runs share {dict(zip(paths_, key))}; add the fields they differ in to dims: "
                             f"{', '.join(differ) or 'none (the same run twice)'}")
    stacked = _aligned(runs, "run")
    stacked = stacked.assign_coords({d: ("run", [k[i] for k in keys]) for i, d in enumerate(names)})
    if len(names) == 1:
        return stacked.swap_dims(run=names[0]).sortby(names[0])
    grid = stacked.set_index(run=names).unstack("run", fill_value={**_FILL, **{v: np.nan for v in stacked.data_vars}})
    return grid.transpose(*names, ...)


def combine(datasets: Sequence[xr.Dataset], dim: str) -> xr.Dataset:
    """Stack runs along one ``dim``, a configuration field that differs between them: ``load_grid(datasets, [dim])``."""
    return load_grid(datasets, [dim])


def stack(runs: Mapping[str, xr.Dataset], dim: str) -> xr.Dataset:
    """Runs under names (e.g. ``{"cyclic η": ..., "cyclic S": ...}``) stacked along a new ``dim`` labelled
    by the names, aligned on ``epoch``; each run's provenance becomes a coordinate along ``dim``."""
    return _aligned(list(runs.values()), dim).assign_coords({dim: list(runs)})


def _aligned(runs: Sequence[xr.Dataset], dim: str) -> xr.Dataset:
    """Runs concatenated along ``dim``, aligned on ``epoch`` (outer join), provenance as coordinates."""
    parts = [ds.swap_dims(step="epoch").drop_vars("step").assign_coords({n: ds.attrs[n] for n in PROVENANCE})
             for ds in runs]
    return xr.concat(parts, dim=dim, join="outer", combine_attrs="drop_conflicts", coords=list(PROVENANCE),
                     compat="equals")


def _runs(source: Sequence[Any] | str | Path) -> list[xr.Dataset]:
    if isinstance(source, (str, Path)):
        folder = Path(source).expanduser()
        files = sorted(folder.glob("*.nc")) if folder.is_dir() else sorted(map(Path, glob.glob(str(folder))))
        if not files:
            raise ValueError(f"no run files (*.nc) found at {source}")
        return [load(f) for f in files]
    source = list(source)
    if not source:
        raise ValueError("no runs given")
    if all(isinstance(s, xr.Dataset) for s in source):
        return source
    missing = [c for c in source if not run_path(c).exists()]
    if missing:
        raise ValueError(f"{len(missing)} of {len(source)} runs are not in the cache ({run_path(missing[0]).name} "
                         "first); compute them with sgdlab.run_grid")
    return [load(run_path(c)) for c in source]


def _varying(configs: list[dict[str, Any]]) -> list[str]:
    """The scalar configuration fields whose value is not the same in every run."""
    return [f for f, v in configs[0].items()
            if isinstance(v, (int, float, str, bool, type(None))) and any(c.get(f) != v for c in configs[1:])]


def load(path: Path) -> xr.Dataset:
    """Read a saved Dataset fully into memory (the file is closed on return)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
