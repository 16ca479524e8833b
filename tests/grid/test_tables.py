"""Grid tables over a folder of run files: a file that is not a run is named in one ValueError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sgdlab.grid import tables
from sgdlab.training import run_cache


def _run(lr: float) -> xr.Dataset:
    """A stand-in for a run file: a loss over steps and its configuration."""
    return xr.Dataset({"train_loss": ("step", np.array([2.0, 1.0]))}, coords={"step": [0, 10]},
                      attrs={"config": json.dumps({"lr": lr, "seed": 0})})


def _write_foreign(path: Path) -> None:
    xr.Dataset({"temperature": ("time", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")


def _write_truncated(path: Path) -> None:
    run_cache.save(_run(0.3), path)
    path.write_bytes(path.read_bytes()[:500])


def _write_text(path: Path) -> None:
    path.write_text("lr,loss\n0.1,2.0\n")


def _write_config(text: str):
    def write(path: Path) -> None:
        run_cache.save(_run(0.3).assign_attrs(config=text), path)
    return write


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (_write_foreign, "is not a run of sgdlab: it has no 'config' attribute"),
        (_write_truncated, "is not a readable netCDF file"),
        (_write_text, "is not a readable netCDF file .*is not the signature of a valid netCDF4 file"),
        (_write_config("{'lr': 0.3"), "is not a run of sgdlab: its 'config' attribute is not a JSON object "
                                      r"\(JSONDecodeError"),
        (_write_config("[0.3]"), "its 'config' attribute is not a JSON object"),
    ],
    ids=["foreign", "truncated", "text", "not-json", "json-list"],
)
def test_load_grid_names_the_file_that_is_not_a_run(write, reason, tmp_path):
    for lr in (0.1, 0.2):
        run_cache.save(_run(lr), tmp_path / f"run-{lr}.nc")
    bad = tmp_path / "other.nc"
    write(bad)
    for source in (tmp_path, str(tmp_path / "*.nc")):
        with pytest.raises(ValueError, match=reason) as error:
            tables.load_grid(source)
        assert str(error.value).startswith(str(bad)) and "\n" not in str(error.value)


def test_load_grid_names_a_dataset_without_a_configuration():
    with pytest.raises(ValueError, match="run 1 of the 2 given is not a run of sgdlab: it has no 'config' attribute"):
        tables.load_grid([_run(0.1), _run(0.2).drop_attrs()])
