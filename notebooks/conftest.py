"""Marks every notebook that nbval re-executes with ``notebooks``, so ``pytest -m "not notebooks and not smoke"``
runs the unit tests alone."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebooks)
