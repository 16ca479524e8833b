"""Profiles: the quick (CPU, MNIST-1D) and paper (GPU, the paper's data and models) scales of a finding."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sgdlab import paths

PROFILES = ("quick", "paper")


def check(profile: str) -> None:
    """Raise ValueError unless ``profile`` is one of :data:`PROFILES`."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; choose one of: {', '.join(PROFILES)}")


def settings(profile: str, quick: dict[str, Any], paper: dict[str, Any], **overrides: Any) -> SimpleNamespace:
    """The chosen profile's settings, with every override that is not ``None`` applied on top."""
    check(profile)
    chosen = dict(quick if profile == "quick" else paper)
    unknown = set(overrides) - set(chosen)
    if unknown:
        raise ValueError(f"parameters {sorted(unknown)} are not settings of this notebook; it has: {sorted(chosen)}")
    chosen |= {k: v for k, v in overrides.items() if v is not None}
    return SimpleNamespace(profile=profile, **chosen)


def output_path(output_dir: str, notebook: str) -> Path:
    """``output_dir`` if given, else ``data/results/<notebook>``; created if missing."""
    path = Path(output_dir) if output_dir else paths.data_dir() / "results" / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
