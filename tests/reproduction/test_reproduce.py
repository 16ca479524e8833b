"""``sgdlab reproduce`` and ``sgdlab sweep`` on small throwaway notebooks: index, exit status, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import papermill.cli
import pytest

from sgdlab import cli

PASSING = '''
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sgdlab.findings import claims, plots, profiles

out = profiles.output_path(output_dir, "01_line")
print("executor", os.environ.get("SGDLAB_EXECUTOR"), "jobs", os.environ.get("SGDLAB_JOBS"))
fig, ax = plt.subplots()
ax.plot([0, 1], [0, slope])
plots.save(fig, "line", out, "01_line", dict(profile=profile, slope=slope), caption="A line of the given slope.")
claims.report([
    claims.claim("L.positive", "the slope is positive", slope > 0, slope=slope),
    claims.claim("L.steep", "the slope exceeds 10", slope > 10, slope=slope, points=[0.0, slope]),
], out, known_failures={"L.steep": "the slopes tried here are small"})
'''


def notebook(folder: Path, name: str, parameters: str, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture(scope="module")
def notebooks_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notebooks")
    notebook(folder, "01_line", 'profile = "quick"\nslope = 1.5\noutput_dir = ""', PASSING)
    notebook(folder, "02_broken", 'profile = "quick"\noutput_dir = ""', 'raise RuntimeError("the data is gone")')
    return folder


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def reproduced(notebooks_dir, tmp_path_factory):
    """``sgdlab reproduce`` over both notebooks, run once for the tests that read what it wrote."""
    out = tmp_path_factory.mktemp("report")
    code = cli.main(["reproduce", "--notebooks", str(notebooks_dir), "--out", str(out), "--executor", "local",
                     "--jobs", "1"])
    return code, out


def test_reproduce_exits_non_zero_when_a_notebook_fails_and_keeps_going(reproduced):
    code, out = reproduced
    assert code == 1
    status = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/status.json")}
    assert status["01_line"]["error"] is None
    assert status["02_broken"]["error"].startswith("RuntimeError: the data is gone")
    assert (out / "01_line" / "01_line.ipynb").exists() and (out / "02_broken" / "02_broken.ipynb").exists()
    executed = nbformat.read(out / "01_line" / "01_line.ipynb", as_version=4)
    assert "executor local jobs 1" in executed.cells[-1].outputs[0]["text"]  # the notebook's grids see the executor


def test_index_shows_verdicts_measured_values_figures_and_errors(reproduced):
    _, out = reproduced
    md = (out / "index.md").read_text()
    assert "| L.positive | PASS | the slope is positive | slope: 1.5 |" in md
    assert "| L.steep | FAIL (known) — the slopes tried here are small | the slope exceeds 10 | " \
           "slope: 1.5; points: [0, 1.5] |" in md
    assert "![line](01_line/line.png)\n\n*A line of the given slope.* ([PDF](01_line/line.pdf); " \
           "`sgdlab reproduce --only 01 --profile quick`)" in md
    assert md.count("A line of the given slope.") == 1  # the caption once, not as alt text and caption
    assert "FAILED — RuntimeError: the data is gone" in md
    assert "1/2 claims passed, 1 known failure, in" in md and "notebooks failed: 02_broken" in md
    page = (out / "index.html").read_text()
    assert "<img src='01_line/line.png' alt='A line of the given slope.'>" in page
    assert "<a href='01_line/line.pdf'>PDF</a>" in page and "FAILED — RuntimeError: the data is gone" in page
    assert ("<span class='badge known'>FAIL (known)</span><div class='reason'>the slopes tried here are small</div>"
            in page)


def test_only_one_notebook_passes_and_ends_with_the_summary(notebooks_dir, tmp_path, capfd):
    code = cli.main(["reproduce", "--only", "01", "--notebooks", str(notebooks_dir), "--out", str(tmp_path)])
    lines = capfd.readouterr().out.strip().splitlines()
    assert code == 0
    assert lines[-1].startswith("1/2 claims passed, 1 known failure, in ") and lines[-1].endswith(" min")
    assert lines[0] == "[1/1] 01_line" and lines[1].startswith("[1/1] 01_line done in ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_line", "index.html", "index.md"]


def test_sweep_executes_one_notebook_per_grid_point(notebooks_dir, tmp_path, capfd):
    code = cli.main(["sweep", "01_line", "-p", "slope", "0.5", "2", "-p", "profile", "quick",
                     "--notebooks", str(notebooks_dir), "--out", str(tmp_path)])
    assert code == 0, capfd.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slope=0.5,profile=quick", "slope=2,profile=quick"]
    sidecar = json.loads((tmp_path / "slope=2,profile=quick" / "line.figure.json").read_text())
    assert sidecar["parameters"] == {"profile": "quick", "slope": 2}
    claims = json.loads((tmp_path / "slope=0.5,profile=quick" / "claims.json").read_text())
    assert claims[0]["measured"] == {"slope": 0.5}
    assert capfd.readouterr().out.strip().splitlines()[-1].startswith("2/4 claims passed, 2 known failures, in ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["reproduce", "--only", "07"], "unknown notebook(s) 07; choose from: 01_line, 02_broken"),
        (["reproduce", "--profile", "huge"], "profile 'huge' is unknown; choose one of: quick, paper"),
        (["reproduce", "--executor", "dask://127.0.0.1:1"], "no Dask scheduler reachable at"),
        (["reproduce", "--jobs", "0"], "jobs must be a positive integer, got 0"),
        (["sweep", "01", "-p", "lr", "0.1"], "01_line has no parameter lr; its parameters: profile, slope, output_dir"),
        (["sweep", "01", "-p", "profile", "quick", "huge"], "profile 'huge' is unknown"),
        (["sweep", "01", "-p", "slope"], "-p takes a parameter name and at least one value"),
        (["sweep", "01"], "give the grid with -p NAME VALUE... or -y MAPPING"),
        (["sweep", "01", "-y", "[1, 2]"], "-y takes a YAML mapping of parameters"),
        (["sweep", "01", "-p", "slope", "1", "1"], "grid points {'slope': 1} and {'slope': 1} would share the folder"),
        (["sweep", "01", "-p", "slope", "1", "-y", "slope: '1'"], "would share the folder slope=1"),
    ],
)
def test_bad_input_is_one_error_line_before_anything_runs(args, message, notebooks_dir, tmp_path, capfd):
    code = cli.main([*args, "--notebooks", str(notebooks_dir), "--out", str(tmp_path / "out")])
    err = capfd.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sgdlab: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_kernels_print_no_warning_and_leave_no_socket_files(notebooks_dir, tmp_path, capfd):
    from sgdlab.reproduction import notebooks

    folder = tmp_path / "nb"
    folder.mkdir()
    notebook(folder, "01_quiet", 'output_dir = ""', 'print("hello")')
    execution = notebooks.execute(folder / "01_quiet.ipynb", tmp_path / "out", {})
    assert execution.error is None
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out and "WARNING" not in captured.err
    executed = nbformat.read(tmp_path / "out" / "01_quiet.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "hello\n"
    assert sorted(p.name for p in folder.iterdir()) == ["01_quiet.ipynb"]  # no kernel-ipc-N sockets beside it


def test_the_kernel_process_writes_its_own_stderr_to_a_log_kept_only_when_not_empty(tmp_path, capfd):
    from sgdlab.reproduction import notebooks

    folder = tmp_path / "nb"
    folder.mkdir()
    notebook(folder, "01_noisy", 'output_dir = ""',  # os.write(2) bypasses the kernel's capture, as a crash would
             'import os, sys\nos.write(2, b"from the kernel process\\n")\nprint("to the cell", file=sys.stderr)')
    notebook(folder, "02_silent", 'output_dir = ""', 'print("hello")')
    noisy = notebooks.execute(folder / "01_noisy.ipynb", tmp_path / "noisy", {})
    silent = notebooks.execute(folder / "02_silent.ipynb", tmp_path / "silent", {})
    assert noisy.error is None and silent.error is None
    assert "from the kernel process" not in capfd.readouterr().err
    assert "from the kernel process" in (tmp_path / "noisy" / notebooks.KERNEL_LOG).read_text()
    executed = nbformat.read(tmp_path / "noisy" / "01_noisy.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "to the cell\n"  # what a cell prints stays in the notebook
    assert not (tmp_path / "silent" / notebooks.KERNEL_LOG).exists()



@pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads process states from /proc")
def test_the_kernel_and_what_it_started_end_with_the_last_cell(tmp_path):
    from sgdlab.reproduction import notebooks

    folder = tmp_path / "nb"
    folder.mkdir()
    notebook(folder, "01_child", 'output_dir = ""',
             'import os, pathlib, subprocess\n'
             'child = subprocess.Popen(["sleep", "600"])\n'
             'pathlib.Path(output_dir, "pids").write_text(f"{os.getpid()} {child.pid}")')
    assert notebooks.execute(folder / "01_child.ipynb", tmp_path / "out", {}).error is None
    for pid in map(int, (tmp_path / "out" / "pids").read_text().split()):
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "State:\tZ" in status.read_text()  # gone, or a zombie not yet reaped


PAPERMILL_TEXTS = ["1e-3", "true", "True", "False", "None", "[0.1, 0.2]", '"a b"', "a b", "7", "1_000", "-2.5", "0x10",
                   "inf", "2020-01-01"]


@pytest.mark.parametrize("text", PAPERMILL_TEXTS)
def test_sweep_values_are_read_exactly_as_papermills_p_reads_them(text):
    expected = papermill.cli._resolve_type(text)
    assert cli.papermill_value(text) == expected and type(cli.papermill_value(text)) is type(expected)


def test_sweep_values_from_p_and_y_reach_their_own_folders(tmp_path, capfd):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook(folder, "01_echo", 'value = 0\noutput_dir = ""',
             'import json, pathlib\npathlib.Path(output_dir, "value.json").write_text(json.dumps(value))')
    out = tmp_path / "out"
    code = cli.main(["sweep", "01", "-p", "value", "1e-3", "true", '"a b"', "a/b", "a-b",
                     "-y", "value: [0.1, 0.2]", "--notebooks", str(folder), "--out", str(out)])
    assert code == 0, capfd.readouterr()
    received = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/value.json")}
    hashed = [name for name in received if name.startswith("value=a-b-")]
    assert len(hashed) == 1 and received.pop(hashed[0]) == "a/b"  # renamed: it would overwrite value=a-b
    assert received == {"value=0.001": 0.001, "value=true": "true", "value=-a-b-": '"a b"', "value=a-b": "a-b",
                        "value=-0.1,0.2-": [0.1, 0.2]}


SMOKE = '''
from sgdlab.findings import claims, profiles

out = profiles.output_path(output_dir, "01_tiny")
print("smoke", smoke)
if size < 0:
    raise ValueError("size must be positive")
claims.report([claims.claim("T.holds", "a claim random data cannot support", False)], out,
              raise_on_failure=not smoke)
'''


@pytest.fixture(scope="module")
def smoke_notebooks(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("smoke-notebooks")
    notebook(folder, "01_tiny", 'profile = "quick"\nsmoke = False\noutput_dir = ""\nsize = 1', SMOKE)
    notebook(folder, "02_plain", 'profile = "quick"\noutput_dir = ""', "pass")
    return folder


def test_reproduce_smoke_passes_smoke_to_every_notebook_and_says_so(smoke_notebooks, tmp_path, capfd):
    code = cli.main(["reproduce", "--smoke", "--only", "01", "--notebooks", str(smoke_notebooks)])
    lines = capfd.readouterr().out.strip().splitlines()
    out = tmp_path / "data" / "reports" / "quick-smoke"  # apart from the real reports
    assert code == 0  # the claim fails, but a smoke run only has to reach it
    assert lines[-1].startswith("smoke run: 1/1 notebooks reached their claims")
    executed = nbformat.read(out / "01_tiny" / "01_tiny.ipynb", as_version=4)
    assert "smoke True" in executed.cells[-1].outputs[0]["text"]
    md = (out / "index.md").read_text()
    assert md.startswith("# sgdlab reproduction (quick profile, smoke run)")
    assert "Its verdicts are not results" in md and "`sgdlab reproduce --only 01 --profile quick --smoke`" in md


def test_a_smoke_run_that_raises_before_its_claims_fails(smoke_notebooks, tmp_path, capfd):
    code = cli.main(["sweep", "01", "--smoke", "-p", "size", "-1",
                     "--notebooks", str(smoke_notebooks), "--out", str(tmp_path / "out")])
    assert code == 1 and "notebooks failed: 01_tiny" in capfd.readouterr().out


def test_sweep_smoke_reaches_every_point_and_keeps_folder_names(smoke_notebooks, tmp_path, capfd):
    code = cli.main(["sweep", "01", "--smoke", "-p", "size", "1", "2", "--notebooks", str(smoke_notebooks)])
    assert code == 0, capfd.readouterr()
    out = tmp_path / "data" / "sweeps" / "01_tiny-smoke"
    assert sorted(p.name for p in out.iterdir()) == ["size=1", "size=2"]
    assert json.loads((out / "size=2" / "status.json").read_text())["parameters"]["smoke"] is True


@pytest.mark.parametrize("args, message", [
    (["reproduce", "--smoke"], "02_plain has no parameter smoke"),
    (["sweep", "01", "--smoke", "-p", "smoke", "True"], "give smoke either as --smoke or as a swept parameter"),
])
def test_smoke_bad_input_is_one_error_line(args, message, smoke_notebooks, tmp_path, capfd):
    code = cli.main([*args, "--notebooks", str(smoke_notebooks), "--out", str(tmp_path / "out")])
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


def test_a_redirected_log_has_plain_lines_and_no_papermill_noise(notebooks_dir, tmp_path, capfd):
    folder = tmp_path / "nb"
    folder.mkdir()
    notebook(folder, "01_line", 'profile = "quick"\nslope = 1.5  # a = b, which papermill cannot parse\noutput_dir = ""',
             PASSING)
    code = cli.main(["reproduce", "--notebooks", str(folder), "--out", str(tmp_path / "out")])
    captured = capfd.readouterr()
    text = captured.out + captured.err
    assert code == 0 and "\r" not in text and "\x1b" not in text
    assert "Unable to parse" not in text and "Executing" not in text and captured.err == ""
    assert captured.out.splitlines()[:2] == ["[1/1] 01_line", captured.out.splitlines()[1]]
    assert captured.out.splitlines()[1].startswith("[1/1] 01_line done in ")


def test_a_second_reproduce_on_a_held_folder_is_refused_naming_the_holder(notebooks_dir, tmp_path, capfd):
    import os
    import socket

    from sgdlab.reproduction import folders

    out = tmp_path / "out"
    out.mkdir()
    holder = {"command": "sgdlab reproduce --profile quick", "host": socket.gethostname(), "pid": os.getppid(),
              "started": "2026-01-01 10:00:00"}
    (out / folders.LOCK_FILE).write_text(json.dumps(holder))
    code = cli.main(["reproduce", "--only", "01", "--notebooks", str(notebooks_dir), "--out", str(out)])
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"is in use by `sgdlab reproduce --profile quick` (process {os.getppid()} on " in err
    assert sorted(p.name for p in out.iterdir()) == [folders.LOCK_FILE]  # nothing of the holder's was touched


def test_a_lock_left_by_a_dead_process_is_taken_over_and_released(notebooks_dir, tmp_path):
    import socket
    import subprocess
    import sys

    from sgdlab.reproduction import folders

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / folders.LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    assert cli.main(["reproduce", "--only", "01", "--notebooks", str(notebooks_dir), "--out", str(out)]) == 0
    assert not (out / folders.LOCK_FILE).exists()


def test_the_lock_keeps_out_a_second_holder_in_one_process(tmp_path):
    from sgdlab.reproduction import folders

    with folders.locked(tmp_path, "first"), pytest.raises(ValueError, match=r"is in use by `first` \(process"):
        with folders.locked(tmp_path, "second"):
            pass
    assert list(tmp_path.iterdir()) == []


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file"


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot write in: read-only by its mode, or (for root, whom modes do not stop)
    under /proc, which nobody can write."""
    import os

    if os.geteuid() == 0:
        return Path("/proc/sgdlab-out")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder


