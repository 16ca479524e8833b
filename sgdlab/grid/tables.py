"""Runs side by side: labelled grids over swept configuration fields (``load_grid``), named stacks."""

from __future__ import annotations

import glob
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sgdlab.training.config import RunConfig
from sgdlab.training.run_cache import _FILL, PROVENANCE, load, run_path


def flat_config(run: xr.Dataset) -> dict[str, Any]:
    """A run's configuration with nested fields flattened: ``{"optimizer.gamma": 0.1, "lr": 0.2, ...}``."""

    def flatten(fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for key, value in fields.items():
            if isinstance(value, dict) and key != "model_options" and key != "every":
                out |= flatten(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value
        return out

    return flatten(json.loads(run.attrs["config"]))


def load_grid(source: Sequence[xr.Dataset] | Sequence[RunConfig] | Mapping[Any, xr.Dataset] | str | Path,
              dims: Sequence[str] | None = None) -> xr.Dataset:
    """Runs side by side in one Dataset, one dim per swept configuration field (``lr``, ``batch_size``, ``seed``...).

    ``source``: run Datasets (a sequence, or the values of a mapping such as :func:`sgdlab.run_grid`
    returns for a mapping), run configurations (read from the cache), a folder of run files, or a glob
    pattern. ``dims`` defaults to the scalar fields that differ between the runs; a nested field is
    named by its path (``"optimizer.gamma"``) and its dim by the path's last part (``gamma``). Runs are
    aligned on ``epoch`` (an outer join: NaN where a run was not measured); per-step traces on
    ``iteration``; combinations of the dims that were not run hold NaN. Each run's provenance
    (:data:`PROVENANCE`: configuration, hash, git commit, wall time, divergence flag) becomes a
    coordinate over the dims, so ``ds.sel(lr=0.1)`` keeps it.
    """
    runs, names = _runs(list(source.values()) if isinstance(source, Mapping) else source)
    configs = [_config_of(ds, name) for ds, name in zip(runs, names)]
    paths_ = list(dims) if dims is not None else _varying(configs)
    unknown = [d for d in paths_ if d not in configs[0]]
    if unknown or not paths_:
        raise ValueError(f"dims {unknown or paths_} must be configuration fields that differ between runs; "
                         f"choose from: {', '.join(configs[0])}")
    names = [p.rsplit(".", 1)[-1] for p in paths_]
    keys = [tuple(c[d] for d in paths_) for c in configs]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            j = keys.index(key)
            differ = sorted(f for f in configs[i] if configs[i][f] != configs[j][f])
            raise ValueError(f"two runs share {dict(zip(paths_, key))}; add the fields they differ in to dims: "
                             f"{', '.join(differ) or 'none (the same run twice)'}")
    stacked = _aligned(runs, "run")
    stacked = stacked.assign_coords({d: ("run", [k[i] for k in keys]) for i, d in enumerate(names)})
    if len(names) == 1:
        return stacked.swap_dims(run=names[0]).sortby(names[0])
    grid = stacked.set_index(run=names).unstack("run", fill_value={**_FILL, **{v: np.nan for v in stacked.data_vars}})
    return grid.transpose(*names, ...)


def combine(datasets: Sequence[xr.Dataset], dim: str) -> xr.Dataset:
    """Stack runs along one ``dim``, a configuration field that differs between them: ``load_grid(datasets, [dim])``."""
    return load_grid(datasets, [dim])


def stack(runs: Mapping[str, xr.Dataset], dim: str) -> xr.Dataset:
    """Runs under names (e.g. ``{"cyclic η": ..., "cyclic S": ...}``) stacked along a new ``dim`` labelled
    by the names, aligned on ``epoch``; each run's provenance becomes a coordinate along ``dim``."""
    return _aligned(list(runs.values()), dim).assign_coords({dim: list(runs)})


def _aligned(runs: Sequence[xr.Dataset], dim: str) -> xr.Dataset:
    """Runs concatenated along ``dim``, aligned on ``epoch`` (outer join), provenance as coordinates."""
    parts = [ds.swap_dims(step="epoch").drop_vars("step").assign_coords({n: ds.attrs[n] for n in PROVENANCE})
             for ds in runs]
    return xr.concat(parts, dim=dim, join="outer", combine_attrs="drop_conflicts", coords=list(PROVENANCE),
                     compat="equals")


def _runs(source: Sequence[Any] | str | Path) -> tuple[list[xr.Dataset], list[str]]:
    """The runs of ``source``, and what names each in an error: its file, or its place in the sequence."""
    if isinstance(source, (str, Path)):
        folder = Path(source).expanduser()
        files = sorted(folder.glob("*.nc")) if folder.is_dir() else sorted(map(Path, glob.glob(str(folder))))
        if not files:
            raise ValueError(f"no run files (*.nc) found at {source}")
        return [load(f) for f in files], [str(f) for f in files]
    source = list(source)
    if not source:
        raise ValueError("no runs given")
    if all(isinstance(s, xr.Dataset) for s in source):
        return source, [f"run {i} of the {len(source)} given" for i in range(len(source))]
    missing = [c for c in source if not run_path(c).exists()]
    if missing:
        raise ValueError(f"{len(missing)} of {len(source)} runs are not in the cache ({run_path(missing[0]).name} "
                         "first); compute them with sgdlab.run_grid")
    return [load(run_path(c)) for c in source], [str(run_path(c)) for c in source]


def _config_of(run: xr.Dataset, name: str) -> dict[str, Any]:
    """:func:`flat_config` of ``run``, or a ValueError naming it when it holds no run configuration."""
    try:
        return flat_config(run)
    except KeyError:
        raise ValueError(f"{name} is not a run of sgdlab: it has no 'config' attribute") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{name} is not a run of sgdlab: its 'config' attribute is not a JSON object "
                         f"({type(exc).__name__}: {exc})") from None


def _varying(configs: list[dict[str, Any]]) -> list[str]:
    """The scalar configuration fields whose value is not the same in every run."""
    return [f for f, v in configs[0].items()
            if isinstance(v, (int, float, str, bool, type(None))) and any(c.get(f) != v for c in configs[1:])]
