"""What ``sgdlab reproduce`` and ``sgdlab sweep`` print while notebooks execute.

On a terminal: a bar of notebooks (or sweep points) and, under it, a bar of the runs the current notebook
computes, named after it and started afresh at each notebook. Neither shows an estimate of the time
left: a notebook's length is not known before it runs (they differ fivefold), and runs loaded from the
cache take no time. Anywhere else (a log file, a pipe) the same news comes as plain lines, without
carriage returns or escape codes.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from sgdlab.core import paths


class RunCount:
    """The runs a notebook computes into a run cache folder, counted from :meth:`restart` on.

    ``done``: new ``.nc`` files; ``total``: those plus the runs its grids have announced
    (:func:`sgdlab.training.run_cache.planned_runs`), ``None`` until a grid announces any.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.restart()

    def restart(self) -> None:
        """Count from now: runs already in the folder, and grids announced earlier, are not this notebook's."""
        self._before = set(self.folder.glob("*.nc"))
        self._since = time.time() - 1  # file times have a coarse resolution on some filesystems
        self._announced: set[str] = set()

    def read(self) -> tuple[int, int | None]:
        """``(done, total)`` since the last :meth:`restart`."""
        from sgdlab.training import run_cache

        self._announced |= run_cache.planned_runs(self.folder, since=self._since)
        done = {p.stem for p in set(self.folder.glob("*.nc")) - self._before}
        return len(done), len(self._announced | done) or None


_OUTER = "{desc}: {n_fmt}/{total_fmt} {bar:20} [{elapsed}]"
_INNER = "  {desc}: {n_fmt}/{total_fmt} runs computed [{elapsed}]"


class Progress:
    """Progress of ``total`` notebooks (``unit``: ``"notebook"`` or ``"point"``) and of each one's runs.

    Use as a context manager; call :meth:`start` before each notebook and :meth:`done` after it.
    ``stream``: default standard output; ``tty``: draw bars (default: whether ``stream`` is a terminal);
    ``enabled=False`` prints nothing. A thread reads the run count every ``poll_s`` seconds; plain
    output prints it at most every ``line_every_s`` seconds, and only when it changed.
    """

    def __init__(self, total: int, unit: str = "notebook", *, smoke: bool = False, stream: TextIO | None = None,
                 tty: bool | None = None, enabled: bool = True, poll_s: float = 1.0,
                 line_every_s: float = 60.0) -> None:
        self.total, self.unit, self.enabled = total, unit, enabled
        self.stream = stream or sys.stdout
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.runs = RunCount(paths.runs_dir(smoke))
        self.poll_s, self.line_every_s = poll_s, line_every_s
        self._n, self._name, self._started, self._next_line = 0, "", 0.0, 0.0
        self._last: tuple[int, int | None] = (0, None)
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._outer = self._inner = None
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Progress:
        if self.enabled and self.tty:
            from tqdm import tqdm

            self._outer = tqdm(total=self.total, desc=f"{self.unit}s", file=self.stream, bar_format=_OUTER,
                               position=0, dynamic_ncols=True)
        if self.enabled:
            self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._watcher.is_alive():
            self._watcher.join()
        for bar in (self._inner, self._outer):
            if bar is not None:
                bar.close()

    def start(self, name: str) -> None:
        """A notebook (or point) named ``name`` begins: the run count starts from zero under its name."""
        with self._lock:
            self.runs.restart()
            now = time.time()
            self._name, self._started, self._last, self._next_line = name, now, (0, None), now + self.line_every_s
            if not self.enabled:
                return
            if self.tty:
                if self._inner is not None:
                    self._inner.close()
                from tqdm import tqdm

                self._inner = tqdm(total=None, desc=name, file=self.stream, bar_format=_INNER, position=1,
                                   leave=False, dynamic_ncols=True)
            else:
                self._line(f"[{self._n + 1}/{self.total}] {name}")

    def done(self, error: str | None = None) -> None:
        """The current notebook ended (``error``: why it failed, if it did)."""
        with self._lock:
            self._update()
            self._n += 1
            if not self.enabled:
                return
            if self.tty:
                self._outer.update(1)
                return
            runs, _ = self._last
            status = "failed" if error else "done"
            self._line(f"[{self._n}/{self.total}] {self._name} {status} in {_duration(time.time() - self._started)}"
                       f", {runs} run{'s' * (runs != 1)} computed")

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                if self._name:
                    self._update()

    def _update(self) -> None:
        count = self.runs.read()
        changed, self._last = count != self._last, count
        if not self.enabled:
            return
        if self.tty and self._inner is not None:
            self._inner.total = count[1]
            self._inner.n = count[0]
            self._inner.refresh()
        elif not self.tty and changed and time.time() >= self._next_line:
            done, total = count
            self._line(f"  {self._name}: {done}/{total if total is not None else '?'} runs computed "
                       f"({_duration(time.time() - self._started)})")
            self._next_line = time.time() + self.line_every_s

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    """``"42 s"`` under two minutes, else ``"3.5 min"``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
