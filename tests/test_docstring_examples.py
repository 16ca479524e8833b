"""The examples in the package's docstrings (``>>>`` lines, shown in the API reference) run and print
what they show."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import sgdlab


def modules_with_examples() -> list[str]:
    """The names of sgdlab's modules whose source holds a docstring example, found without importing them."""
    names = [m.name for m in pkgutil.walk_packages(sgdlab.__path__, "sgdlab.")]
    return sorted(name for name in names if ">>> " in Path(importlib.util.find_spec(name).origin).read_text())


MODULES = modules_with_examples()


def test_the_package_has_docstring_examples_to_run():
    assert len(MODULES) >= 5, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_a_modules_docstrings_run_as_shown(name):
    result = doctest.testmod(importlib.import_module(name), verbose=False, report=True)
    assert result.attempted > 0, f"{name}: no example was collected"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples printed something else"

