"""The documentation site builds in strict mode (a broken link, a missing page or an unreadable docstring
fails), with a page per subpackage and per notebook."""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.commands.build import build
from mkdocs.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def test_the_documentation_site_builds_in_strict_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    monkeypatch.chdir(ROOT)
    config = load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(tmp_path / "site"))
    build(config)
    site = tmp_path / "site"
    api = sorted(p.name for p in (site / "api").iterdir())
    assert api == sorted(["core", "curvature", "task", "theory", "optim", "measure", "training", "grid", "findings",
                          "reproduction"])
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (site / "notebooks").iterdir()) == notebooks
    lanczos = (site / "api" / "curvature" / "index.html").read_text()
    assert "top_eigen" in lanczos and "Ritz" in lanczos
    assert "<img" in (site / "notebooks" / "07_edge_of_stability" / "index.html").read_text()
    assert os.path.exists(site / "guide" / "adding-a-finding" / "index.html")
