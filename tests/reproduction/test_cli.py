"""The command line answers at once: ``--help``, ``--version`` and ``list`` load none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sgdlab

HEAVY = ("torch", "papermill", "xarray", "matplotlib", "nbformat", "yaml")

PROBE = '''
import sys
from sgdlab.cli import main
try:
    code = main({args!r})
except SystemExit as exc:
    code = exc.code
print("HEAVY", sorted(m for m in {heavy!r} if m in sys.modules), "EXIT", code)
'''


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list"], ["reproduce", "--help"]])
def test_quick_commands_import_no_heavy_library(args):
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY [] EXIT 0"
    if args == ["--version"]:
        assert f"sgdlab {sgdlab.__version__}" in done.stdout
