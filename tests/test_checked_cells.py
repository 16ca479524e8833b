"""The cell CI compares in each committed notebook (marked ``NBVAL_CHECK_OUTPUT``) prints the verdict table
and nothing else: measured numbers differ in their last digits between processors, verdicts do not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sgdlab.reproduction import notebooks

ROW = re.compile(r"\S+ +(PASS|FAIL \(known\)|FAIL) +\S.*")


def checked_output(notebook: Path) -> list[dict]:
    """The outputs of the notebook's one checked cell."""
    cells = [c for c in json.loads(notebook.read_text())["cells"]
             if c["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert len(cells) == 1, f"{notebook.name}: {len(cells)} checked cells"
    return cells[0]["outputs"]


@pytest.mark.parametrize("notebook", notebooks.find(), ids=lambda nb: nb.stem)
def test_the_checked_cell_prints_the_verdict_table_alone(notebook):
    outputs = checked_output(notebook)
    assert [(o["output_type"], o.get("name")) for o in outputs] == [("stream", "stdout")], outputs
    header, *rows = "".join(outputs[0]["text"]).splitlines()
    assert re.fullmatch(r"claim +verdict +statement", header)
    assert rows and all(ROW.fullmatch(row) for row in rows), rows
