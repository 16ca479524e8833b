"""A finding's claims: each checked on measured data, printed as a PASS/FAIL table, saved as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats


@dataclass(frozen=True)
class Claim:
    """One claim of a paper: its id, its statement, the verdict on our data, and what was measured.

    ``known_failure`` says why the claim is known not to hold at this scale (empty when it should hold).
    """

    id: str
    statement: str
    passed: bool
    measured: dict[str, Any]
    known_failure: str = ""

    @property
    def verdict(self) -> str:
        """PASS or FAIL; a known failure prints as ``FAIL (known)``, one that passed as ``PASS (unexpected)``."""
        if self.known_failure:
            return "PASS (unexpected)" if self.passed else "FAIL (known)"
        return "PASS" if self.passed else "FAIL"

    @property
    def as_expected(self) -> bool:
        """Whether the verdict is the one the notebook's text states."""
        return self.passed != bool(self.known_failure)


class ClaimFailed(AssertionError):
    """Raised by :func:`report` when a claim does not hold on the measured data."""


def _plain(value: Any) -> Any:
    """JSON-ready numbers: numpy scalars and arrays become Python numbers and lists; NaN and ±inf, which
    strict JSON cannot hold, become the strings ``"nan"``, ``"inf"`` and ``"-inf"``."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def claim(id: str, statement: str, passed: bool, **measured: Any) -> Claim:
    """Record a verdict with the numbers it rests on."""
    return Claim(id, statement, bool(passed), _plain(measured))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``y`` with ``x`` over the pairs where both are finite (NaN when
    fewer than two remain or either is constant): runs masked by :func:`completed` drop out."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    return round(float(stats.spearmanr(x[keep], y[keep]).statistic), 12)  # ±1 exactly for a perfect order


def accuracy_standard_error(accuracy: float, n: int) -> float:
    """The binomial standard error √(p(1 − p)/n) of an accuracy ``p`` measured on ``n`` examples: the
    resolution of a test set of that size, against which "as well as" is judged."""
    if not 0.0 <= accuracy <= 1.0 or n < 1:
        raise ValueError(f"accuracy must be in [0, 1] and n a positive count, got {accuracy!r} and {n!r}")
    return math.sqrt(accuracy * (1.0 - accuracy) / n)


def completed(grid: xr.Dataset) -> tuple[xr.Dataset, list[dict[str, Any]]]:
    """A grid of runs (:func:`sgdlab.grid.tables.load_grid`) with every diverged run's data masked to NaN,
    and the diverged points as ``{dim: value}``, to state in the claims that rest on the grid. A
    diverged run's measurements stop where it diverged; left in, its early values would pass for its
    peak or its end."""
    diverged = grid["diverged"] == 1
    points = [{d: _plain(grid[d].values[i]) for d, i in zip(diverged.dims, index)}
              for index in zip(*np.nonzero(diverged.values))]
    masked = grid.copy()
    for name, da in grid.data_vars.items():
        if set(diverged.dims) <= set(da.dims):
            masked[name] = da.where(~diverged)
    return masked, points


def table(claims: Sequence[Claim]) -> str:
    """A fixed-width verdict table without measured numbers, so it is stable across runs."""
    id_width = max(len(c.id) for c in claims)
    verdict_width = max(len("verdict"), *(len(c.verdict) for c in claims))
    lines = [f"{'claim'.ljust(id_width)}  {'verdict'.ljust(verdict_width)}  statement"]
    lines += [f"{c.id.ljust(id_width)}  {c.verdict.ljust(verdict_width)}  {c.statement}" for c in claims]
    return "\n".join(lines)


def report(claims: Sequence[Claim], output_dir: str | Path, known_failures: dict[str, str] | None = None, *,
           raise_on_failure: bool = True) -> None:
    """Write ``claims.json`` into ``output_dir``, print the table, and raise unless every verdict is as stated.

    ``known_failures`` maps the ids of claims that the notebook states do not hold at this scale to the
    reason. They print as ``FAIL (known)`` without raising; if one passes, this raises, because the
    notebook's text no longer matches its data. ``raise_on_failure=False`` (smoke runs) only writes and prints.
    """
    known_failures = known_failures or {}
    unknown = set(known_failures) - {c.id for c in claims}
    if unknown:
        raise ValueError(f"known_failures names claims that were not checked: {sorted(unknown)}")
    claims = [replace(c, known_failure=known_failures.get(c.id, "")) for c in claims]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.json").write_text(json.dumps([asdict(c) for c in claims], indent=2, allow_nan=False) + "\n")
    print(table(claims))
    unexpected = [f"{c.id} ({c.verdict})" for c in claims if not c.as_expected]
    if unexpected and raise_on_failure:
        raise ClaimFailed(f"{len(unexpected)} of {len(claims)} claims not as stated: {', '.join(unexpected)}")
