"""Every finding notebook runs its paper profile end to end in smoke mode (tiny sizes, FakeData for the
papers' image datasets): models, data, schedules, probes, figures and claims all execute. The claims
cannot hold on random data; the notebook must reach its claims cell and write ``claims.json``.

Part of the default run (well under a minute a notebook on 2 cores); ``pytest -m smoke`` runs these alone."""

from __future__ import annotations

import json

import pytest

from sgdlab.reproduction import notebooks


@pytest.mark.smoke
@pytest.mark.parametrize("notebook", notebooks.find(), ids=lambda nb: nb.stem)
def test_the_paper_profile_runs_in_smoke_mode(notebook, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SGDLAB_DATA", str(tmp_path_factory.getbasetemp() / "smoke-data"))  # FakeData made once
    execution = notebooks.execute(notebook, tmp_path / notebook.stem, {"profile": "paper", "smoke": True})
    assert execution.error is None, execution.error
    written = json.loads((tmp_path / notebook.stem / "claims.json").read_text())
    assert written and all({"id", "statement", "passed", "measured"} <= set(c) for c in written)
