"""Atomic writes: files appear whole or not at all, with the mode the process umask gives new files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sgdlab.core import atomic
from sgdlab.task import data
from sgdlab.training import run_cache


@pytest.fixture(params=[0o002, 0o027])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_get_the_mode_of_the_umask_not_0600(umask, tmp_path, monkeypatch):
    expected = 0o666 & ~umask
    assert mode(atomic.write(tmp_path / "a" / "plain.txt", lambda tmp: tmp.write_text("x"))) == expected
    assert mode(run_cache.save(xr.Dataset({"v": ("x", np.arange(3.0))}), tmp_path / "run.nc")) == expected
    tiny = {"x": np.zeros((4, 40)), "y": np.arange(4), "x_test": np.zeros((2, 40)), "y_test": np.arange(2)}
    monkeypatch.setattr(data, "_generate_mnist1d", lambda *_: tiny)  # the generated dataset is written as any file
    data.load("mnist1d", root=tmp_path / "datasets", standardize=False)
    assert mode(tmp_path / "datasets" / "mnist1d" / "mnist1d.npz") == expected


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("old")

    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic.write(path, failing)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["file.txt"]
