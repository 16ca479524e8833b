"""Where sgdlab keeps datasets, cached runs and reports."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]  # sgdlab/core/paths.py -> the checkout


def data_dir() -> Path:
    """Root of sgdlab's files: ``$SGDLAB_DATA``, else ``data/`` of this checkout, else ``~/.cache/sgdlab``."""
    if "SGDLAB_DATA" in os.environ:
        return Path(os.environ["SGDLAB_DATA"]).expanduser().resolve()
    if (_REPO / "pyproject.toml").is_file():
        return _REPO / "data"
    return Path.home() / ".cache" / "sgdlab"


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
