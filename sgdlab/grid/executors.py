"""Named executors for grids of runs: local processes, a Dask cluster by address, Slurm through submitit.

An executor is named by a string, so a command line or an environment variable can choose it:

- ``local`` — worker processes on this machine (``spawn``), one torch thread each;
- ``dask://HOST:PORT`` — the workers of a running ``dask.distributed`` scheduler (dask-jobqueue starts
  such clusters on Slurm/PBS);
- ``submitit[:FOLDER][?key=value&...]`` — one Slurm job per run through submitit (its local executor
  where Slurm is absent); the query sets submitit parameters, e.g. ``?timeout_min=60&slurm_partition=gpu``.

``SGDLAB_EXECUTOR`` and ``SGDLAB_JOBS`` set the default executor and number of workers, so notebooks
that call :func:`sgdlab.run_grid` can be pointed at a cluster without changing them.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from sgdlab.core import paths

ENV_EXECUTOR = "SGDLAB_EXECUTOR"
ENV_JOBS = "SGDLAB_JOBS"
KINDS = ("local", "dask://HOST:PORT", "submitit[:FOLDER]")
CONNECT_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def default_name() -> str:
    """``$SGDLAB_EXECUTOR``, else ``local``."""
    return os.environ.get(ENV_EXECUTOR) or "local"


def default_jobs() -> int | None:
    """``$SGDLAB_JOBS`` as a positive integer, else ``None`` (one worker per core)."""
    value = os.environ.get(ENV_JOBS)
    return None if not value else jobs_count(value, ENV_JOBS)


def jobs_count(value: str | int, name: str = "jobs") -> int:
    """``value`` as a positive number of workers, or a ValueError naming ``name``."""
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return jobs


def _dask_address(name: str) -> str:
    """``dask://HOST:PORT`` → ``tcp://HOST:PORT`` (``dask://tls://...`` keeps its protocol)."""
    rest = name.removeprefix("dask://")
    return rest if "://" in rest else f"tcp://{rest}"


def check(name: str) -> None:
    """Raise ValueError, in one line, when ``name`` is not an executor or its cluster cannot be reached.

    A Dask scheduler is probed with a TCP connection (a few seconds at most), and submitit's parameters
    are set on its executor, so a wrong address or parameter is reported before any notebook or run starts.
    """
    if name == "local":
        return
    if name.startswith("dask://"):
        parts = urlsplit(_dask_address(name))
        if not parts.hostname or not parts.port:
            raise ValueError(f"executor {name!r}: give the scheduler as dask://HOST:PORT")
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise ValueError(f"executor {name!r}: no Dask scheduler reachable at {parts.hostname}:{parts.port} "
                             f"({exc.strerror or exc})") from None
        return
    if name == "submitit" or name.startswith(("submitit:", "submitit?")):
        with tempfile.TemporaryDirectory() as scratch:  # submitit's local executor creates its folder
            _submitit_executor(name, Path(scratch))
        return
    raise ValueError(f"executor {name!r} is unknown; choose one of: {', '.join(KINDS)}")


@contextmanager
def open_executor(name: str, jobs: int | None = None) -> Iterator[Executor]:
    """The executor ``name`` (see the module's doc), shut down on exit.

    ``jobs`` sets the number of local worker processes; a Dask cluster has its own workers, and
    submitit submits one job per run.
    """
    check(name)
    if name == "local":
        pool = ProcessPoolExecutor(max_workers=jobs or os.cpu_count(), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=end_with_parent, initargs=(os.getpid(),))
        with _shutdown(pool):
            yield pool
    elif name.startswith("dask://"):
        with _dask(_dask_address(name)) as executor:
            yield executor
    else:
        with _submitit(name) as executor:
            yield executor


def end_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """End this process when process ``parent`` dies, even by SIGKILL (the initializer of local workers).

    On Linux the kernel sends SIGKILL at once (``PR_SET_PDEATHSIG``, armed for the thread that started
    this process: the pool's users keep it alive while the pool lives); everywhere, a daemon thread
    polls the parent's pid every ``poll_s`` seconds and exits when this process has been orphaned.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_exit_when_orphaned, args=(parent, poll_s), daemon=True, name="end-with-parent").start()


def _exit_when_orphaned(parent: int, poll_s: float) -> None:
    while os.getppid() == parent:  # false at once if the parent died before the signal was armed
        time.sleep(poll_s)
    os._exit(1)


@contextmanager
def _shutdown(pool: Executor) -> Iterator[None]:
    try:
        yield
    finally:
        pool.shutdown(cancel_futures=True)


@contextmanager
def _dask(address: str) -> Iterator[Executor]:
    distributed = _require("distributed")
    with distributed.Client(address, timeout=f"{CONNECT_TIMEOUT_S}s") as client:  # closing it cancels what is left
        yield client.get_executor(pure=False)


class SubmititExecutor(Executor):
    """submitit's jobs behind the ``concurrent.futures`` interface: each submission is one job."""

    def __init__(self, executor, waiters: int = 64):
        self._executor = executor
        self._waiters = ThreadPoolExecutor(max_workers=waiters, thread_name_prefix="submitit-wait")

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        job = self._executor.submit(fn, *args, **kwargs)
        return self._waiters.submit(job.result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._waiters.shutdown(wait=wait, cancel_futures=cancel_futures)


@contextmanager
def _submitit(name: str) -> Iterator[Executor]:
    executor = SubmititExecutor(_submitit_executor(name))
    with _shutdown(executor):
        yield executor


def _submitit_executor(name: str, folder: Path | None = None) -> Any:
    """submitit's ``AutoExecutor`` for ``submitit[:FOLDER][?key=value&...]``, its parameters set.

    Values are YAML literals; submitit itself checks the keys and the types of its shared parameters.
    Anything it refuses becomes one ValueError naming the executor. ``folder`` replaces FOLDER.
    """
    submitit = _require("submitit")
    parts = urlsplit(name.removeprefix("submitit").removeprefix(":"))
    folder = folder or Path(parts.path or paths.data_dir() / "submitit").expanduser().resolve()
    parameters = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        try:
            parameters[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"executor {name!r}: the value of {key}, {value!r}, is not a YAML literal") from None
    cluster = parameters.pop("cluster", None)
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        executor.update_parameters(**parameters)
    except (AssertionError, NameError, RuntimeError, TypeError, ValueError) as exc:  # submitit's own checks
        raise ValueError(f"executor {name!r}: {'; '.join(str(exc).splitlines())}") from None
    return executor


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"the {module} package is missing; install sgdlab's cluster extra: "
                         "pip install 'sgdlab[cluster]'") from None
