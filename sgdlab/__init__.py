"""sgdlab: how SGD's learning rate and batch size shape the curvature of the loss it travels through."""

from sgdlab import fdr, trajectory, walk  # noqa: F401  (register the "fdr", "weights" and "segment" traces)
from sgdlab.config import RunConfig
from sgdlab.curvature import frobenius_norm, hessian, spectral_density, top_eigen, trace
from sgdlab.data import load
from sgdlab.models import build
from sgdlab.sweep import run_grid
from sgdlab.tracker import Tracker
from sgdlab.train import run
from sgdlab.version import __version__

__all__ = [
    "RunConfig",
    "Tracker",
    "__version__",
    "build",
    "frobenius_norm",
    "hessian",
    "load",
    "run",
    "run_grid",
    "spectral_density",
    "top_eigen",
    "trace",
]
