"""The run cache on disk: a run's path by configuration hash, provenance, atomic netCDF writes, loading."""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import xarray as xr

from sgdlab.core import atomic, netcdf, paths
from sgdlab.core.atomic import remove_stale_temporaries  # noqa: F401 (part of this module's interface)
from sgdlab.training.config import RunConfig, config_hash, from_json, resolve_device
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


def save(ds: xr.Dataset, path: Path) -> Path | None:
    """Write ``ds`` to ``path`` atomically, with a checksum of its data (see :mod:`sgdlab.core.netcdf` and
    :mod:`sgdlab.core.atomic`) and the mode the process umask gives; returns ``path``.

    The file is serialised in memory first, so a failed write (a full disk, a permission) touches no HDF5
    state and leaves any earlier file as it was; it warns in one line naming the path and the cause and
    returns ``None``, the caller keeping the run in memory.
    """
    raw = netcdf.to_bytes(ds)
    try:
        return atomic.write(path, lambda tmp: Path(tmp).write_bytes(raw))
    except OSError as exc:
        warnings.warn(f"run not cached: writing {path} failed ({_cause(exc)}); the run is kept in memory only",
                      RuntimeWarning, stacklevel=2)
        return None


def _cause(exc: OSError) -> str:
    """An OSError in words: ``disk full (No space left on device)``, ``permission denied (...)``..."""
    kind = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.EROFS: "read-only file system"}.get(exc.errno)
    detail = exc.strerror or str(exc) or type(exc).__name__
    return f"{kind} ({detail})" if kind else detail


def load_cached(path: Path) -> xr.Dataset | None:
    """The cached run at ``path``, or ``None`` when there is none or it is damaged.

    A damaged file (not netCDF, truncated, failing its checksum, or holding a configuration that does not
    hash to its name) is moved aside to ``<name>.corrupt`` (``.corrupt.1``, ``.corrupt.2``... when that
    exists: none is overwritten), kept for inspection, with one warning naming it, so the caller
    recomputes the run. An error in reading the file (too many open files, out of memory, an I/O error)
    says nothing about its content: it is raised, and the file left where it is.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        ds = netcdf.from_bytes(raw, path)
        _check_name(ds, path)
    except netcdf.DamagedFile as exc:
        aside = _move_aside(path)
        if aside is not None:
            warnings.warn(f"cache file {' '.join(str(exc).split())}; moved to {aside.name}, recomputing it",
                          RuntimeWarning, stacklevel=2)
        return None
    return ds


def _check_name(ds: xr.Dataset, path: Path) -> None:
    """DamagedFile unless the run's stored configuration hashes to the name of its file."""
    try:
        hashed = config_hash(from_json(ds.attrs["config"]))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise netcdf.DamagedFile(f"{path} holds no valid run configuration ({type(exc).__name__}: {exc})") from exc
    if hashed != path.stem:
        raise netcdf.DamagedFile(f"{path} holds a configuration that hashes to {hashed}, not to its name: "
                                 "it was edited")


def _move_aside(path: Path) -> Path | None:
    """Rename ``path`` to the first free ``<name>.corrupt[.n]``; None if it is gone (another process moved it)."""
    names = (path.with_name(f"{path.name}.corrupt" + (f".{n}" if n else "")) for n in itertools.count())
    aside = next(names)
    while True:
        try:
            os.link(path, aside)  # fails if ``aside`` exists, where a rename would replace it
        except FileExistsError:
            aside = next(names)
        except FileNotFoundError:
            return None
        except OSError:  # no hard links on this file system: a rename into a name found free
            if not aside.exists():
                return _replaced(path, aside)
            aside = next(names)
        else:
            path.unlink(missing_ok=True)
            return aside


def _replaced(path: Path, aside: Path) -> Path | None:
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return None
    return aside


MIN_FREE_BYTES = 2**20  # the up-front check wants this much free space in the run cache


def check_writable(folder: Path) -> None:
    """Raise ValueError, naming ``folder``, unless files can be created in it (it is created if missing)
    and at least :data:`MIN_FREE_BYTES` are free on its disk; remove the temporary files that writers
    killed on this host left there.

    Tried for real (a temporary file created and removed): permission bits do not tell, e.g. for root
    or on a read-only mount.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise ValueError(f"the run cache {folder} is not writable ({exc.strerror or exc}); make it writable, "
                         "or point SGDLAB_DATA at a folder you can write to") from None
    if free < MIN_FREE_BYTES:
        raise ValueError(f"the run cache {folder} is on a full disk ({free} bytes free); free some space, "
                         "or point SGDLAB_DATA at another disk")
    atomic.remove_stale_temporaries(folder)


PROVENANCE = ("config", "config_hash", "git_commit", "wall_time_s", "diverged")
_FILL = {"config": "", "config_hash": "", "git_commit": "", "diverged": -1}


PLANNED = ".planned.*.tmp"  # named like a temporary, so one a killed grid left is removed as stale
_PLANNED_COUNT = itertools.count()


@contextmanager
def planned(folder: Path, hashes: Sequence[str]) -> Iterator[None]:
    """Announce, while a grid computes them, the runs it will add to the cache ``folder`` (a small
    ``.planned.<host>.<pid>.<n>.tmp`` file), so a watcher in another process knows the total. A failed
    write (a full disk) announces nothing: the runs are computed all the same."""
    if not hashes:
        yield
        return
    path = folder / f".planned.{socket.gethostname()}.{os.getpid()}.{next(_PLANNED_COUNT)}.tmp"
    try:
        atomic.write(path, lambda tmp: Path(tmp).write_text(json.dumps(list(hashes))))
    except OSError:
        yield
        return
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
    """Read a saved Dataset fully into memory (the file is closed on return); a ValueError
    (:class:`sgdlab.core.netcdf.DamagedFile`) naming ``path`` when it is not netCDF or fails its checksum."""
    return netcdf.from_bytes(Path(path).read_bytes(), path)