@pytest.mark.parametrize("make, message", [
    (_a_file, "is a file, not a folder"),
    (_unwritable, "is not a folder sgdlab can write in"),
])
def test_an_out_folder_that_cannot_be_written_is_one_error_line(make, message, notebooks_dir, tmp_path, capfd):
    out = make(tmp_path)
    code = cli.main(["reproduce", "--only", "01", "--notebooks", str(notebooks_dir), "--out", str(out)])
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err and str(out) in err


@pytest.mark.parametrize("variable, value, message", [
    ("SGDLAB_EXECUTOR", "slurm", "executor 'slurm' is unknown"),
    ("SGDLAB_JOBS", "many", "SGDLAB_JOBS must be a positive integer, got 'many'"),
])
def test_executor_settings_from_the_environment_are_checked_before_anything_runs(variable, value, message,
                                                                                notebooks_dir, tmp_path, capfd,
                                                                                monkeypatch):
    monkeypatch.setenv(variable, value)
    code = cli.main(["reproduce", "--notebooks", str(notebooks_dir), "--out", str(tmp_path / "out")])
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_a_broken_notebook_is_named_before_anything_runs(notebooks_dir, tmp_path, capfd):
    folder = tmp_path / "nb"
    shutil.copytree(notebooks_dir, folder)
    (folder / "03_truncated.ipynb").write_text('{"cells": [')
    code = cli.main(["reproduce", "--notebooks", str(folder), "--out", str(tmp_path / "out")])
    err = capfd.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{folder / '03_truncated.ipynb'} is not a readable notebook" in err
    assert not (tmp_path / "out").exists()
