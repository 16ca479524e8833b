"""Results on disk: grids of runs as one Dataset with provenance, cleaning up after killed writers, damaged and
unwritable caches."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import sgdlab
from sgdlab.core import netcdf
from sgdlab.grid import tables
from sgdlab.grid.runner import run_grid
from sgdlab.task import data
from sgdlab.training import run_cache
from sgdlab.training.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = RunConfig(train_size=256, epochs=1, batch_size=64, hessian_size=64, top_k=1, probes=("losses",),
                 model_options={"width": 8})
# a 2 × 2 × 2 grid over lr, batch_size and seed with one point left out
CONFIGS = [dataclasses.replace(TINY, lr=lr, batch_size=s, seed=seed)
           for lr in (0.1, 0.2) for s in (32, 64) for seed in (0, 1)][:-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SGDLAB_DATA", str(tmp_path_factory.mktemp("data")))
        yield run_grid(CONFIGS, jobs=1, progress=False)


def test_load_grid_spans_the_swept_fields_with_provenance(runs):
    ds = tables.load_grid(runs, dims=["lr", "batch_size", "seed"])
    assert dict(ds.sizes) == {"lr": 2, "batch_size": 2, "seed": 2, "epoch": 2}
    assert ds["train_loss"].dims == ("lr", "batch_size", "seed", "epoch")
    point = ds.sel(lr=0.1, batch_size=64, seed=1)
    run = runs[CONFIGS.index(dataclasses.replace(TINY, lr=0.1, batch_size=64, seed=1))]
    np.testing.assert_array_equal(point["train_loss"], run["train_loss"])
    assert point.config_hash.item() == run.attrs["config_hash"]
    assert point.git_commit.item() == run.attrs["git_commit"]
    assert point.wall_time_s.item() == run.attrs["wall_time_s"]
    assert point.diverged.item() == 0
    missing = ds.sel(lr=0.2, batch_size=64, seed=1)  # the point that was not run
    assert missing.config_hash.item() == "" and missing.diverged.item() == -1
    assert np.isnan(missing["train_loss"]).all()
    assert set(ds.sel(lr=0.1).config_hash.values.ravel()) == {r.attrs["config_hash"] for r in runs[:4]}


def test_load_grid_reads_configs_folders_and_globs_alike(runs, monkeypatch, tmp_path):
    dims = ["lr", "batch_size", "seed"]
    expected = tables.load_grid(runs, dims)
    inferred = tables.load_grid(runs)  # the fields that differ: batch_size, lr, seed
    assert set(inferred.dims) == set(expected.dims)
    xr.testing.assert_identical(inferred.transpose(*expected.dims), expected.transpose(*expected.dims))
    folder = tmp_path / "runs"
    for run in runs:
        run_cache.save(run, folder / f"{run.attrs['config_hash']}.nc")
    xr.testing.assert_identical(tables.load_grid(folder, dims), expected)
    xr.testing.assert_identical(tables.load_grid(str(folder / "*.nc"), dims), expected)
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path))
    xr.testing.assert_identical(tables.load_grid(CONFIGS, dims), expected)
    auto = [dataclasses.replace(c, device="auto") for c in CONFIGS]  # run_grid ran them on this machine's device
    xr.testing.assert_identical(tables.load_grid(auto, dims), expected)
    saved = run_cache.load(run_cache.save(expected, tmp_path / "grid.nc"))
    xr.testing.assert_identical(saved, expected)


def test_combine_is_the_one_dimensional_grid(runs):
    ds = tables.combine([runs[0], runs[4]], "lr")
    assert ds.lr.values.tolist() == [0.1, 0.2]
    assert ds.config_hash.values.tolist() == [runs[0].attrs["config_hash"], runs[4].attrs["config_hash"]]
    xr.testing.assert_identical(ds, tables.load_grid([runs[4], runs[0]], ["lr"]))


@pytest.mark.parametrize(
    "dims, message",
    [
        (["lr"], r"two runs share \{'lr': 0.1\}; add the fields they differ in to dims: seed"),
        (["momentum_typo"], r"dims \['momentum_typo'\] must be configuration fields"),
    ],
)
def test_load_grid_rejects_dims_that_do_not_tell_runs_apart(runs, dims, message):
    with pytest.raises(ValueError, match=message):
        tables.load_grid(runs[:2], dims)


def test_load_grid_names_runs_missing_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="7 of 7 runs are not in the cache"):
        tables.load_grid(CONFIGS)
    with pytest.raises(ValueError, match="no run files"):
        tables.load_grid(tmp_path)


def test_only_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    stale = tmp_path / f".run.nc.{host}.{dead.stdout.strip()}.abc123.tmp"
    live = tmp_path / f".run.nc.{host}.{os.getpid()}.def456.tmp"
    elsewhere = tmp_path / f".run.nc.other-host.{dead.stdout.strip()}.ghi789.tmp"
    for path in (stale, live, elsewhere):
        path.write_bytes(b"partial")
    assert run_cache.remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, elsewhere.name])


def test_a_run_removes_the_temporaries_that_killed_runs_left(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = tmp_path / "runs"
    folder.mkdir()
    stale = folder / f".{run_cache.run_path(TINY, folder).name}.{socket.gethostname()}.{dead.stdout.strip()}.ab12.tmp"
    stale.write_bytes(b"half a run")
    sgdlab.run(TINY, cache=folder, progress=False)
    assert [p.name for p in folder.iterdir()] == [run_cache.run_path(TINY, folder).name]


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def emptied(data: bytes) -> bytes:
    return b""


def bit_flipped(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[40] ^= 0x01  # in the HDF5 superblock: the end-of-file address
    return bytes(flipped)


def recompute_with_run(monkeypatch, folder):
    return sgdlab.run(TINY, cache=folder, progress=False)


def recompute_with_run_grid(monkeypatch, folder):
    monkeypatch.setenv("SGDLAB_DATA", str(folder.parent))
    (ds,) = run_grid([TINY], jobs=1, progress=False)
    return ds


@pytest.mark.parametrize("corrupt", [truncated, emptied, bit_flipped])
@pytest.mark.parametrize("recompute", [recompute_with_run, recompute_with_run_grid])
def test_an_unreadable_cache_file_is_moved_aside_with_one_warning_and_recomputed(corrupt, recompute, monkeypatch,
                                                                                 tmp_path):
    folder = tmp_path / "runs"
    original = sgdlab.run(TINY, cache=folder, progress=False)
    path = run_cache.run_path(TINY, folder)
    damaged = corrupt(path.read_bytes())
    path.write_bytes(damaged)
    with pytest.warns(RuntimeWarning) as caught:
        ds = recompute(monkeypatch, folder)
    (warning,) = [w for w in caught if "cache file" in str(w.message)]
    assert str(path) in str(warning.message) and "\n" not in str(warning.message)
    xr.testing.assert_identical(ds.drop_attrs(), original.drop_attrs())
    assert (folder / f"{path.name}.corrupt").read_bytes() == damaged  # kept for inspection
    xr.testing.assert_identical(run_cache.load(path).drop_attrs(), original.drop_attrs())  # the cache is healed


def file_in_the_way(monkeypatch, folder):
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder")


def permission_denied(monkeypatch, folder):
    """A folder where creating files fails, as on a read-only mount (root ignores permission bits)."""
    folder.mkdir(parents=True, exist_ok=True)
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if flags & (os.O_CREAT | os.O_TMPFILE) and folder in (Path(path), Path(path).parent):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)


@pytest.mark.parametrize("block", [file_in_the_way, permission_denied])
@pytest.mark.parametrize("start", [lambda: sgdlab.run(TINY, progress=False),
                                   lambda: run_grid(CONFIGS[:2], jobs=1, progress=False)],
                         ids=["run", "run_grid"])
def test_an_unwritable_run_cache_is_named_before_any_data_is_loaded(block, start, monkeypatch, tmp_path):
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path / "data"))
    block(monkeypatch, tmp_path / "data" / "runs")
    with pytest.raises(ValueError, match=r"the run cache .*/data/runs is not writable \(.+\); make it writable"):
        start()
    assert not (tmp_path / "data" / "datasets").exists()  # no dataset was loaded, no training started


def test_a_read_only_cache_still_serves_the_runs_it_has(runs, monkeypatch, tmp_path):
    folder = tmp_path / "data" / "runs"
    for run in runs:
        run_cache.save(run, folder / f"{run.attrs['config_hash']}.nc")
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path / "data"))
    permission_denied(monkeypatch, folder)
    got = run_grid(CONFIGS, jobs=1, progress=False)
    assert [g.attrs["config_hash"] for g in got] == [r.attrs["config_hash"] for r in runs]


# --- a full disk: the run is returned and the folder left as it was -------------------------------------

def full_disk(monkeypatch):
    """Every file write stops half-way with ENOSPC, as on a full disk."""
    def write_bytes(self, data):
        with open(self, "wb") as file:
            file.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("recompute", [recompute_with_run, recompute_with_run_grid])
def test_a_full_disk_returns_the_run_with_one_warning_and_leaves_the_cache_as_it_was(recompute, monkeypatch,
                                                                                    tmp_path):
    folder = tmp_path / "runs"
    earlier = run_cache.run_path(TINY, folder).with_name("0123456789abcdef.nc")
    run_cache.save(xr.Dataset({"v": ("x", np.arange(3.0))}), earlier)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    path = run_cache.run_path(TINY, folder)
    with monkeypatch.context() as patched:
        full_disk(patched)
        with pytest.warns(RuntimeWarning) as caught:
            ds = recompute(monkeypatch, folder)
    (warning,) = [str(w.message) for w in caught if "not cached" in str(w.message)]
    assert warning == (f"run not cached: writing {path} failed (disk full (No space left on device)); "
                       "the run is kept in memory only")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # no partial file, no temporary
    xr.testing.assert_identical(ds.drop_attrs(), sgdlab.run(TINY, cache=folder, progress=False).drop_attrs())


def test_a_grid_on_a_disk_that_fills_after_the_check_computes_every_run(monkeypatch, tmp_path):
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path))
    configs = [TINY, dataclasses.replace(TINY, seed=1)]
    full_disk(monkeypatch)
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: Path.write_bytes(self, b"announcement"))
    with pytest.warns(RuntimeWarning, match="run not cached"):
        ds = run_grid(configs, jobs=1, progress=False)
    assert [d.attrs["config_hash"] for d in ds] == [run_cache.run_path(c).stem for c in configs]
    assert list((tmp_path / "runs").iterdir()) == []  # no announcement, no partial file


def test_a_failed_write_leaves_the_earlier_file_intact(monkeypatch, tmp_path):
    path = tmp_path / "run.nc"
    old = xr.Dataset({"v": ("x", np.arange(3.0))})
    run_cache.save(old, path)
    full_disk(monkeypatch)
    with pytest.warns(RuntimeWarning, match=f"writing {path} failed \\(disk full"):
        assert run_cache.save(old * 2, path) is None
    xr.testing.assert_identical(run_cache.load(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_a_write_past_the_file_size_limit_neither_crashes_nor_loses_the_run(tmp_path):
    """A real failed write (RLIMIT_FSIZE stands in for a full disk): the process ends normally with the run."""
    data.load()  # the dataset is generated beforehand
    script = textwrap.dedent(f"""
        import resource, signal, sys, warnings
        import sgdlab
        TINY = sgdlab.RunConfig(train_size=256, epochs=1, batch_size=64, hessian_size=64, top_k=1,
                                probes=("losses",), model_options={{"width": 8}})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = sgdlab.run(TINY, cache={str(tmp_path / "runs")!r}, progress=False)
        print([str(w.message) for w in caught if "not cached" in str(w.message)], float(ds.train_loss[-1]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "run not cached: writing" in done.stdout and "File too large" in done.stdout
    assert "Exception ignored" not in done.stderr
    assert list((tmp_path / "runs").iterdir()) == []


def test_the_up_front_check_refuses_a_full_disk(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: types.SimpleNamespace(total=10**9, used=10**9, free=0))
    with pytest.raises(ValueError, match=f"the run cache {tmp_path / 'runs'} is on a full disk \\(0 bytes free\\)"):
        sgdlab.run(TINY, cache=tmp_path / "runs", progress=False)


# --- only damage moves a cache file aside ------------------------------------------------------------------

@pytest.mark.parametrize("error", [MemoryError(), OSError(errno.EMFILE, "Too many open files")])
def test_a_transient_error_in_reading_is_raised_and_the_file_kept(error, monkeypatch, tmp_path):
    folder = tmp_path / "runs"
    sgdlab.run(TINY, cache=folder, progress=False)
    path = run_cache.run_path(TINY, folder)

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(xr, "open_dataset", failing)
    with pytest.raises(type(error)):
        run_cache.load_cached(path)
    monkeypatch.setattr(Path, "read_bytes", failing)
    with pytest.raises(type(error)):
        run_cache.load_cached(path)
    assert [p.name for p in folder.iterdir()] == [path.name]


def test_corrupt_copies_are_numbered_and_never_overwritten(tmp_path):
    folder = tmp_path / "runs"
    path = run_cache.run_path(TINY, folder)
    sgdlab.run(TINY, cache=folder, progress=False)
    for damaged in (b"first damage", b"second damage"):
        path.write_bytes(damaged)
        with pytest.warns(RuntimeWarning, match="moved to"):
            assert run_cache.load_cached(path) is None
    assert (folder / f"{path.name}.corrupt").read_bytes() == b"first damage"
    assert (folder / f"{path.name}.corrupt.1").read_bytes() == b"second damage"


# --- checksums: damage to the data, an edited configuration -------------------------------------------------

def test_a_bit_flipped_in_the_data_is_detected_and_the_run_recomputed(tmp_path):
    folder = tmp_path / "runs"
    original = sgdlab.run(TINY, cache=folder, progress=False)
    path = run_cache.run_path(TINY, folder)
    with h5py.File(path, "r") as file:
        offset = file["train_loss"].id.get_offset()  # where the array's bytes start
    flipped = bytearray(path.read_bytes())
    flipped[offset + 6] ^= 0x10  # an exponent bit of the first loss: still a number, a wrong one
    path.write_bytes(bytes(flipped))
    with pytest.warns(RuntimeWarning, match=f"cache file {path} is damaged: its bytes no longer match their checksum"):
        ds = sgdlab.run(TINY, cache=folder, progress=False)
    xr.testing.assert_identical(ds.drop_attrs(), original.drop_attrs())
    assert (folder / f"{path.name}.corrupt").read_bytes() == bytes(flipped)


def test_an_edited_configuration_is_not_accepted_under_the_old_hash(tmp_path):
    folder = tmp_path / "runs"
    original = sgdlab.run(TINY, cache=folder, progress=False)
    path = run_cache.run_path(TINY, folder)
    edited = original.assign_attrs(config=original.attrs["config"].replace('"lr": 0.05', '"lr": 0.5'))
    assert edited.attrs["config"] != original.attrs["config"]
    run_cache.save(edited, path)  # a valid checksum over the edited file: only the hash tells
    with pytest.warns(RuntimeWarning, match=f"cache file {path} holds a configuration that hashes to [0-9a-f]{{16}}, "
                                            "not to its name"):
        assert run_cache.load_cached(path) is None


def test_a_damaged_file_written_without_a_checksum_is_moved_aside(tmp_path):
    """Damage to the HDF5 structure of a file in the format before the checksum: HDF5's RuntimeError is damage too."""
    ds = xr.Dataset({"v": ("step", np.arange(3.0))}, coords={"step": [0, 1, 2]})
    raw = bytearray(ds.to_netcdf(engine="h5netcdf"))
    at = raw.find(b"GCOL") + 8  # the size of the global heap holding the dimension scales' references
    raw[at:at + 4] = bytes(b ^ 0xFF for b in raw[at:at + 4])
    path = tmp_path / "0123456789abcdef.nc"
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match=r"is not a readable netCDF file \(RuntimeError: .*H5DSget_num_scales"):
        assert run_cache.load_cached(path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0123456789abcdef.nc.corrupt"]


def test_a_cache_file_written_without_a_checksum_still_loads(tmp_path):
    folder = tmp_path / "runs"
    original = sgdlab.run(TINY, cache=folder, progress=False)
    path = run_cache.run_path(TINY, folder)
    original.to_netcdf(path, engine="h5netcdf")  # the previous layout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.testing.assert_identical(run_cache.load_cached(path), original)
    assert not netcdf.has_checksum(path.read_bytes())
    run_cache.save(original, path)
    assert netcdf.has_checksum(path.read_bytes())
    xr.testing.assert_identical(xr.open_dataset(path, engine="h5netcdf").load(), original)  # plain netCDF to others
