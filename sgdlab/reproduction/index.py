"""The index of a reproduction: every notebook's status, claims with measured values, and figures with captions.

It is built from what the executed notebooks left in their folders (``status.json``, ``claims.json``,
``<figure>.figure.json``), so it can be rebuilt at any time from the folder alone.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sgdlab.findings import citations, plots
from sgdlab.findings.claims import Claim
from sgdlab.reproduction import notebooks
from sgdlab.training import run_cache


@dataclass(frozen=True)
class Outcome:
    """One executed notebook as the index shows it."""

    execution: notebooks.Execution
    claims: list[Claim]
    figures: list[dict[str, Any]]
    citation: str = ""  # BibTeX of the papers the notebook reproduces

    @property
    def name(self) -> str:
        return self.execution.notebook

    @property
    def smoke(self) -> bool:
        """Executed in smoke mode: its claims were reached on tiny sizes and say nothing about the paper."""
        return bool(self.execution.parameters.get("smoke", False))

    @property
    def ok(self) -> bool:
        """The notebook ran through and every claim's verdict is the one its text states; in smoke mode,
        it ran through and recorded its claims."""
        if self.execution.error is not None:
            return False
        return bool(self.claims) if self.smoke else all(c.as_expected for c in self.claims)


def outcome(folder: Path) -> Outcome:
    """Read one notebook's folder (written by :func:`sgdlab.reproduction.notebooks.execute`)."""
    folder = Path(folder)
    execution = notebooks.Execution(**json.loads((folder / notebooks.STATUS_FILE).read_text()))
    claims_file = folder / "claims.json"
    names = {f.name for f in fields(Claim)}
    claims = ([Claim(**{k: v for k, v in c.items() if k in names}) for c in json.loads(claims_file.read_text())]
              if claims_file.exists() else [])
    figures = [json.loads(p.read_text()) for p in sorted(folder.glob(f"*{plots.FIGURE_SUFFIX}"))]
    bib = folder / citations.FILE
    return Outcome(execution, claims, figures, bib.read_text() if bib.exists() else "")


def collect(out: Path) -> list[Outcome]:
    """Every executed notebook under ``out``, by name."""
    return [outcome(p.parent) for p in sorted(Path(out).glob(f"*/{notebooks.STATUS_FILE}"))]


def summary(outcomes: Sequence[Outcome], wall_time_s: float) -> str:
    """One line, e.g. ``12/14 claims passed, 2 known failures, in 11.0 min; notebooks failed: 03_x``."""
    claims = [c for o in outcomes for c in o.claims]
    if outcomes and all(o.smoke for o in outcomes):
        reached = sum(o.ok for o in outcomes)
        line = (f"smoke run: {reached}/{len(outcomes)} notebooks reached their claims (verdicts not meaningful at "
                f"smoke sizes) in {wall_time_s / 60:.1f} min")
        failed = [o.name for o in outcomes if not o.ok]
        return line + (f"; notebooks failed: {', '.join(failed)}" if failed else "")
    known = sum(bool(c.known_failure) and not c.passed for c in claims)
    line = f"{sum(c.passed for c in claims)}/{len(claims)} claims passed"
    line += f", {known} known failure{'s' * (known != 1)}," if known else ""
    line += f" in {wall_time_s / 60:.1f} min"
    failed = [o.name for o in outcomes if o.execution.error is not None]
    return line + (f"; notebooks failed: {', '.join(failed)}" if failed else "")


def command(name: str, profile: str, smoke: bool = False) -> str:
    """The command that re-executes one notebook (and so regenerates its figures)."""
    return f"sgdlab reproduce --only {name.split('_')[0]} --profile {profile}" + (" --smoke" if smoke else "")


def measured(values: Any, prefix: str = "") -> list[str]:
    """Measured values as ``key: value`` lines (nested keys joined by dots, numbers to 4 significant digits)."""
    if isinstance(values, dict):
        return [line for k, v in values.items() for line in measured(v, f"{prefix}{k}.")]
    return [f"{prefix.rstrip('.')}: {_text(values)}"]


_SHORT_LIST = 6  # numeric lists up to this length are headline values; longer ones are folded


