"""Profiles: the quick (CPU, MNIST-1D) and paper (GPU, the paper's data and models) scales of a finding."""

from __future__ import annotations

from pathlib import Path

from sgdlab import paths

PROFILES = ("quick", "paper")


def check(profile: str) -> None:
    """Raise ValueError unless ``profile`` is one of :data:`PROFILES`."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; choose one of: {', '.join(PROFILES)}")


def output_path(output_dir: str, notebook: str) -> Path:
    """``output_dir`` if given, else ``data/results/<notebook>``; created if missing."""
    path = Path(output_dir) if output_dir else paths.data_dir() / "results" / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
