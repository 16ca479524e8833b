"""sgdlab: how SGD's learning rate and batch size shape the curvature of the loss it travels through."""

from sgdlab.curvature import frobenius_norm, hessian, spectral_density, top_eigen, trace
from sgdlab.data import load
from sgdlab.models import build
from sgdlab.sweep import run_grid
from sgdlab.train import RunConfig, run

__version__ = "0.1.0"
__all__ = [
    "RunConfig",
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
