"""Grids of runs: the cache, local processes, a Dask cluster, submitit, bad executors, resuming after a kill, and
workers that end with their parent."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import xarray as xr

from sgdlab.core import paths
from sgdlab.grid import executors
from sgdlab.grid import runner as sweep
from sgdlab.grid.runner import run_grid
from sgdlab.training import config as configuration
from sgdlab.training import run_cache
from sgdlab.training.config import RunConfig

TINY = RunConfig(train_size=256, epochs=1, batch_size=64, hessian_size=64, top_k=1, probes=("losses",),
                 model_options={"width": 8})
GRID = [dataclasses.replace(TINY, lr=lr) for lr in (0.05, 0.1, 0.2)]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, tmp_path_factory, monkeypatch):
    """A fresh run cache per test (datasets shared across tests); no executor chosen by the environment."""
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path / "data"))
    datasets = tmp_path_factory.getbasetemp() / "sgdlab-datasets"
    (tmp_path / "data").mkdir()
    datasets.mkdir(exist_ok=True)
    (tmp_path / "data" / "datasets").symlink_to(datasets)
    monkeypatch.delenv(executors.ENV_EXECUTOR, raising=False)
    monkeypatch.delenv(executors.ENV_JOBS, raising=False)
    return tmp_path / "data"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid's runs computed one by one in this process, outside any cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SGDLAB_DATA", str(tmp_path_factory.mktemp("reference")))
        return [sweep.run_quietly(c, tmp_path_factory.mktemp("reference-runs")) for c in GRID]


def assert_same_runs(got: list[xr.Dataset], expected: list[xr.Dataset]) -> None:
    assert [r.attrs["config_hash"] for r in got] == [r.attrs["config_hash"] for r in expected]
    for a, b in zip(got, expected):
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def cached(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "runs").glob("*.nc"))


def test_local_processes_give_the_numbers_of_a_single_process_and_fill_the_cache(reference, data_dir):
    assert_same_runs(run_grid(GRID[:2], "local", jobs=2, progress=False), reference[:2])
    assert cached(data_dir) == sorted(f"{configuration.config_hash(c)}.nc" for c in GRID[:2])


def test_cached_runs_are_not_submitted(reference, data_dir):
    run_grid(GRID[:2], jobs=1, progress=False)

    class Refusing(sweep.Executor):
        def submit(self, fn, /, *args, **kwargs):
            raise AssertionError("a cached run was submitted")

    with pytest.raises(AssertionError, match="cached run was submitted"):
        run_grid(GRID, Refusing(), progress=False)
    assert_same_runs(run_grid(GRID[:2], Refusing(), progress=False), reference[:2])


def test_dask_cluster_by_address_and_by_environment(reference, data_dir, monkeypatch):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        assert_same_runs(run_grid(GRID[:2], address, progress=False), reference[:2])
        monkeypatch.setenv(executors.ENV_EXECUTOR, address)
        assert_same_runs(run_grid(GRID, progress=False), reference)
        with distributed.Client(cluster.scheduler_address) as client:
            assert sum(len(v) for v in client.processing().values()) == 0
    assert cached(data_dir) == sorted(f"{configuration.config_hash(c)}.nc" for c in GRID)


def test_submitit_local_executor(reference, data_dir, tmp_path):
    pytest.importorskip("submitit")
    folder = tmp_path / "jobs"
    run_grid(GRID[:1], jobs=1, progress=False)
    got = run_grid(GRID[:2], f"submitit:{folder}?cluster=local&timeout_min=5", progress=False)
    assert_same_runs(got, reference[:2])
    assert len(list(folder.glob("*_result.pkl"))) == 1  # one submitit job for the one run not cached


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "executor, message",
    [
        ("spark://x", "executor 'spark://x' is unknown; choose one of: local, dask://HOST:PORT"),
        ("dask://nohost", "give the scheduler as dask://HOST:PORT"),
        (f"dask://127.0.0.1:{free_port()}", "no Dask scheduler reachable at 127.0.0.1:"),
    ],
)
def test_bad_executor_is_one_clear_error_before_any_run(executor, message, data_dir):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        run_grid(GRID, executor, progress=False)
    assert time.perf_counter() - start < executors.CONNECT_TIMEOUT_S + 1
    assert not (data_dir / "runs").exists()


@pytest.mark.parametrize(
    "query, message",
    [
        ("timeout_minutes=5", "Unknown executor 'timeout' in parameter 'timeout_minutes'"),
        ("slurm_partitions=gpu", "Unknown argument 'partitions' for executor 'slurm'"),
        ("timeout_min=an hour", 'Parameter "timeout_min" expected type'),
        ("mem_gb=[8", "the value of mem_gb, '[8', is not a YAML literal"),
        ("cluster=pbs", "AutoExecutor doesn't know any executor named pbs"),
    ],
)
def test_bad_submitit_parameter_is_one_error_before_any_run(query, message, data_dir, tmp_path):
    pytest.importorskip("submitit")
    with pytest.raises(ValueError, match=f"executor 'submitit:{tmp_path}/jobs\\?.*': .*{re.escape(message)}") as info:
        run_grid(GRID, f"submitit:{tmp_path}/jobs?cluster=local&{query}", progress=False)
    assert "\n" not in str(info.value)
    assert not (data_dir / "runs").exists() and not (tmp_path / "jobs").exists()


def test_bad_jobs_in_the_environment_is_rejected(monkeypatch):
    monkeypatch.setenv(executors.ENV_JOBS, "many")
    with pytest.raises(ValueError, match="SGDLAB_JOBS must be a positive integer, got 'many'"):
        run_grid(GRID, progress=False)


SWEEP_SCRIPT = textwrap.dedent("""
    import dataclasses
    from sgdlab.grid.runner import run_grid
    from sgdlab.training.config import RunConfig
    base = RunConfig(train_size=1024, epochs=2, batch_size=32, probes=("losses",), model_options={"width": 32})
    run_grid([dataclasses.replace(base, lr=0.01 * (i + 1)) for i in range(6)], jobs=1, progress=False)
    print("finished")
