"""Names a user adds to sgdlab's datasets and models: registered in code or found through entry points.

A package reaches every process that imports sgdlab (papermill kernels, grid and cluster workers) by
declaring an entry point in the group ``sgdlab.datasets`` or ``sgdlab.task.models``: its name is the dataset
or model name, its value a module (or an object in one) whose import registers that name. Entry points
are loaded lazily, the first time an unknown name is looked up.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One user registration: what it holds (a loader or a builder, with its settings) and its version."""

    value: T
    version: str


class Registry(Generic[T]):
    """User registrations of one kind (``"dataset"`` or ``"model"``) beside a fixed set of built-in names."""

    def __init__(self, kind: str, group: str, module: str, builtins: tuple[str, ...]) -> None:
        self.kind, self.group, self.module, self.builtins = kind, group, module, builtins
        self._entries: dict[str, Entry[T]] = {}
        self._scanned: tuple[tuple[str, ...], tuple[EntryPoint, ...]] | None = None  # (sys.path, entry points)

    def add(self, name: str, value: T, version: str, replace: bool) -> None:
        """Register ``value`` under ``name``; ValueError for a built-in name or a taken one without ``replace``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string; got {name!r}")
        if name in self.builtins:
            raise ValueError(f"{self.kind} {name!r} is built in and cannot be replaced; choose another name")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (version "
                             f"{self._entries[name].version!r}); pass replace=True to replace it")
        if not isinstance(version, str) or not version:
            raise ValueError(f"version of {self.kind} {name!r} must be a non-empty string (it enters the run's "
                             f"hash); got {version!r}")
        self._entries[name] = Entry(value, version)

    def remove(self, name: str) -> None:
        """Forget a registration; ValueError when ``name`` is not registered."""
        if self._entries.pop(name, None) is None:
            raise ValueError(f"{self.kind} {name!r} is not registered")

    def get(self, name: str) -> T | None:
        """What is registered as ``name``, loading its entry point if needed; None for a built-in name."""
        entry = self._entry(name)
        return None if entry is None else entry.value

    def names(self) -> tuple[str, ...]:
        """Built-in names, then registered ones, then those of entry points not loaded yet."""
        found = [ep.name for ep in self._entry_points()]
        return tuple(dict.fromkeys([*self.builtins, *self._entries, *found]))

    def version(self, name: str) -> str:
        """``""`` for a built-in name, else the registered version string."""
        entry = self._entry(name)
        return "" if entry is None else entry.version

    def _entry(self, name: str) -> Entry[T] | None:
        if name in self.builtins:
            return None
        if name not in self._entries:
            self._load_entry_point(name)
        return self._entries[name]

    def _load_entry_point(self, name: str) -> None:
        matching = [ep for ep in self._entry_points(rescan=True) if ep.name == name]
        if not matching:
            raise ValueError(f"{self.kind} {name!r} is unknown; choose one of: {', '.join(self.names())} "
                             f"(or register it with {self.module}.register, or through "
                             f"an entry point in the group {self.group!r})")
        for ep in matching:
            ep.load()
        if name not in self._entries:
            raise ValueError(f"entry point {matching[0].value!r} (group {self.group!r}) did not register "
                             f"{self.kind} {name!r} when imported")


    def _entry_points(self, rescan: bool = False) -> tuple[EntryPoint, ...]:
        """The group's entry points, scanned again when ``sys.path`` changed (a scan takes tens of ms)."""
        path = tuple(sys.path)
        if rescan or self._scanned is None or self._scanned[0] != path:
            self._scanned = (path, tuple(entry_points(group=self.group)))
        return self._scanned[1]
