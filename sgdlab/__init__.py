"""sgdlab: how SGD's learning rate and batch size shape the curvature of the loss it travels through.

The public API, loaded on first use (``import sgdlab`` alone imports neither torch nor the notebooks'
machinery, so the command line answers at once):

- the Hessian engine (:mod:`sgdlab.curvature`): :func:`hessian`, :func:`gauss_newton`, :func:`top_eigen`,
  :func:`trace`, :func:`frobenius_norm`, :func:`spectral_density`;
- a task (:mod:`sgdlab.task`): :func:`load` a dataset, :func:`build` a model;
- runs (:mod:`sgdlab.training`): :class:`RunConfig`, :func:`run`, :class:`Tracker` for your own loop;
- grids (:mod:`sgdlab.grid`): :func:`run_grid`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sgdlab.version import __version__

_PUBLIC = {
    "hessian": "sgdlab.curvature",
    "gauss_newton": "sgdlab.curvature",
    "top_eigen": "sgdlab.curvature",
    "trace": "sgdlab.curvature",
    "frobenius_norm": "sgdlab.curvature",
    "spectral_density": "sgdlab.curvature",
    "load": "sgdlab.task.data",
    "build": "sgdlab.task.models",
    "RunConfig": "sgdlab.training.config",
    "run": "sgdlab.training.loop",
    "Tracker": "sgdlab.training.tracker",
    "run_grid": "sgdlab.grid.runner",
}

__all__ = ["RunConfig", "Tracker", "__version__", "build", "frobenius_norm", "gauss_newton", "hessian", "load", "run",
           "run_grid", "spectral_density", "top_eigen", "trace"]

if TYPE_CHECKING:
    from sgdlab.curvature import frobenius_norm, gauss_newton, hessian, spectral_density, top_eigen, trace
    from sgdlab.grid.runner import run_grid
    from sgdlab.task.data import load
    from sgdlab.task.models import build
    from sgdlab.training.config import RunConfig
    from sgdlab.training.loop import run
    from sgdlab.training.tracker import Tracker


_SUBPACKAGES = ("core", "curvature", "task", "theory", "optim", "measure", "training", "grid", "findings",
                "reproduction")


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"sgdlab.{name}")
    else:
        raise AttributeError(f"module 'sgdlab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC, *_SUBPACKAGES})
