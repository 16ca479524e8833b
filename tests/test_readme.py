"""Every Python block of the README runs as written, each in a fresh process with its own data folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs_as_written(block, tmp_path_factory):
    data = tmp_path_factory.getbasetemp() / "readme-data"  # MNIST-1D generated once for all blocks
    env = {**os.environ, "SGDLAB_DATA": str(data), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path_factory.mktemp("readme"), env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
