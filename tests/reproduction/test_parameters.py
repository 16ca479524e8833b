"""Notebook parameters as papermill and ``sgdlab show`` read them: every name assigned, with its value at a profile."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from sgdlab import cli
from sgdlab.reproduction import notebooks, parameters

COMMITTED = notebooks.find()


def assigned_names(notebook: Path) -> list[str]:
    """Every name the cell tagged ``parameters`` assigns at its top level, read by Python's own parser."""
    cell = next(c for c in json.loads(notebook.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return [t.id for node in tree.body for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)]


@pytest.mark.parametrize("notebook", COMMITTED, ids=lambda nb: nb.stem)
def test_papermill_sees_every_parameter_of_every_committed_notebook(notebook):
    names = assigned_names(notebook)
    assert names, f"{notebook.stem} assigns no parameters"
    seen = papermill.inspect_notebook(str(notebook))
    assert [n for n in names if n not in seen] == [], f"papermill cannot parse these lines of {notebook.stem}"


@pytest.mark.parametrize("notebook", COMMITTED, ids=lambda nb: nb.stem)
def test_show_reads_the_same_parameters_as_papermill(notebook):
    assert [p.name for p in parameters.read(notebook)] == assigned_names(notebook)


def write(folder: Path, name: str, cells: list[tuple[str, list[str]]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": tags}) for source, tags in cells]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


PARAMETERS = '''profile = "quick"
epochs: int | None = None  # None: the profile's, e.g. a = b
lr = None
zoom = None
steps = None
seed = 3
'''

OPEN = '''finding = Finding.open(
    "01_x", globals(),
    common=dict(lr=0.1, zoom=2560 / 4000),
    quick=dict(epochs=40, steps=eos_settings.SETTINGS["quick"]["steps"], other=len([1])),
    paper=dict(epochs=200, lr=0.01, zoom=1.0),
)
'''


@pytest.fixture
def finding_notebook(tmp_path) -> Path:
    return write(tmp_path, "01_x", [(PARAMETERS, ["parameters"]), (OPEN, [])])


def test_parameters_keep_their_annotations_and_comments(finding_notebook):
    found = {p.name: p for p in parameters.read(finding_notebook)}
    assert found["epochs"] == parameters.Parameter("epochs", None, "int | None", "None: the profile's, e.g. a = b")
    assert found["seed"].kind == "int" and found["seed"].value == 3


def test_profile_settings_come_from_finding_open_literals_and_findings_modules(finding_notebook):
    quick = parameters.profile_settings(finding_notebook, "quick")
    assert quick == {"lr": 0.1, "zoom": 0.64, "epochs": 40, "steps": 1000, "other": parameters.COMPUTED}
    assert parameters.profile_settings(finding_notebook, "paper") == {"lr": 0.01, "zoom": 1.0, "epochs": 200}


def test_show_prints_each_parameter_at_the_profile(finding_notebook, capsys):
    code = cli.main(["show", "01", "--profile", "paper", "--notebooks", str(finding_notebook.parent)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("01_x at the paper profile (from the settings its Finding.open(...) gives the profile)\n")
    for row in [r"profile +str +'quick' +'paper'", r"epochs +int \| None +None +200 +# None: the profile's, e.g. a = b",
                r"lr +NoneType +None +0.01", r"zoom +NoneType +None +1.0", r"seed +int +3 +3"]:
        assert re.search(f"^{row}$", out, re.MULTILINE), row


def test_show_refuses_a_profile_the_notebook_does_not_set(finding_notebook, capsys):
    code = cli.main(["show", "01", "--profile", "huge", "--notebooks", str(finding_notebook.parent)])
    err = capsys.readouterr().err
    assert code == 2 and err == "sgdlab: error: profile 'huge' is unknown to 01_x; choose one of: quick, paper\n"


def test_a_notebook_without_finding_open_shows_its_cell(tmp_path, capsys):
    write(tmp_path, "00_plain", [("n = 2", ["parameters"])])
    assert cli.main(["show", "00", "--notebooks", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no Finding.open(...) settings found" in out and out.splitlines()[2].split() == ["n", "int", "2", "2"]


def test_a_broken_notebook_is_named(tmp_path, capsys):
    (tmp_path / "01_bad.ipynb").write_text("{not json")
    assert cli.main(["show", "01", "--notebooks", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sgdlab: error: {tmp_path / '01_bad.ipynb'} is not a readable notebook") and err.count("\n") == 1
