"""The data folder: a relative ``$SGDLAB_DATA`` is one absolute folder for this process and every process it
starts (notebook kernels in the notebooks' folder included); an empty one is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

import sgdlab
from sgdlab.core import paths
from sgdlab.reproduction import notebooks


def test_a_relative_data_folder_is_resolved_once_and_handed_to_child_processes(monkeypatch, tmp_path):
    monkeypatch.setenv("SGDLAB_DATA", "data-rel")
    monkeypatch.chdir(tmp_path)
    assert paths.data_dir() == tmp_path / "data-rel"
    assert os.environ["SGDLAB_DATA"] == str(tmp_path / "data-rel")
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert paths.runs_dir() == tmp_path / "data-rel" / "runs"
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['SGDLAB_DATA'])"], cwd=elsewhere,
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str(tmp_path / "data-rel")


def test_a_notebook_kernel_gets_the_absolute_data_folder(monkeypatch, tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("output_dir = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import json, os, pathlib\n"
                                  "pathlib.Path(output_dir, 'seen.json').write_text(json.dumps("
                                  "[os.environ['SGDLAB_DATA'], os.getcwd()]))"),
    ], metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
                 "language_info": {"name": "python"}})
    nbformat.write(notebook, folder / "where.ipynb")
    monkeypatch.setenv("SGDLAB_DATA", "data-rel")
    monkeypatch.chdir(tmp_path)
    execution = notebooks.execute(folder / "where.ipynb", tmp_path / "out", {})
    assert execution.error is None
    data, cwd = json.loads((tmp_path / "out" / "seen.json").read_text())
    assert (data, cwd) == (str(tmp_path / "data-rel"), str(folder))  # not notebooks/data-rel


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_data_folder_is_refused(value, monkeypatch):
    monkeypatch.setenv("SGDLAB_DATA", value)
    with pytest.raises(ValueError, match="SGDLAB_DATA is set but empty; set it to the folder"):
        paths.data_dir()
    with pytest.raises(ValueError, match="SGDLAB_DATA is set but empty"):
        sgdlab.run(sgdlab.RunConfig())
