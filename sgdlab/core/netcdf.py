"""Datasets as checksummed netCDF bytes: serialised in memory, verified before they are parsed.

Serialising in memory first means a disk that fills up fails a plain byte write, which leaves no HDF5
library state behind (and the file being replaced intact, see :mod:`sgdlab.core.atomic`). The bytes end
with a trailer, ``\\nsgdlab-sha256:<64 hex digits>\\n``, the SHA-256 of everything before it: HDF5 ignores
bytes past the end of its data, so the file stays plain netCDF-4 to every reader, and damage anywhere in
it (data, attributes, the HDF5 structure) is found before the HDF5 library reads it, which on some damaged
structures loops forever. Files without the trailer (written before it existed) are read unchecked.
"""

from __future__ import annotations

import errno
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

_MARK = b"\nsgdlab-sha256:"
_TRAILER = len(_MARK) + 64 + 1  # the mark, the hex digest, a newline


class DamagedFile(ValueError):
    """A file that is not a readable netCDF Dataset, or whose bytes no longer match their checksum."""


def to_bytes(ds: xr.Dataset) -> bytes:
    """``ds`` as netCDF-4 (h5netcdf) bytes followed by the checksum trailer."""
    with _local_lock():
        body = bytes(ds.to_netcdf(engine="h5netcdf"))
    return body + _MARK + hashlib.sha256(body).hexdigest().encode() + b"\n"


@contextmanager
def _local_lock() -> Iterator[None]:
    """Inside a dask.distributed worker, xarray locks a write with a cluster-wide lock named after its
    target, which fails for an in-memory buffer; the bytes are this process's own, so a local lock is
    the right one (dask's synchronous scheduler gives it)."""
    try:
        import dask
    except ImportError:
        yield
        return
    with dask.config.set(scheduler="synchronous"):
        yield


def from_bytes(raw: bytes, name: str | Path) -> xr.Dataset:
    """The Dataset of ``raw`` (as :func:`to_bytes` wrote it, or plain netCDF-4), read fully into memory;
    :class:`DamagedFile` naming ``name`` when its checksum fails or it is not a netCDF Dataset."""
    if has_checksum(raw):
        body, trailer = raw[:-_TRAILER], raw[-_TRAILER:]
        if trailer[len(_MARK):-1] != hashlib.sha256(body).hexdigest().encode():
            raise DamagedFile(f"{name} is damaged: its bytes no longer match their checksum")
        raw = body
    try:
        with xr.open_dataset(io.BytesIO(raw), engine="h5netcdf") as ds:
            return ds.load()
    except _MALFORMED as error:
        if isinstance(error, OSError) and error.errno in _TRANSIENT:
            raise
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        raise DamagedFile(f"{name} is not a readable netCDF file ({reason})") from error


def has_checksum(raw: bytes) -> bool:
    """Whether ``raw`` ends with a checksum trailer."""
    return len(raw) >= _TRAILER and raw[-_TRAILER:].startswith(_MARK) and raw.endswith(b"\n")


# What the HDF5, h5netcdf and xarray readers raise on bytes that are not a well-formed file (h5py reports
# a format error as an OSError without errno, and a damaged structure that HDF5 itself cannot name, e.g. a
# dimension scale's references, as a RuntimeError); MemoryError, a missing library and the like are not among them.
_MALFORMED = (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError, AssertionError,
              RuntimeError)
_TRANSIENT = {errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.EINTR}
