"""Profiles: the quick (CPU, MNIST-1D) and paper (GPU, the paper's data and models) scales of a finding."""

from __future__ import annotations

from pathlib import Path

from sgdlab.core import paths

PROFILES = ("quick", "paper")


def check(profile: str) -> None:
    """Raise ValueError unless ``profile`` is one of :data:`PROFILES`."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; choose one of: {', '.join(PROFILES)}")


OWNER_FILE = ".sgdlab-notebook"


def output_path(output_dir: str, notebook: str, smoke: bool = False) -> Path:
    """``output_dir`` if given, else ``data/results/<notebook>`` (``data/results-smoke/<notebook>`` for a
    smoke run, so it never overwrites real results); created if missing and marked as ``notebook``'s (its
    ``claims.json``, figures and results have fixed names).

    Raises ValueError when the folder already holds another notebook's results.
    """
    default = paths.data_dir() / ("results-smoke" if smoke else "results") / notebook
    path = (Path(output_dir) if output_dir else default).resolve()
    owner = path / OWNER_FILE
    if owner.is_file() and owner.read_text().strip() != notebook:
        raise ValueError(f"output_dir {path} holds the results of {owner.read_text().strip()}; "
                         f"give {notebook} a folder of its own")
    path.mkdir(parents=True, exist_ok=True)
    owner.write_text(notebook + "\n")
    return path
