"""The README's section "Your model, at scale" runs as it is written."""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_scale_example_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- example: your model, at scale -->")
    block = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(textwrap.dedent(block), "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("tensor([") and printed[1].startswith("(")  # λ₁…λ₃; (trace, standard error)
    steps_by_blocks = " ".join(printed[2:])
    assert steps_by_blocks.startswith("[[") and steps_by_blocks.count("[") == 4  # λ₁: 3 steps × 2 blocks