def split_measured(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headline numbers a claim rests on (scalars, short numeric lists) and the nested rest, by key."""
    headline = {k: v for k, v in values.items() if _is_scalar(v) or _is_short_list(v)}
    return headline, {k: v for k, v in values.items() if k not in headline}


def measured_markdown(values: dict[str, Any]) -> str:
    """The compact form for ``index.md``: ``key: value; ...`` for headline values, a count for nested ones."""
    headline, nested = split_measured(values)
    parts = [f"{k}: {_text(v)}" for k, v in headline.items()]
    parts += [f"{k}: {_size(v)} (in index.html)" for k, v in nested.items()]
    return "; ".join(parts)


def measured_html(values: dict[str, Any]) -> str:
    """A key/value table of the headline values, then each nested value folded behind ``<details>``."""
    headline, nested = split_measured(values)
    parts = [_rows_table(headline)] if headline else []
    parts += [f"<details><summary>{_e(k)} ({_e(_size(v))})</summary>{_nested_html(v)}</details>"
              for k, v in nested.items()]
    return "".join(parts)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _is_short_list(value: Any) -> bool:
    return (isinstance(value, list) and len(value) <= _SHORT_LIST
            and all(isinstance(v, (int, float)) or _missing(v) for v in value))


NOT_MEASURED = "–"
"""How the index shows a value a notebook recorded as missing (``None``, or NaN, which ``claims.json`` holds as
``"nan"``)."""


def _text(value: Any) -> str:
    if _missing(value):
        return NOT_MEASURED
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (int, float)):
        return _number(value)
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or value == "nan" or (isinstance(value, float) and math.isnan(value))


def _size(value: Any) -> str:
    """``"3 × 4"`` for a grid (a dict of dicts of scalars), else the number of values, e.g. ``"12 values"``."""
    columns = _grid_columns(value)
    if columns:
        return f"{len(value)} × {len(columns)}"
    n = len(measured(value)) if isinstance(value, dict) else len(value)
    return f"{n} value{'s' * (n != 1)}"


def _grid_columns(value: Any) -> list[str]:
    """The column names of a grid (a non-empty dict of dicts of scalars), else ``[]``."""
    if not (isinstance(value, dict) and value and all(isinstance(v, dict) and v for v in value.values())):
        return []
    if not all(_is_scalar(x) for row in value.values() for x in row.values()):
        return []
    return list(dict.fromkeys(k for row in value.values() for k in row))


def _nested_html(value: Any) -> str:
    columns = _grid_columns(value)
    if columns:
        head = "<tr><th></th>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"
        rows = "".join(f"<tr><th>{_e(k)}</th>" + "".join(f"<td>{_e(_text(row[c])) if c in row else ''}</td>"
                                                        for c in columns) + "</tr>" for k, row in value.items())
        return f"<table class='measured'>{head}{rows}</table>"
    if isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
        return _rows_table(value)
    lines = measured(value) if isinstance(value, dict) else [_text(value)]
    return "<br>".join(map(_e, lines))


def _rows_table(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_text(v))}</td></tr>" for k, v in values.items())
    return f"<table class='measured'>{rows}</table>"


def _number(value: int | float) -> str:
    return str(value) if isinstance(value, (bool, int)) else f"{value:.4g}"


SMOKE_NOTE = ("Smoke run: every notebook ran its profile's path at tiny sizes (FakeData for the paper profile's "
              "image datasets). Its verdicts are not results; they prove that each notebook reaches its claims.")


def write(out: Path, profile: str, wall_time_s: float | None = None, smoke: bool = False) -> tuple[Path, Path]:
    """Write ``index.md`` and ``index.html`` into ``out`` from its notebooks' folders; returns both paths.

    The page opens with a summary table (one row per notebook, linked to its section: claims passed,
    known failures, unexpected verdicts), then one section per notebook. ``smoke``: the index of a smoke
    run, titled and introduced as one (its verdicts prove only that each notebook's path runs)."""
    out = Path(out)
    outcomes = collect(out)
    prov = run_cache.provenance()
    head = (f"Profile `{profile}` · sgdlab {prov['version_sgdlab']} · commit `{prov['git_commit']}`"
            + (f" · {summary(outcomes, wall_time_s)}" if wall_time_s is not None else ""))
    title = f"sgdlab reproduction ({profile} profile{', smoke run' if smoke else ''})"
    md = [f"# {_m(title)}", "", _m(head), ""]
    body = [f"<h1>{_e(title)}</h1>", f"<p>{_code(head)}</p>"]
    if smoke:
        md += [_m(SMOKE_NOTE), ""]
        body += [f"<p class='note'>{_e(SMOKE_NOTE)}</p>"]
    summary_md, summary_html = _summary_table(outcomes)
    md += summary_md
    body += summary_html
    for o in outcomes:
        section_md, section_html = _section(o, profile)
        md += section_md
        body += section_html
    (out / "index.md").write_text("\n".join(md) + "\n")
    (out / "index.html").write_text(_PAGE.format(title=_e(title), body="\n".join(body)))
    return out / "index.md", out / "index.html"


def counts(o: Outcome) -> dict[str, int]:
    """A notebook's claims by kind: ``passed`` (as stated), ``known`` (known failures, as stated) and
    ``unexpected`` (a verdict other than the one its text states)."""
    return {"passed": sum(c.passed and c.as_expected for c in o.claims),
            "known": sum(not c.passed and c.as_expected for c in o.claims),
            "unexpected": sum(not c.as_expected for c in o.claims)}


def _summary_table(outcomes: Sequence[Outcome]) -> tuple[list[str], list[str]]:
    """One row per notebook, linked to its section: status, claims passed, known failures, unexpected, time."""
    head = ["notebook", "status", "passed", "known failures", "unexpected", "time"]
    md = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    body = ["<table class='summary'><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for o in outcomes:
        n, status = counts(o), _status(o)
        anchor = _anchor(o.name)
        cells = [str(n["passed"]), str(n["known"]), str(n["unexpected"]), f"{o.execution.wall_time_s:.0f} s"]
        md += [f"| [{_m(o.name)}](#{anchor}) | {status} | " + " | ".join(cells) + " |"]
        body += [f"<tr><td><a href='#{anchor}'>{_e(o.name)}</a></td><td>{_badge(status)}</td>"
                 + "".join(f"<td class='number'>{c}</td>" for c in cells) + "</tr>"]
    body += ["</table>"]
    return md + [""], body


def _status(o: Outcome) -> str:
    """``ok``, ``ok (known failures)``, ``unexpected verdicts`` or ``FAILED`` (the notebook raised)."""
    if o.execution.error is not None:
        return "FAILED"
    if not o.ok:
        return "unexpected verdicts"
    return "ok (known failures)" if counts(o)["known"] else "ok"


_BADGE_CLASS = {"PASS": "pass", "ok": "pass", "FAIL (known)": "known", "ok (known failures)": "known",
                "PASS (unexpected)": "fail", "FAIL": "fail", "FAILED": "fail", "unexpected verdicts": "fail"}


def _badge(text: str) -> str:
    """A verdict or status as a coloured label whose text alone says it (readable without colour)."""
    return f"<span class='badge {_BADGE_CLASS.get(text, 'fail')}'>{_e(text)}</span>"


def _anchor(name: str) -> str:
    """An id for a notebook's section: its name with anything outside ``[A-Za-z0-9_-]`` replaced."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _link(folder: str, name: str) -> str | None:
    """The URL of the file ``name`` in ``folder``, percent-encoded; ``None`` unless ``name`` is a plain file
    name (no scheme such as ``javascript:``, no path separator, nothing hidden or above the folder)."""
    if not name or "/" in name or "\\" in name or ":" in name or name.startswith("."):
        return None
    return quote(f"{folder}/{name}")


def _section(o: Outcome, profile: str) -> tuple[list[str], list[str]]:
    """One notebook's part of the index: status, claims, figures and the papers to cite, as Markdown and HTML."""
    status = "ok" if o.execution.error is None else f"FAILED — {o.execution.error}"
    nb_link, again = _link(o.name, f"{o.name}.ipynb") or "#", command(o.name, profile, o.smoke)
    md = [f"## {_m(o.name)}", "", f"Status: {_m(status)} · {o.execution.wall_time_s:.0f} s · executed notebook: "
          f"[{_m(o.name)}.ipynb]({nb_link}) · regenerate: `{_m(again)}`", ""]
    body = [f"<h2 id='{_anchor(o.name)}'>{_e(o.name)}</h2>",
            f"<p class='{'ok' if o.execution.error is None else 'failed'}'>Status: {_e(status)} · "
            f"{o.execution.wall_time_s:.0f} s · executed notebook: <a href='{_e(nb_link)}'>{_e(o.name)}.ipynb</a>"
            f" · regenerate: <code>{_e(again)}</code></p>"]
    if o.claims:
        claims_md, claims_html = _claims(o.claims)
        md += claims_md
        body += claims_html
    elif o.execution.error is None:
        md += ["No claims were recorded.", ""]
        body += ["<p>No claims were recorded.</p>"]
    for fig in o.figures:
        figure_md, figure_html = _figure(o.name, fig, again)
        md += figure_md
        body += figure_html
    if o.citation:
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall("`+", o.citation)), default=0))
        md += [f"{fence}bibtex", o.citation.rstrip(), fence, ""]
        body += [f"<details><summary>Cite</summary><pre>{_e(o.citation)}</pre></details>"]
    return md, body


