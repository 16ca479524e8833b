"""Reproduce the findings, and sweep a notebook over a parameter grid, with papermill."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sgdlab.core import paths
from sgdlab.findings import profiles
from sgdlab.grid import executors
from sgdlab.reproduction import folders, notebooks
from sgdlab.reproduction.progress import Progress

if TYPE_CHECKING:  # the report's module loads torch and matplotlib: only once there is something to report
    from sgdlab.reproduction.index import Outcome


def check(notebook_paths: Sequence[Path], parameters: Mapping[str, Any], executor: str | None,
          jobs: int | None) -> None:
    """Every piece of bad input, as one ValueError, before anything runs: unreadable notebooks, unknown
    parameters, and the executor and worker count, given as options or through ``SGDLAB_EXECUTOR`` and
    ``SGDLAB_JOBS`` (which every notebook's grids would read)."""
    for nb in notebook_paths:
        notebooks.check_parameters(nb, {**parameters, "output_dir": ""})
    executors.check(executor if executor is not None else executors.default_name())
    if jobs is not None:
        executors.jobs_count(jobs)
    else:
        executors.default_jobs()


def reproduce(profile: str = "quick", only: list[str] | None = None, out: Path | None = None, *,
              executor: str | None = None, jobs: int | None = None, notebooks_dir: Path | None = None,
              progress: bool = True, smoke: bool = False) -> list[Outcome]:
    """Execute the chosen notebooks at ``profile`` into ``out/<notebook>/`` and write the index there.

    ``out`` defaults to ``data/reports/<profile>`` (``<profile>-smoke`` for ``smoke``); the index is
    ``index.html`` and ``index.md``. ``executor`` and ``jobs`` reach the notebooks' grids through
    ``SGDLAB_EXECUTOR`` and ``SGDLAB_JOBS``. ``smoke`` passes ``smoke=True`` to every notebook: the
    profile's path at tiny sizes (FakeData for the paper profile's image datasets), runs kept in the
    smoke cache, claims recorded but not meaningful. A notebook that raises is recorded and the next
    one runs. ``out`` is held by this process while it runs (:func:`~sgdlab.reproduction.folders.locked`).
    Returns this execution's outcomes; the index covers every notebook in ``out``.
    """
    profiles.check(profile)
    chosen = notebooks.find(only, notebooks_dir)
    parameters = {"profile": profile} | ({"smoke": True} if smoke else {})
    check(chosen, parameters, executor, jobs)
    out = report_folder(profile, out, smoke)
    folders.check_writable(out)
    start = time.perf_counter()
    with folders.locked(out, f"sgdlab reproduce --profile {profile}"):
        outcomes = _execute_all([(nb, out / nb.stem, parameters, nb.stem) for nb in chosen], executor, jobs,
                                Progress(len(chosen), "notebook", smoke=smoke, enabled=progress))
        from sgdlab.reproduction import index

        index.write(out, profile, time.perf_counter() - start, smoke=smoke)
    return outcomes


def _execute_all(tasks: Sequence[tuple[Path, Path, Mapping[str, Any], str]], executor: str | None,
                 jobs: int | None, progress: Progress) -> list[Outcome]:
    """Execute each ``(notebook, folder, parameters, label)`` in turn, showing ``progress``; their outcomes."""
    from sgdlab.reproduction import index

    outcomes = []
    with notebooks.cluster_environment(executor, jobs), progress:
        for nb, folder, parameters, label in tasks:
            progress.start(label)
            execution = notebooks.execute(nb, folder, parameters)
            progress.done(execution.error)
            outcomes.append(index.outcome(folder))
    return outcomes


def report_folder(profile: str, out: Path | None = None, smoke: bool = False) -> Path:
    """Where :func:`reproduce` writes: ``out``, else ``data/reports/<profile>`` (``<profile>-smoke``)."""
    return Path(out or paths.reports_dir() / (f"{profile}-smoke" if smoke else profile)).resolve()


def grid_points(parameters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the values of each parameter, in the order given."""
    names = list(parameters)
    return [dict(zip(names, values)) for values in itertools.product(*(parameters[n] for n in names))]


def point_name(point: Mapping[str, Any]) -> str:
    """A folder name for one grid point, e.g. ``lr=0.1,seed=1`` (characters unsafe in paths become ``-``)."""
    return re.sub(r"[^\w.=,+-]", "-", _point_text(point))


def point_names(points: Sequence[Mapping[str, Any]]) -> list[str]:
    """One folder name per point, unique: :func:`point_name`, plus a short hash of the point where
    replacing unsafe characters made two names alike (``dataset=a/b`` and ``dataset=a-b``).

    Raises ValueError when two points still share a folder (the same point twice, or ``1`` and ``"1"``).
    """
    names = [point_name(p) for p in points]
    shared = {n for n in names if names.count(n) > 1}
    names = [f"{n}-{_point_hash(p)}" if n in shared and n != _point_text(p) else n for n, p in zip(names, points)]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ValueError(f"grid points {dict(points[names.index(name)])} and {dict(points[i])} would share the "
                             f"folder {name}; give each value once")
    return names


def _point_text(point: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={json.dumps(v, separators=(',', ':')) if not isinstance(v, str) else v}"
                    for k, v in point.items())


def _point_hash(point: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:8]


def sweep(notebook: str, parameters: Mapping[str, Sequence[Any]], out: Path | None = None, *,
          executor: str | None = None, jobs: int | None = None, notebooks_dir: Path | None = None,
          progress: bool = True, smoke: bool = False) -> list[Outcome]:
    """Execute ``notebook`` once per point of the grid ``parameters`` into ``out/<point name>/``.

    ``out`` defaults to ``data/sweeps/<notebook>`` (``<notebook>-smoke`` for ``smoke``, which passes
    ``smoke=True`` to every point, see :func:`reproduce`). Runs that a point shares with another, or
    with an earlier sweep, come from the run cache.
    """
    (nb,) = notebooks.find([notebook], notebooks_dir)
    empty = [name for name, values in parameters.items() if not values]
    if empty:
        raise ValueError(f"parameter(s) {', '.join(empty)} need at least one value")
    if smoke and "smoke" in parameters:
        raise ValueError("give smoke either as --smoke or as a swept parameter, not both")
    swept = grid_points(parameters)
    points = [point | ({"smoke": True} if smoke else {}) for point in swept]
    for point in points:
        check([nb], point, executor, jobs)
    names = point_names(swept)  # named by the swept values only
    out = Path(out or paths.data_dir() / "sweeps" / (f"{nb.stem}-smoke" if smoke else nb.stem)).resolve()
    folders.check_writable(out)
    with folders.locked(out, f"sgdlab sweep {nb.stem}"):
        return _execute_all([(nb, out / name, point, name) for point, name in zip(points, names)], executor, jobs,
                            Progress(len(points), "point", smoke=smoke, enabled=progress))
