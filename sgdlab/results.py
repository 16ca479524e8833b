"""Run results on disk: configuration hashes, provenance, atomic netCDF writes, the run cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import xarray as xr

from sgdlab import paths, schedules

CACHE_VERSION = 1  # bump when a change to the code changes what a cached run would contain
_PACKAGES = ("sgdlab", "torch", "numpy", "xarray", "mnist1d")


def _encode(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: schedules as ``{"kind": ..., ...}``, the rest as ``str``."""
    if isinstance(value, tuple(schedules.KINDS.values())):
        return schedules.to_dict(value)
    return str(value)


def _fields(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def config_json(config: Any) -> str:
    """The configuration as canonical JSON (sorted keys), every field included."""
    return json.dumps(_fields(config), sort_keys=True, default=_encode)


def config_hash(config: Any) -> str:
    """A short hash of the fields that differ from their defaults (new defaulted fields keep old hashes)."""
    defaults = _fields(type(config)())
    changed = {name: value for name, value in _fields(config).items() if value != defaults[name]}
    text = json.dumps({"cache_version": CACHE_VERSION, **changed}, sort_keys=True, default=_encode)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_path(config: Any, root: Path | None = None) -> Path:
    """Where the run of ``config`` is cached: ``<runs_dir>/<hash>.nc``."""
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
    versions = {}
    for name in _PACKAGES:
        try:
            versions[f"version_{name}"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[f"version_{name}"] = "not installed"
    return {**versions, "git_commit": git_commit(), "python": platform.python_version(), "host": platform.node()}


def save(ds: xr.Dataset, path: Path) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def combine(datasets: Sequence[xr.Dataset], dim: str) -> xr.Dataset:
    """Stack runs along ``dim``, a configuration field that differs between them (``lr``, ``seed``...).

    Runs are aligned on ``epoch`` (an outer join: a run not measured at an epoch holds NaN there);
    each run's configuration, hash, wall time and divergence flag become coordinates along ``dim``.
    """
    parts = []
    for ds in datasets:
        config = json.loads(ds.attrs["config"])
        if dim not in config:
            raise ValueError(f"dim {dim!r} is not a configuration field; choose one of: {', '.join(config)}")
        per_run = {name: ds.attrs[name] for name in ("config", "config_hash", "wall_time_s", "diverged")}
        parts.append(ds.swap_dims(step="epoch").drop_vars("step").assign_coords({dim: config[dim], **per_run}))
    return xr.concat(parts, dim=dim, join="outer", combine_attrs="drop_conflicts", coords="different",
                     compat="equals")


def load(path: Path) -> xr.Dataset:
    """Read a saved Dataset fully into memory (the file is closed on return)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
