"""The index of a reproduction: every notebook's status, claims with measured values, and figures with captions.

It is built from what the executed notebooks left in their folders (``status.json``, ``claims.json``,
``<figure>.figure.json``), so it can be rebuilt at any time from the folder alone.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sgdlab import notebooks, plots, results
from sgdlab.claims import Claim


@dataclass(frozen=True)
class Outcome:
    """One executed notebook as the index shows it."""

    execution: notebooks.Execution
    claims: list[Claim]
    figures: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.execution.notebook

    @property
    def ok(self) -> bool:
        """The notebook ran through and every claim's verdict is the one its text states."""
        return self.execution.error is None and all(c.as_expected for c in self.claims)


def outcome(folder: Path) -> Outcome:
    """Read one notebook's folder (written by :func:`sgdlab.notebooks.execute`)."""
    folder = Path(folder)
    execution = notebooks.Execution(**json.loads((folder / notebooks.STATUS_FILE).read_text()))
    claims_file = folder / "claims.json"
    names = {f.name for f in fields(Claim)}
    claims = ([Claim(**{k: v for k, v in c.items() if k in names}) for c in json.loads(claims_file.read_text())]
              if claims_file.exists() else [])
    figures = [json.loads(p.read_text()) for p in sorted(folder.glob(f"*{plots.FIGURE_SUFFIX}"))]
    return Outcome(execution, claims, figures)


def collect(out: Path) -> list[Outcome]:
    """Every executed notebook under ``out``, by name."""
    return [outcome(p.parent) for p in sorted(Path(out).glob(f"*/{notebooks.STATUS_FILE}"))]


def summary(outcomes: Sequence[Outcome], wall_time_s: float) -> str:
    """One line, e.g. ``12/14 claims passed, 2 known failures, in 11.0 min; notebooks failed: 03_x``."""
    claims = [c for o in outcomes for c in o.claims]
    known = sum(bool(c.known_failure) and not c.passed for c in claims)
    line = f"{sum(c.passed for c in claims)}/{len(claims)} claims passed"
    line += f", {known} known failure{'s' * (known != 1)}," if known else ""
    line += f" in {wall_time_s / 60:.1f} min"
    failed = [o.name for o in outcomes if o.execution.error is not None]
    return line + (f"; notebooks failed: {', '.join(failed)}" if failed else "")


def command(name: str, profile: str) -> str:
    """The command that re-executes one notebook (and so regenerates its figures)."""
    return f"sgdlab reproduce --only {name.split('_')[0]} --profile {profile}"


def measured(values: Any, prefix: str = "") -> list[str]:
    """Measured values as ``key: value`` lines (nested keys joined by dots, numbers to 4 significant digits)."""
    if isinstance(values, dict):
        return [line for k, v in values.items() for line in measured(v, f"{prefix}{k}.")]
    if isinstance(values, list) and all(isinstance(v, (int, float)) for v in values):
        text = "[" + ", ".join(_number(v) for v in values) + "]"
    else:
        text = _number(values) if isinstance(values, (int, float)) else json.dumps(values, ensure_ascii=False)
    return [f"{prefix.rstrip('.')}: {text}"]


def _number(value: int | float) -> str:
    return str(value) if isinstance(value, (bool, int)) else f"{value:.4g}"


def write(out: Path, profile: str, wall_time_s: float | None = None) -> tuple[Path, Path]:
    """Write ``index.md`` and ``index.html`` into ``out`` from its notebooks' folders; returns both paths."""
    out = Path(out)
    outcomes = collect(out)
    prov = results.provenance()
    head = (f"Profile `{profile}` · sgdlab {prov['version_sgdlab']} · commit `{prov['git_commit']}`"
            + (f" · {summary(outcomes, wall_time_s)}" if wall_time_s is not None else ""))
    md = [f"# sgdlab reproduction ({profile} profile)", "", head, ""]
    body = [f"<h1>sgdlab reproduction ({_e(profile)} profile)</h1>", f"<p>{_code(head)}</p>"]
    for o in outcomes:
        status = "ok" if o.execution.error is None else f"FAILED — {o.execution.error}"
        nb_link = f"{o.name}/{o.name}.ipynb"
        md += [f"## {o.name}", "", f"Status: {status} · {o.execution.wall_time_s:.0f} s · executed notebook: "
               f"[{nb_link}]({nb_link}) · regenerate: `{command(o.name, profile)}`", ""]
        body += [f"<h2 id='{_e(o.name)}'>{_e(o.name)}</h2>",
                 f"<p class='{'ok' if o.execution.error is None else 'failed'}'>Status: {_e(status)} · "
                 f"{o.execution.wall_time_s:.0f} s · executed notebook: <a href='{_e(nb_link)}'>{_e(nb_link)}</a>"
                 f" · regenerate: <code>{_e(command(o.name, profile))}</code></p>"]
        if o.claims:
            md += ["| claim | verdict | statement | measured |", "| --- | --- | --- | --- |"]
            body += ["<table><tr><th>claim</th><th>verdict</th><th>statement</th><th>measured</th></tr>"]
            for c in o.claims:
                verdict = c.verdict + (f" — {c.known_failure}" if c.known_failure else "")
                values = measured(c.measured)
                md += [f"| {c.id} | {verdict} | {c.statement} | {'; '.join(values)} |".replace("\n", " ")]
                row = "failed" if not c.as_expected else "known" if c.known_failure else "ok"
                body += [f"<tr class='{row}'><td>{_e(c.id)}</td><td>{_e(verdict)}</td>"
                         f"<td>{_e(c.statement)}</td><td>{'<br>'.join(map(_e, values))}</td></tr>"]
            md += [""]
            body += ["</table>"]
        elif o.execution.error is None:
            md += ["No claims were recorded.", ""]
            body += ["<p>No claims were recorded.</p>"]
        for fig in o.figures:
            png, pdf = f"{o.name}/{fig['png']}", f"{o.name}/{fig['pdf']}"
            md += [f"![{fig['caption']}]({png})", "", f"*{fig['caption']}* ([PDF]({pdf}); "
                   f"`{command(o.name, profile)}`)", ""]
            body += [f"<figure><img src='{_e(png)}' alt='{_e(fig['caption'])}'><figcaption>{_e(fig['caption'])} "
                     f"(<a href='{_e(pdf)}'>PDF</a>; <code>{_e(command(o.name, profile))}</code>)</figcaption></figure>"]
    (out / "index.md").write_text("\n".join(md) + "\n")
    (out / "index.html").write_text(_PAGE.format(title=f"sgdlab reproduction ({_e(profile)})", body="\n".join(body)))
    return out / "index.md", out / "index.html"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _code(text: str) -> str:
    """Markdown's inline code spans as HTML."""
    parts = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} td, th {{ border: 1px solid #ccc; padding: .3rem .5rem;
vertical-align: top; text-align: left; }} td:last-child {{ font-family: monospace; font-size: .85em; }}
tr.failed td:nth-child(2), p.failed {{ color: #b00; }} tr.known td:nth-child(2) {{ color: #a60; }} figure img {{ max-width: 100%; }}
figcaption {{ font-style: italic; }}
</style></head>
<body>
{body}
</body></html>
"""
