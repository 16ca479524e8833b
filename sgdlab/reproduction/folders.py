"""The output folder of ``sgdlab reproduce`` and ``sgdlab sweep``: checked before anything runs, held by one process.

Each notebook's folder is emptied before it executes, so two processes writing into one output folder
would delete each other's files; a lock file (``.sgdlab-lock``: the holder's host, process id and start
time) keeps the second one out with an error that names the first.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".sgdlab-lock"


def check_writable(out: Path) -> None:
    """Raise ValueError, in one line, unless ``out`` is (or can be made) a folder this process can write in."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".sgdlab-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out {out} is not a folder sgdlab can write in ({exc.strerror or exc})") from None


@contextmanager
def locked(out: Path, command: str) -> Iterator[None]:
    """Hold ``out`` for this process while the block runs (``command``: what holds it, for the error).

    Raises ValueError when another live process holds it. A lock left by a process of this host that is
    no longer running is taken over; one from another host is respected (its process cannot be checked).
    """
    lock = Path(out) / LOCK_FILE
    me = {"command": command, "host": socket.gethostname(), "pid": os.getpid(),
          "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):  # a second try after removing a dead holder's lock
        if _create(lock, json.dumps(me)):
            break
        holder = _holder(lock)
        if holder is not None and _alive(holder):
            raise ValueError(f"{out} is in use by `{holder.get('command', 'sgdlab')}` (process {holder.get('pid')} "
                             f"on {holder.get('host')}, since {holder.get('started')}); wait for it, choose another "
                             f"--out, or remove {lock} if that process is gone")
        lock.unlink(missing_ok=True)
    else:
        raise ValueError(f"{out}: could not take its lock {lock}; remove it if no sgdlab process is running")
    try:
        yield
    finally:
        if _holder(lock) == me:
            lock.unlink(missing_ok=True)


def _create(lock: Path, text: str) -> bool:
    """Create ``lock`` holding ``text`` unless it exists, in one step (a hard link), so no reader sees it empty."""
    scratch = lock.with_name(f"{lock.name}.{os.getpid()}")
    scratch.write_text(text)
    try:
        os.link(scratch, lock)
        return True
    except FileExistsError:
        return False
    finally:
        scratch.unlink(missing_ok=True)


def _holder(lock: Path) -> dict | None:
    """The holder recorded in ``lock``; ``None`` when it is gone or unreadable (a dead holder's half-written file)."""
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _alive(holder: dict) -> bool:
    """Whether the holder's process still runs (always assumed on another host)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except (ProcessLookupError, ValueError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True
