"""What reproduce prints while it works: bars on a terminal, plain lines in a log; each notebook's runs counted afresh."""

from __future__ import annotations

import io
import json

from sgdlab.core import paths
from sgdlab.reproduction.progress import Progress, RunCount


def add_runs(folder, *names, planned=()):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.nc").write_text("")
    if planned:
        (folder / ".planned.test.tmp").write_text(json.dumps(list(planned)))


def test_runs_are_counted_from_each_restart(tmp_path):
    add_runs(tmp_path, "old")
    count = RunCount(tmp_path)
    add_runs(tmp_path, "a", "b", planned=["a", "b", "c"])
    assert count.read() == (2, 3)
    (tmp_path / ".planned.test.tmp").unlink()  # the grid ended (and so did its notebook)
    count.restart()
    add_runs(tmp_path, "d")
    assert count.read() == (1, 1)  # the next notebook's runs only


def test_a_log_gets_plain_lines_without_carriage_returns_or_escape_codes(tmp_path):
    stream = io.StringIO()
    runs = paths.runs_dir()
    with Progress(2, stream=stream, poll_s=0.01, line_every_s=0.0) as progress:
        progress.start("01_first")
        add_runs(runs, "r1", "r2")
        progress.done()
        progress.start("02_second")
        add_runs(runs, "r3")
        progress.done("RuntimeError: gone")
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = [line for line in text.splitlines() if not line.startswith("  ")]  # progress lines are indented
    assert lines[0] == "[1/2] 01_first" and lines[1].startswith("[1/2] 01_first done in ")
    assert lines[1].endswith(", 2 runs computed")
    assert lines[2] == "[2/2] 02_second" and lines[3].startswith("[2/2] 02_second failed in ")
    assert lines[3].endswith(", 1 run computed")


def test_a_terminal_gets_an_inner_bar_named_after_each_notebook_and_no_time_left(tmp_path):
    stream = io.StringIO()
    runs = paths.runs_dir()
    with Progress(2, stream=stream, tty=True, poll_s=0.01) as progress:
        progress.start("01_first")
        add_runs(runs, "t1", "t2")
        progress.done()
        progress.start("02_second")
        add_runs(runs, "t3")
        progress.done()
    text = stream.getvalue()
    assert "01_first: 2/2 runs computed" in text and "02_second: 1/1 runs computed" in text
    assert "02_second: 3" not in text  # the inner count starts again at each notebook
    assert "notebooks: 2/2" in text and "<" not in text  # tqdm's time left reads "<mm:ss"; none is shown


def test_disabled_progress_prints_nothing():
    stream = io.StringIO()
    with Progress(1, stream=stream, enabled=False) as progress:
        progress.start("01")
        progress.done()
    assert stream.getvalue() == ""