""")


def test_a_killed_sweep_resumes_without_recomputing_finished_runs(data_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = data_dir / "runs"
    proc = subprocess.Popen([sys.executable, "-c", SWEEP_SCRIPT], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(runs.glob("*.nc")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and any process it started
        proc.wait()
    finished = {p.name: p.stat() for p in runs.glob("*.nc")}
    assert 1 <= len(finished) < 6, "the sweep was not killed mid-way"
    for name in finished:
        run_cache.load(runs / name)  # every run file left behind is complete

    rerun = subprocess.run([sys.executable, "-c", SWEEP_SCRIPT], env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == "finished"
    after = {p.name: p.stat() for p in runs.iterdir()}
    assert len(after) == 6 and all(name.endswith(".nc") for name in after), sorted(after)  # no temporary left
    for name, stat in finished.items():  # not rewritten: same inode, same modification time
        assert (after[name].st_ino, after[name].st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    for name in after:
        run_cache.load(runs / name)


ORPHANING_SCRIPT = textwrap.dedent("""
    import os, time
    from sgdlab.grid import executors
    with executors.open_executor("local", 1) as pool:
        pool.submit(os.getpid).result()  # the worker has started and now waits, idle, for work
        print("ready", flush=True)
        time.sleep(60)
""")


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (zombies left for an init that does not reap them count as dead)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat_file.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(ppid) == pid and state != "Z":
            found.append(int(stat_file.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_local_workers_end_within_10_s_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", ORPHANING_SCRIPT], env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, text=True)
    workers = []
    try:
        assert parent.stdout.readline().strip() == "ready"
        workers = _children(parent.pid)
        assert workers, "the parent started no process"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "workers outlived their parent by 10 s"
    finally:
        parent.kill()
        for worker in filter(_alive, workers):
            os.kill(worker, signal.SIGKILL)


def test_the_watchdog_ends_a_worker_whose_parent_is_gone(monkeypatch):
    """The portable fallback: without a parent-death signal, the worker sees its parent pid change."""
    monkeypatch.setattr(executors.os, "getppid", iter([4242, 4242, 1]).__next__)  # reparented to init

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(executors.os, "_exit", exit_)
    with pytest.raises(SystemExit):
        executors._exit_when_orphaned(4242, poll_s=0.01)


def test_a_grid_announces_the_runs_it_computes_while_it_computes_them(data_dir, monkeypatch):
    seen = []

    def quietly(config, cache_dir):
        seen.append(run_cache.planned_runs(cache_dir))
        return real(config, cache_dir)

    real = sweep.run_quietly
    monkeypatch.setattr(sweep, "run_quietly", quietly)
    run_grid(GRID[:1], "local", jobs=1, progress=False)
    assert seen == [{configuration.config_hash(GRID[0])}]
    assert run_cache.planned_runs(paths.runs_dir()) == set()  # gone once the grid is done
