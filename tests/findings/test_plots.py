"""Figures: PNG and PDF with provenance, a caption sidecar, and byte-stable PDFs."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sgdlab.findings import plots  # noqa: E402


def draw() -> plt.Figure:
    plots.use_style()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1.0, 3.0, 2.0], label="λ1")
    ax.set_title("sharpness")
    ax.legend()
    return fig


def test_pdfs_are_byte_stable_across_reruns(tmp_path):
    for run in ("first", "second"):
        fig = draw()
        plots.save(fig, "figure", tmp_path / run, "00_test", {"seed": 0, "profile": "quick"}, caption="A caption.")
        plt.close(fig)
    first, second = (tmp_path / run / "figure.pdf" for run in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()
    assert b"notebook=00_test" in first.read_bytes()


def test_sidecar_records_caption_and_provenance(tmp_path):
    fig = draw()
    png = plots.save(fig, "figure", tmp_path, "00_test", {"seed": 1}, caption="λ1 along training.")
    plots.save(fig, "untitled", tmp_path, "00_test")
    plt.close(fig)
    assert png == tmp_path / "figure.png" and png.exists() and (tmp_path / "figure.pdf").exists()
    sidecar = json.loads((tmp_path / "figure.figure.json").read_text())
    assert sidecar["caption"] == "λ1 along training."
    assert sidecar["notebook"] == "00_test" and sidecar["parameters"] == {"seed": 1}
    assert sidecar["png"] == "figure.png" and sidecar["pdf"] == "figure.pdf"
    assert sidecar["git_commit"] and sidecar["sgdlab"]
    assert json.loads((tmp_path / "untitled.figure.json").read_text())["caption"] == "sharpness"  # the title
