"""Figures: PNG and PDF with provenance, a caption sidecar, and byte-stable PDFs."""

from __future__ import annotations

import json

import matplotlib
import pytest

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


def test_no_local_path_in_any_saved_file(tmp_path):
    out = tmp_path / "a-local-output-folder"
    fig = draw()
    plots.save(fig, "figure", out, "00_test", {"seed": 0, "output_dir": str(out)})
    plt.close(fig)
    for file in out.iterdir():
        assert b"a-local-output-folder" not in file.read_bytes(), file.name


def test_figures_are_drawn_at_print_width():
    plots.use_style()
    for width, inches in (("column", plots.COLUMN), ("page", plots.PAGE)):
        fig, axes = plots.figure(2, 3, width=width, aspect=0.5)
        assert axes.shape == (2, 3)
        assert tuple(fig.get_size_inches()) == (inches, inches / 3 * 0.5 * 2)
        plt.close(fig)
    with pytest.raises(ValueError, match="width"):
        plots.figure(width="poster")


def test_continuous_key_colours_each_value_on_its_scale():
    plots.use_style()
    fig, ax = plots.figure(width="column")
    colours = plots.continuous_key(fig, ax, [0.01, 0.1, 1.0], r"learning rate $\eta$")
    bar = fig.axes[-1]
    assert len(fig.axes) == 2 and bar.get_ylabel() == r"learning rate $\eta$"
    assert len(colours) == 3 and len(set(colours)) == 3
    # a log scale: 0.1 sits half-way between 0.01 and 1 in colour, as viridis's middle
    assert colours[1] == pytest.approx(matplotlib.colormaps["viridis"](0.5), abs=0.01)
    plt.close(fig)


def test_curves_label_axes_in_words():
    import numpy as np
    import xarray as xr
    plots.use_style()
    ds = xr.Dataset({"train_loss": (("lr", "epoch"), np.ones((2, 3)))}, coords={"lr": [0.1, 0.2], "epoch": [0, 1, 2]})
    fig, ax = plots.figure(width="column")
    plots.curves(ax, ds, "train_loss", "lr", label=r"$\eta$", colors=["k", "r"])
    assert ax.get_ylabel() == "training loss" and ax.get_legend() is None
    plt.close(fig)


def test_distinct_colours_differ_and_refuse_none():
    colours = plots.distinct_colours(12)
    assert len(colours) == 12 and len(set(colours)) == 12
    assert plots.distinct_colours(3) == colours[:3]
    with pytest.raises(ValueError, match="n must"):
        plots.distinct_colours(0)


def test_sharpness_at_edge_draws_the_edge_at_two_over_eta():
    plots.use_style()
    fig, ax = plots.figure(width="column")
    plots.sharpness_at_edge(ax, [0, 10, 20], [1.0, 3.0, 4.1], 0.5, "C0", label="x")
    curve, edge = ax.get_lines()
    assert list(curve.get_ydata()) == [1.0, 3.0, 4.1]
    assert list(edge.get_ydata()) == [4.0, 4.0] and edge.get_linestyle() == "--"
    plt.close(fig)


def test_plain_log_writes_ticks_as_plain_numbers():
    plots.use_style()
    fig, ax = plots.figure(width="column")
    ax.plot([1, 2], [0.2, 0.6])
    plots.plain_log(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels() if t.get_text()]
    assert ax.get_yscale() == "log" and "0.3" in labels and not any("e" in s or "times" in s for s in labels)
    with pytest.raises(ValueError, match="axis"):
        plots.plain_log(ax, "z")
    plt.close(fig)


def test_continuous_key_ticks_read_at_two_significant_digits():
    plots.use_style()
    fig, ax = plots.figure(width="column")
    plots.continuous_key(fig, ax, [1 / 640, 1 / 80, 32.0, 1024.0], "key")
    labels = [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    assert labels == ["0.0016", "0.013", "32", "1024"]
    plt.close(fig)


def test_continuous_key_of_a_single_value_colours_it():
    plots.use_style()
    for value, log in ((0.1, True), (-2.0, False), (0.0, False)):
        fig, ax = plots.figure(width="column")
        assert len(plots.continuous_key(fig, ax, [value], "key", log=log)) == 1
        plt.close(fig)
