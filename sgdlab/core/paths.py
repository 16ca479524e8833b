"""Where sgdlab keeps datasets, cached runs and reports."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]  # sgdlab/core/paths.py -> the checkout


DATA_ENV = "SGDLAB_DATA"


def data_dir() -> Path:
    """Root of sgdlab's files: ``$SGDLAB_DATA``, else ``data/`` of this checkout, else ``~/.cache/sgdlab``.

    A relative ``$SGDLAB_DATA`` is resolved against the current folder once, when first read here, and
    the absolute path written back to the environment: the notebook kernels and worker processes started
    afterwards (in other folders) inherit the same folder. An empty one is a ValueError.
    """
    if DATA_ENV not in os.environ:
        return _REPO / "data" if (_REPO / "pyproject.toml").is_file() else Path.home() / ".cache" / "sgdlab"
    value = os.environ[DATA_ENV]
    if not value.strip():
        raise ValueError(f"{DATA_ENV} is set but empty; set it to the folder for sgdlab's datasets, runs and "
                         "reports, or unset it for the default")
    path = Path(value).expanduser().resolve()
    if not Path(value).is_absolute():
        os.environ[DATA_ENV] = str(path)
    return path


def datasets_dir() -> Path:
    """Downloaded and generated datasets."""
    return data_dir() / "datasets"


SMOKE_ENV = "SGDLAB_SMOKE"


def runs_dir(smoke: bool | None = None) -> Path:
    """The run cache: one netCDF file per configuration hash; ``runs-smoke/`` for smoke runs (``smoke``,
    by default whether ``$SGDLAB_SMOKE`` is set): they prove that a path executes and are never mistaken
    for real results."""
    if smoke is None:
        smoke = bool(os.environ.get(SMOKE_ENV))
    return data_dir() / ("runs-smoke" if smoke else "runs")


def reports_dir() -> Path:
    """Executed notebooks, figures and claim tables."""
    return data_dir() / "reports"
