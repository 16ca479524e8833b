"""What every finding notebook shares: its name and output folder, its profile's settings, its base
run configuration, figures saved with full provenance, and claims reported in one idiom.

A notebook's ``parameters`` cell holds literals; the next cell opens the finding from them::

    finding = Finding.open("01_sharpness_evolution", globals(),
                           quick=dict(dataset="mnist1d", epochs=200, ...), paper=dict(...),
                           smoke=dict(epochs=2, ...))
    s = finding.settings                 # the chosen profile's settings, the notebook's parameters applied
    base = finding.config(top_k=5)       # a RunConfig from every setting that is a RunConfig field

Each papermill parameter is named once, in the parameters cell: a parameter is either a setting of the
profiles (``None`` keeps the profile's value) or one of :data:`STANDARD` (``profile``, ``seed``, ``device``,
``output_dir``, ``smoke``).

``smoke=True`` keeps the profile's settings but applies its ``smoke`` sizes (and, at the paper profile,
swaps an image dataset for ``torchvision.datasets.FakeData`` of its shape), keeps runs in a separate
cache, and never raises on a claim (random data cannot support a paper's claim; the smoke run proves
the path executes up to its claims cell and writes ``claims.json``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt

from sgdlab.core import paths
from sgdlab.findings import citations, plots, profiles
from sgdlab.findings import claims as claims_module
from sgdlab.task import data
from sgdlab.training.config import RunConfig

_RUN_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
STANDARD = ("profile", "seed", "device", "output_dir", "smoke")
"""Parameters every finding notebook has, whatever its settings."""


@dataclass
class Finding:
    """One finding notebook at one profile (see the module docstring)."""

    name: str
    profile: str
    settings: SimpleNamespace
    parameters: dict[str, Any]
    out: Path
    smoke: bool = False
    run_fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, name: str, namespace: Mapping[str, Any], *, quick: Mapping[str, Any],
             paper: Mapping[str, Any], common: Mapping[str, Any] | None = None,
             smoke: Mapping[str, Any] | None = None, cites: tuple[str, ...] = ()) -> Finding:
        """The finding ``name`` at the profile and with the parameters that the notebook's ``namespace``
        (its ``globals()`` after the parameters cell) holds.

        A parameter named like a setting replaces it unless ``None``, and must have its kind (that of
        the profiles' values); the parameters are recorded with each figure. ``common`` holds the
        settings both profiles share, ``quick`` and ``paper`` the rest; ``smoke`` the sizes a smoke run
        shrinks (applied on top of either profile). ``cites``: keys of
        :data:`sgdlab.findings.citations.PAPERS`, written to ``citation.bib`` in the output folder.
        """
        profile = namespace.get("profile", "quick")
        profiles.check(profile)
        settings = [dict(common or {}), dict(quick), dict(paper), dict(smoke or {})]
        names = {key for group in settings for key in group} | set(STANDARD)
        parameters = {key: namespace[key] for key in namespace if key in names and key != "profile"}
        is_smoke = bool(parameters.get("smoke", False))
        chosen = {**settings[0], **(settings[1] if profile == "quick" else settings[2])}
        if is_smoke:
            chosen |= settings[3]
            if profile == "paper":
                chosen["dataset"] = smoke_dataset(chosen.get("dataset"))
        for key, value in parameters.items():
            if key in chosen and value is not None:
                kinds = [group[key] for group in settings[:3] if group.get(key) is not None]
                _check_override(key, value, chosen[key] if chosen[key] is not None else kinds[0] if kinds else None)
                chosen[key] = value

        if is_smoke:
            os.environ[paths.SMOKE_ENV] = "1"
        run_fields = {k: v for k, v in chosen.items() if k in _RUN_FIELDS}
        for key in ("seed", "device"):
            if key in parameters:
                run_fields[key] = parameters[key]
        out = profiles.output_path(parameters.get("output_dir", ""), name, is_smoke)
        if cites:
            (out / citations.FILE).write_text(citations.bibtex(tuple(cites)))
        return cls(name, profile, SimpleNamespace(profile=profile, **chosen), parameters, out, is_smoke, run_fields)

    def dataset(self, name: str) -> str:
        """``name`` as this run uses it: FakeData of its shape in a smoke run of the paper profile (as the
        ``dataset`` setting itself), for a notebook's second dataset."""
        return smoke_dataset(name) if self.smoke and self.profile == "paper" else name

    def config(self, **fields: Any) -> RunConfig:
        """A :class:`RunConfig` from every setting that is one of its fields, then ``fields``."""
        return RunConfig(**(self.run_fields | fields))

    def save_figure(self, fig: plt.Figure, name: str, caption: str = "") -> Path:
        """Save ``fig`` as PNG and PDF in the output folder with the notebook's parameters as provenance."""
        return plots.save(fig, name, self.out, self.name, {"profile": self.profile, **self.parameters},
                          caption=caption)

    def report(self, verdicts: Sequence[claims_module.Claim],
               known_failures: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Write ``claims.json``, print the verdict table, and raise unless every verdict is as stated.

        ``known_failures`` maps a profile to ``{claim id: reason}`` for the claims this notebook states
        do not hold at that profile. A smoke run prints and writes, but never raises.
        """
        known = dict((known_failures or {}).get(self.profile, {}))
        claims_module.report(verdicts, self.out, known_failures=known, raise_on_failure=not self.smoke)


def smoke_dataset(name: str) -> str:
    """The dataset a smoke run of the paper profile uses for ``name``: FakeData of its shape and classes
    (``fake_<name>``) for the papers' image datasets, else ``name`` itself."""
    return f"fake_{name}" if f"fake_{name}" in data.FAKE else name


def _check_override(key: str, value: Any, default: Any) -> None:
    """A parameter must have its setting's kind: a list for a list, a number for a number, and so on
    (``default`` None: no profile gives the setting a value, so any value is taken)."""
    if default is None:
        return
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"parameter {key} must be a non-empty list like {list(default)!r}, got {value!r}")
        kinds = [d for d in default if d is not None]
        for item in value if kinds else ():
            if item is None and len(kinds) < len(default):
                continue  # the setting's own list holds None (e.g. "all examples"), so may the parameter
            _check_override(f"{key}[]", item, kinds[0])
        return
    if isinstance(default, bool) or isinstance(value, bool):
        if not isinstance(value, bool) or not isinstance(default, bool):
            raise ValueError(f"parameter {key} must be {type(default).__name__}, got {value!r}")
        return
    if isinstance(default, (int, float)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"parameter {key} must be a finite number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise ValueError(f"parameter {key} must be an integer, got {value!r}")
        return
    if isinstance(default, str) and not isinstance(value, str):
        raise ValueError(f"parameter {key} must be a string, got {value!r}")
