"""A griffe extension for the API pages (named in mkdocs.yml): sgdlab's docstrings, written in reStructuredText
habits, read as Markdown.

- doctest examples (``>>>`` lines and the output after them) become ``pycon`` code blocks, so their
  output is not read as Markdown (``['a', 'b']`` would be a link);
- ``:func:`name``` and its kin become code spans (``name``).

Double-backtick literals are already Markdown code spans.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc):`~?([^`]+)`")


def markdown(text: str) -> str:
    """``text`` with its doctest blocks fenced and its Sphinx roles as code spans."""
    out: list[str] = []
    in_example = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_example:
            out.append("```pycon")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line if in_example else _ROLE.sub(r"`\1`", line))
    if in_example:
        out.append("```")
    return "\n".join(out)


class Docstrings(griffe.Extension):
    """Rewrites every docstring with :func:`markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
