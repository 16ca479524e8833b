"""The run cache on disk: a run's path by configuration hash, provenance, atomic netCDF writes, loading."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import platform
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import xarray as xr

from sgdlab.core import atomic, paths
from sgdlab.core.atomic import remove_stale_temporaries  # noqa: F401 (part of this module's interface)
from sgdlab.training.config import RunConfig, config_hash, resolve_device
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
    """Write ``ds`` to ``path`` atomically (see :mod:`sgdlab.core.atomic`), with the mode the process umask gives."""
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


def load(path: Path) -> xr.Dataset:
    """Read a saved Dataset fully into memory (the file is closed on return)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