def _claims(claims: Sequence[Claim]) -> tuple[list[str], list[str]]:
    """The claims table: id, verdict (with the reason of a known failure), statement, measured values."""
    md = ["| claim | verdict | statement | measured |", "| --- | --- | --- | --- |"]
    body = ["<table class='claims'><tr><th>claim</th><th>verdict</th><th>statement</th><th>measured</th></tr>"]
    for c in claims:
        reason = f" — {c.known_failure}" if c.known_failure else ""
        md += [f"| {_m(c.id)} | {_m(c.verdict + reason)} | {_m(c.statement)} | {_m(measured_markdown(c.measured))} |"]
        body += [f"<tr><td>{_e(c.id)}</td><td>{_badge(c.verdict)}<div class='reason'>{_e(c.known_failure)}</div>"
                 f"</td><td>{_e(c.statement)}</td><td>{measured_html(c.measured)}</td></tr>"]
    return md + [""], body + ["</table>"]


def _figure(name: str, fig: dict[str, Any], again: str) -> tuple[list[str], list[str]]:
    """A figure with its caption once, a link to its PDF and the command that redraws it; a figure whose
    file names are not plain file names is named, not linked."""
    caption = str(fig.get("caption", ""))
    png, pdf = _link(name, str(fig.get("png", ""))), _link(name, str(fig.get("pdf", "")))
    if png is None:
        return ([f"Figure {_m(fig.get('png'))} not shown: not a plain file name.", ""],
                [f"<p class='failed'>Figure {_e(fig.get('png'))} not shown: not a plain file name.</p>"])
    label = Path(str(fig["png"])).stem
    pdf_md, pdf_html = ((f"[PDF]({pdf}); ", f"<a href='{_e(pdf)}'>PDF</a>; ") if pdf else ("", ""))
    md = [f"![{_m(label)}]({png})", "", f"*{_m(caption)}* ({pdf_md}`{_m(again)}`)", ""]
    body = [f"<figure><img src='{_e(png)}' alt='{_e(caption or label)}'><figcaption>{_e(caption)} "
            f"<span class='source'>({pdf_html}<code>{_e(again)}</code>)</span></figcaption></figure>"]
    return md, body


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _m(text: str) -> str:
    """Text for Markdown: no HTML (``<``, ``>``, ``&`` as entities), ``|`` that cannot end a table cell, one line."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Markdown's inline code spans as HTML."""
    parts = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} td, th {{ border: 1px solid #ccc; padding: .3rem .5rem;
vertical-align: top; text-align: left; }} table.claims td:last-child {{ font-size: .85em; }}
td.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.measured {{ margin: 0; font-family: monospace; }} table.measured th, table.measured td {{ padding: .1rem .4rem;
border-color: #e4e4e4; font-weight: normal; font-size: 1em; }} table.measured th {{ color: #555; }}
details {{ margin-top: .3rem; }} summary {{ cursor: pointer; color: #555; }}
.badge {{ display: inline-block; padding: .05rem .45rem; border-radius: .25rem; font-weight: 600; white-space: nowrap;
border: 1px solid; }}
.badge.pass {{ color: #14532d; background: #dcfce7; border-color: #16a34a; }}
.badge.known {{ color: #713f12; background: #fef3c7; border-color: #d97706; }}
.badge.fail {{ color: #7f1d1d; background: #fee2e2; border-color: #dc2626; }}
.reason {{ font-size: .85em; color: #555; margin-top: .2rem; }}
p code {{ white-space: nowrap; }} p.failed {{ color: #b00; }} p.note {{ background: #fef3c7; padding: .5rem; }}
figure {{ margin: 1rem 0; }} figure img {{ max-width: 100%; }}
figcaption {{ font-size: .95em; }} figcaption .source {{ color: #555; font-size: .9em; }}
</style></head>
<body>
{body}
</body></html>
"""
