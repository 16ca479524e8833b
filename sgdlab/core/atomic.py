"""Atomic file writes: a temporary file in the target's folder, renamed into place once complete.

Readers never see a partial file, and a writer killed mid-way leaves only its temporary file, named
after its host and process so :func:`remove_stale_temporaries` can tell it from one still being
written. Files get the mode the process umask gives new files (``0o666 & ~umask``), as ``open`` would.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path


def write(path: Path, write_to: Callable[[Path], object]) -> Path:
    """Create ``path`` atomically: ``write_to(tmp)`` fills a temporary file beside it, which is then renamed.

    The folder is created if missing. On any error the temporary file is removed and ``path`` is left
    as it was. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the kernel applies the umask
    try:
        write_to(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that :func:`write` calls on this host left in ``folder`` before being killed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        head, pid, *_ = tmp.name.rsplit(".", 3) + ["", ""]  # .<name>.<host>.<pid>.<token>.tmp
        if head.endswith(f".{socket.gethostname()}") and pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
