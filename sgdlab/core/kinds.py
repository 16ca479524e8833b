"""Families of frozen configuration dataclasses told apart by a ``kind`` name (schedules, optimizers).

A family stores a member as ``{"kind": name, <fields>}`` in a run's configuration JSON and reads it
back; a new member is a frozen dataclass plus one :meth:`Kinds.register` call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Kinds:
    """The registered kinds of one family (``what``: its name in error messages, e.g. ``"optimizer"``)."""

    def __init__(self, what: str):
        self.what = what
        self.classes: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: make a frozen dataclass the kind ``name`` of this family."""

        def add(cls: type[T]) -> type[T]:
            if name in self.classes:
                raise ValueError(f"{self.what} kind {name!r} is registered already")
            self.classes[name] = cls
            cls.kind = name
            return cls

        return add

    def name_of(self, value: Any) -> str:
        """The kind name of a member."""
        for name, cls in self.classes.items():
            if type(value) is cls:
                return name
        raise ValueError(f"{value!r} is not a {self.what} ({', '.join(self.classes)})")

    def is_member(self, value: Any) -> bool:
        return type(value) in self.classes.values()

    def to_dict(self, value: Any) -> dict[str, Any]:
        """``{"kind": name, <fields>}``: JSON-ready, read back by :meth:`from_dict`."""
        return {"kind": self.name_of(value), **dataclasses.asdict(value)}

    def from_dict(self, spec: dict[str, Any]) -> Any:
        """The member that :meth:`to_dict` described (a bare kind name gives its defaults)."""
        fields = {"kind": spec} if isinstance(spec, str) else dict(spec)
        kind = fields.pop("kind", None)
        if kind not in self.classes:
            raise ValueError(f"{self.what} kind {kind!r} is unknown; choose one of: {', '.join(self.classes)}")
        return self.classes[kind](**fields)
