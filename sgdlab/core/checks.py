"""Checks of single values, shared by every configuration dataclass: each raises ``ValueError`` naming
the field, the value and what was expected."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def is_int(value: object) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: object) -> bool:
    """A real number (int or float, Python or numpy), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def integer(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> None:
    """``value`` is an integer in ``[low, high]`` (either bound optional)."""
    if not is_int(value):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    _bounded(name, value, low, high)


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           positive: bool = False, below: float | None = None) -> None:
    """``value`` is a finite real number in ``[low, high]``; ``positive``: > 0; ``below``: < that bound."""
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r} ({type(value).__name__})")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if low is not None and below is not None and not low <= value < below:
        raise ValueError(f"{name} must be in [{low:g}, {below:g}), got {value!r}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be below {below:g}, got {value!r}")
    _bounded(name, value, low, high)


def _bounded(name: str, value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ValueError(f"{name} must be {'non-negative' if low == 0 else f'at least {low:g}'}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high:g}, got {value!r}")


def choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} {value!r} is unknown; choose one of: {', '.join(choices)}")


def boolean(name: str, value: Any) -> None:
    """``value`` is ``True`` or ``False``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def strings(name: str, value: Any) -> None:
    """``value`` is a tuple or list of strings (not a single string, which would be read letter by letter)."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a tuple of names, got {value!r}")
