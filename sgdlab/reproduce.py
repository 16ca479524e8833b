"""Reproduce the findings: execute every notebook with papermill and collect its claims."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import papermill
from tqdm.auto import tqdm

from sgdlab import paths

PROFILES = ("quick", "paper")
NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class NotebookResult:
    """One executed notebook: its claims (from ``claims.json``) and the error if it raised."""

    name: str
    output_dir: Path
    claims: list[dict]
    error: str | None
    wall_time_s: float

    @property
    def passed(self) -> bool:
        return self.error is None and all(c["passed"] for c in self.claims)


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The finding notebooks in order; ``only`` selects by name or number prefix (``01``)."""
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return found
    chosen = [nb for nb in found if any(nb.stem == o or nb.stem.startswith(f"{o}_") for o in only)]
    unknown = [o for o in only if not any(nb.stem == o or nb.stem.startswith(f"{o}_") for nb in found)]
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; choose from: {', '.join(nb.stem for nb in found)}")
    return chosen


def execute(notebook: Path, profile: str, out: Path) -> NotebookResult:
    """Run one notebook at ``profile`` into ``out/<name>/`` and read back its claims."""
    output_dir = out / notebook.stem
    output_dir.mkdir(parents=True, exist_ok=True)
    start, error = time.perf_counter(), None
    try:
        papermill.execute_notebook(
            str(notebook), str(output_dir / notebook.name), kernel_name="python3", cwd=str(notebook.parent),
            parameters={"profile": profile, "output_dir": str(output_dir)}, progress_bar=False,
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    claims_file = output_dir / "claims.json"
    claims = json.loads(claims_file.read_text()) if claims_file.exists() else []
    return NotebookResult(notebook.stem, output_dir, claims, error, time.perf_counter() - start)


def reproduce(profile: str = "quick", only: list[str] | None = None, out: Path | None = None) -> list[NotebookResult]:
    """Execute the chosen notebooks at ``profile`` into ``out`` (default ``data/reports/<profile>``)."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; choose one of: {', '.join(PROFILES)}")
    chosen = notebooks(only)
    out = Path(out or paths.reports_dir() / profile).resolve()
    return [execute(nb, profile, out) for nb in tqdm(chosen, desc="notebooks", unit="nb")]


def summary(results: list[NotebookResult], wall_time_s: float) -> str:
    """One line: claims passed, notebooks failed, and the time taken."""
    claims = [c for r in results for c in r.claims]
    passed = sum(c["passed"] for c in claims)
    broken = [r.name for r in results if r.error is not None]
    line = f"{passed}/{len(claims)} claims passed in {wall_time_s / 60:.1f} min"
    return line + (f"; notebooks failed: {', '.join(broken)}" if broken else "")
