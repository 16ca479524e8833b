"""A finding's claims: each checked on measured data, printed as a PASS/FAIL table, saved as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Claim:
    """One claim of a paper: its id, its statement, the verdict on our data, and what was measured."""

    id: str
    statement: str
    passed: bool
    measured: dict[str, Any]


class ClaimFailed(AssertionError):
    """Raised by :func:`report` when a claim does not hold on the measured data."""


def _plain(value: Any) -> Any:
    """JSON-ready numbers: numpy scalars and arrays become Python floats and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def claim(id: str, statement: str, passed: bool, **measured: Any) -> Claim:
    """Record a verdict with the numbers it rests on."""
    return Claim(id, statement, bool(passed), _plain(measured))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``y`` with ``x`` (NaN when either is constant)."""
    return float(stats.spearmanr(x, y).statistic)


def table(claims: Sequence[Claim]) -> str:
    """A fixed-width verdict table without measured numbers, so it is stable across runs."""
    width = max(len(c.id) for c in claims)
    lines = [f"{'claim'.ljust(width)}  verdict  statement"]
    lines += [f"{c.id.ljust(width)}  {'PASS' if c.passed else 'FAIL':7}  {c.statement}" for c in claims]
    return "\n".join(lines)


def report(claims: Sequence[Claim], output_dir: str | Path) -> None:
    """Write ``claims.json`` into ``output_dir``, print the table, and raise if any claim failed."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.json").write_text(json.dumps([asdict(c) for c in claims], indent=2) + "\n")
    print(table(claims))
    failed = [c.id for c in claims if not c.passed]
    if failed:
        raise ClaimFailed(f"{len(failed)} of {len(claims)} claims failed: {', '.join(failed)}")
