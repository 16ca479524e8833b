"""What the finding notebooks share: ``Finding`` (a notebook's parameters, profile and outputs), claims,
summaries, figures, citations, and each notebook's settings.

``Finding`` loads on first use, so that the light modules here (``profiles``) import without torch."""

from __future__ import annotations

from typing import Any

__all__ = ["Finding"]


def __getattr__(name: str) -> Any:
    if name == "Finding":
        from sgdlab.findings.finding import Finding

        return Finding
    raise AttributeError(f"module 'sgdlab.findings' has no attribute {name!r}")
