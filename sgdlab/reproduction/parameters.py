"""A finding notebook's parameters as ``sgdlab show`` prints them: read from the notebook's text, not executed.

The cell tagged ``parameters`` gives each parameter's literal value, its type (the annotation if it has
one) and its comment. The profile's own values come from the settings the notebook passes to
``Finding.open(...)`` (``common``, ``quick``, ``paper``), where those are written as literals or taken
from a module of :mod:`sgdlab.findings` (e.g. ``eos_settings.SETTINGS["quick"]``); a setting computed
any other way is reported as such rather than guessed.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import operator
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARAMETERS_TAG = "parameters"
GROUPS = ("common", "quick", "paper")


@dataclass(frozen=True)
class Parameter:
    """One assignment of a parameters cell: ``name: kind = value  # comment``."""

    name: str
    value: Any
    kind: str
    comment: str


class _NotLiteral(Exception):
    """A setting computed by the notebook's code, which this reader does not run."""


def code_cells(notebook: Path) -> list[tuple[list[str], str]]:
    """``(tags, source)`` of every code cell of ``notebook``; ValueError naming the file if it is unreadable."""
    try:
        cells = json.loads(Path(notebook).read_text())["cells"]
        return [(list(c.get("metadata", {}).get("tags", [])), _source(c["source"]))
                for c in cells if c.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{notebook} is not a readable notebook ({type(exc).__name__}: {exc})") from None


def _source(text: str | list[str]) -> str:
    return text if isinstance(text, str) else "".join(text)


def read(notebook: Path) -> list[Parameter]:
    """The parameters of ``notebook``'s cell tagged ``parameters``, in order."""
    cells = [source for tags, source in code_cells(notebook) if PARAMETERS_TAG in tags]
    if not cells:
        raise ValueError(f"{notebook} has no cell tagged {PARAMETERS_TAG!r}")
    source = cells[0]
    comments = _comments(source)
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign):
            target = node.target
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        value = _or_computed(node.value) if node.value is not None else None
        kind = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else type(value).__name__
        found.append(Parameter(target.id, value, kind, comments.get(node.lineno, "")))
    return found


def _comments(source: str) -> dict[int, str]:
    """The comment ending each line of ``source``, by line number."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT}


def profile_settings(notebook: Path, profile: str) -> dict[str, Any] | None:
    """The settings ``Finding.open(...)`` in ``notebook`` gives ``profile`` (``common`` then the profile's own);
    a value the notebook computes is a ``"(computed in the notebook)"`` string. ``None``: no such call."""
    for _, source in code_cells(notebook):
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell with IPython magics
            continue
        for node in ast.walk(tree):
            if _is_finding_open(node):
                groups = {k.arg: k.value for k in node.keywords if k.arg in GROUPS}
                if profile not in groups:
                    raise ValueError(f"profile {profile!r} is unknown to {Path(notebook).stem}; choose one of: "
                                     f"{', '.join(g for g in GROUPS if g in groups and g != 'common')}")
                settings: dict[str, Any] = {}
                for group in ("common", profile):
                    if group in groups:
                        settings |= _settings(groups[group])
                return settings
    return None


def _is_finding_open(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "open"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "Finding")


COMPUTED = "(computed in the notebook)"


def _settings(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg: _or_computed(k.value) for k in node.keywords if k.arg}
    try:
        value = _value(node)
    except _NotLiteral:
        return {}
    return dict(value) if isinstance(value, dict) else {}


def _or_computed(node: ast.expr) -> Any:
    try:
        return _value(node)
    except _NotLiteral:
        return COMPUTED


_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow}


def _value(node: ast.expr) -> Any:
    """A literal, arithmetic on literals, ``dict(...)`` of those, or ``module.NAME[key]`` of :mod:`sgdlab.findings`."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_value(node.left), _value(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {k.arg: _value(k.value) for k in node.keywords if k.arg}
    if isinstance(node, ast.Subscript):
        return _value(node.value)[_value(node.slice)]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        try:
            return getattr(importlib.import_module(f"sgdlab.findings.{node.value.id}"), node.attr)
        except (ImportError, AttributeError):
            raise _NotLiteral from None
    raise _NotLiteral


def resolved(parameters: list[Parameter], settings: dict[str, Any] | None, profile: str) -> dict[str, Any]:
    """Each parameter's value at ``profile``: the profile itself, the cell's value where it is not ``None``
    (it replaces the setting), else the profile's setting of that name, else ``None``."""
    settings = settings or {}
    return {p.name: profile if p.name == "profile" else p.value if p.value is not None else settings.get(p.name)
            for p in parameters}


def _shown(value: Any) -> str:
    return value if value == COMPUTED else repr(value)


def table(notebook: Path, profile: str) -> str:
    """The text ``sgdlab show`` prints: one row per parameter, its type, its cell value and its value at ``profile``."""
    found = read(notebook)
    settings = profile_settings(notebook, profile)
    values = resolved(found, settings, profile)
    source = ("from the settings its Finding.open(...) gives the profile" if settings is not None
              else "no Finding.open(...) settings found: the cell's values")
    rows = [("parameter", "type", "in the cell", f"at {profile}", "comment")]
    rows += [(p.name, p.kind, _shown(p.value), _shown(values[p.name]), p.comment) for p in found]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [("  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + (f"  # {r[4]}" if r[4] else "")).rstrip()
             for r in rows]
    lines[0] = lines[0].replace("  # comment", "  comment")
    return "\n".join([f"{Path(notebook).stem} at the {profile} profile ({source})", *lines])
