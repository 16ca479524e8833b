"""The index a person reads: headline numbers in a compact table, nested ones folded, nothing injected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgdlab.reproduction import index as report

RUNS = {"η=0.1": {"initial": 1.0, "peak": 12.3456}, "η=0.2": {"initial": 1.5, "peak": 8.0}}


def test_headline_values_and_nested_ones_are_split():
    values = {"spearman": -1.0, "xs": [0, 1], "long": list(range(7)), "runs": RUNS, "note": "inf"}
    headline, nested = report.split_measured(values)
    assert headline == {"spearman": -1.0, "xs": [0, 1], "note": "inf"}
    assert list(nested) == ["long", "runs"]


def test_markdown_form_is_one_compact_line():
    text = report.measured_markdown({"spearman": -1.0, "xs": [0, 1.25], "runs": RUNS, "long": list(range(7))})
    assert text == "spearman: -1; xs: [0, 1.25]; runs: 2 × 2 (in index.html); long: 7 values (in index.html)"


def test_html_form_is_a_table_with_a_grid_folded_behind_details():
    page = report.measured_html({"spearman": -1.0, "runs": RUNS, "deep": {"a": {"b": [1.0, {"c": 2}]}}})
    assert page.startswith("<table class='measured'><tr><th>spearman</th><td>-1</td></tr></table>")
    assert ("<details><summary>runs (2 × 2)</summary><table class='measured'><tr><th></th><th>initial</th>"
            "<th>peak</th></tr><tr><th>η=0.1</th><td>1</td><td>12.35</td></tr>") in page
    assert "<details><summary>deep (1 value)</summary>a.b: [1.0, {&quot;c&quot;: 2}]</details>" in page
    assert "measured" not in report.measured_html({}) and report.measured_markdown({}) == ""


@pytest.fixture
def folder(tmp_path) -> Path:
    """A report folder with one executed notebook whose claim and figure carry HTML and table syntax."""
    nb = tmp_path / "01_x"
    nb.mkdir()
    (nb / "status.json").write_text(json.dumps(dict(notebook="01_x", output_dir=str(nb), parameters={},
                                                    wall_time_s=1.0, error=None)))
    (nb / "claims.json").write_text(json.dumps([dict(
        id="X.<b>1</b>", statement="a <script>alert(1)</script> | b & c", passed=True, known_failure=None,
        measured={"value<i>": "<img src=x>", "runs": RUNS})]))
    (nb / "f.figure.json").write_text(json.dumps(dict(png="f.png", pdf="f.pdf", caption="<em>caption</em>")))
    return tmp_path


def test_index_md_escapes_html_and_table_syntax_from_claims(folder):
    md_path, html_path = report.write(folder, "quick")
    md = md_path.read_text()
    assert "<" not in md.replace("<!--", "") and ">" not in md.replace("-->", "")
    assert ("| X.&lt;b&gt;1&lt;/b&gt; | PASS | a &lt;script&gt;alert(1)&lt;/script&gt; \\| b &amp; c | "
            "value&lt;i&gt;: &lt;img src=x&gt;; runs: 2 × 2 (in index.html) |") in md
    assert "*&lt;em&gt;caption&lt;/em&gt;*" in md
    page = html_path.read_text()
    assert "<script>" not in page and "<img src=x>" not in page and "<em>" not in page
    assert "<details><summary>runs (2 × 2)</summary>" in page


def test_the_index_shows_the_papers_to_cite(folder):
    from sgdlab.findings import citations

    (folder / "01_x" / citations.FILE).write_text(citations.bibtex(("jastrzebski2019",)))
    md_path, html_path = report.write(folder, "quick")
    md, page = md_path.read_text(), html_path.read_text()
    assert "```bibtex\n@inproceedings{jastrzebski2019relation," in md
    assert "<details><summary>Cite</summary><pre>@inproceedings{jastrzebski2019relation," in page


def test_unknown_papers_are_named():
    from sgdlab.findings import citations

    with pytest.raises(ValueError, match=r"papers \['nobody2020'\] are unknown"):
        citations.bibtex(("nobody2020",))
