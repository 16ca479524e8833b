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
    assert "<details><summary>deep (1 value)</summary>a.b: [1, {c: 2}]</details>" in page
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


def test_missing_values_read_as_a_dash_not_null_or_nan():
    values = {"peak": None, "ratio": "nan", "steps": [1.0, None, "nan"], "runs": {"a": {"x": None, "y": 2.0}}}
    assert report.measured_markdown(values) == "peak: –; ratio: –; steps: [1, –, –]; runs: 1 × 2 (in index.html)"
    page = report.measured_html(values)
    assert "null" not in page and "nan" not in page and "<td>–</td>" in page


def test_the_summary_table_opens_the_page_with_links_to_each_section(folder):
    (folder / "01_x" / "claims.json").write_text(json.dumps([
        dict(id="X.1", statement="s", passed=True, known_failure=None, measured={}),
        dict(id="X.2", statement="s", passed=False, known_failure="too small here", measured={}),
        dict(id="X.3", statement="s", passed=False, known_failure=None, measured={})]))
    md_path, html_path = report.write(folder, "quick")
    md, page = md_path.read_text(), html_path.read_text()
    assert ("| notebook | status | passed | known failures | unexpected | time |\n|" + " --- |" * 6 + "\n"
            "| [01_x](#01_x) | unexpected verdicts | 1 | 1 | 1 | 1 s |") in md
    assert md.index("| notebook |") < md.index("## 01_x")
    assert "<td><a href='#01_x'>01_x</a></td><td><span class='badge fail'>unexpected verdicts</span></td>" in page
    assert "<h2 id='01_x'>" in page
    assert "<span class='badge pass'>PASS</span>" in page and "<span class='badge fail'>FAIL</span>" in page
    assert "<span class='badge known'>FAIL (known)</span><div class='reason'>too small here</div>" in page


def test_figure_names_that_are_not_plain_file_names_are_not_linked(folder):
    (folder / "01_x" / "f.figure.json").write_text(json.dumps(dict(
        png="javascript:alert(1)", pdf="../../secret.pdf", caption="c")))
    (folder / "01_x" / "g.figure.json").write_text(json.dumps(dict(png="g (1).png", pdf="x:y.pdf", caption="g")))
    md_path, html_path = report.write(folder, "quick")
    md, page = md_path.read_text(), html_path.read_text()
    for text in (md, page):
        assert "](javascript" not in text and "href='javascript" not in text and "src='javascript" not in text
        assert "../" not in text and "x:y.pdf" not in text.replace("x:y.pdf not", "")
    assert "Figure javascript:alert(1) not shown: not a plain file name." in md
    assert "![g (1)](01_x/g%20%281%29.png)" in md and "[PDF]" not in md.split("g%20%281%29.png")[1]
    assert "<img src='01_x/g%20%281%29.png' alt='g'>" in page


def test_bibtex_cannot_close_its_code_block_early(folder):
    from sgdlab.findings import citations

    (folder / "01_x" / citations.FILE).write_text("@misc{x,\n  note = {```\n<script>alert(1)</script>}\n}\n")
    md = report.write(folder, "quick")[0].read_text()
    assert "````bibtex\n@misc{x,\n  note = {```\n<script>alert(1)</script>}\n}\n````" in md
