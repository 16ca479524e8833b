"""The house figure style, and figures saved as PNG and PDF with their provenance.

Figures are drawn at the size they are printed: :data:`COLUMN` (one column of a two-column paper) or
:data:`PAGE` (the text width) inches wide, 8-point text, mathtext for symbols, constrained layout, and a
colourbar (not a legend) for a continuous key such as η or S.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from sgdlab.training import run_cache

COLUMN = 3.4
"""Inches: one column of a two-column paper."""
PAGE = 7.0
"""Inches: the text width of a page."""
WIDTHS = {"column": COLUMN, "page": PAGE}
UNSAVED_PARAMETERS = ("output_dir",)
"""Parameters left out of a figure's provenance: a local path says nothing about the figure."""


def use_style() -> None:
    """Seaborn's paper style on a white grid, colour-blind-safe palette, print-size fonts, constrained layout."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({
        "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
        "legend.fontsize": 7, "legend.title_fontsize": 7, "figure.titlesize": 9, "lines.linewidth": 1.2,
        "lines.markersize": 4, "mathtext.fontset": "dejavusans", "figure.constrained_layout.use": True,
        "figure.dpi": 110, "savefig.dpi": 300, "savefig.bbox": "standard", "pdf.compression": 6,
    })


def figure(nrows: int = 1, ncols: int = 1, *, width: str = "page", aspect: float = 0.75,
           **subplots: object) -> tuple[plt.Figure, np.ndarray | plt.Axes]:
    """``plt.subplots`` at print size: ``width`` is ``"column"`` or ``"page"``; each panel is ``aspect``
    times as tall as it is wide. Other keywords (``sharex``, ``squeeze``, …) go to ``plt.subplots``."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {sorted(WIDTHS)}, got {width!r}")
    inches = WIDTHS[width]
    return plt.subplots(nrows, ncols, figsize=(inches, inches / ncols * aspect * nrows), layout="constrained",
                        **subplots)


def continuous_key(fig: plt.Figure, ax: plt.Axes | Sequence[plt.Axes], values: Sequence[float], label: str, *,
                   log: bool = True, cmap: str = "viridis") -> list[tuple[float, float, float, float]]:
    """A colourbar for ``values`` beside ``ax`` (one axes or several) labelled ``label``; the colour of
    each value, in order. ``log`` places the colours on a logarithmic scale (η, S, β grids)."""
    values = np.asarray(values, dtype=float)
    norm_type = mpl.colors.LogNorm if log and (values > 0).all() else mpl.colors.Normalize
    low, high = values.min(), values.max()
    if high == low:  # a single value: a scale around it
        low, high = (low / 2, high * 2) if norm_type is mpl.colors.LogNorm else (low - 1, high + 1)
    mappable = mpl.cm.ScalarMappable(norm=norm_type(low, high), cmap=cmap)
    bar = fig.colorbar(mappable, ax=ax, label=label, aspect=30, pad=0.02)
    bar.set_ticks(values)
    bar.set_ticklabels([f"{v:.0f}" if float(v).is_integer() else f"{v:.2g}" for v in values])
    bar.minorticks_off()
    return [mappable.to_rgba(v) for v in values]


FIGURE_SUFFIX = ".figure.json"


def save(fig: plt.Figure, name: str, output_dir: str | Path, notebook: str, parameters: Mapping | None = None,
         caption: str = "") -> Path:
    """Save ``fig`` as ``<output_dir>/<name>.png`` and ``.pdf`` with provenance metadata, and its caption.

    ``<name>.figure.json`` records the caption (the figure's title when none is given), the source
    notebook, its parameters, the sgdlab version and git commit; ``sgdlab reproduce`` shows figures
    with it. The PDF carries no creation date, so re-running the same notebook gives the same bytes.
    Returns the PNG's path.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    prov = run_cache.provenance()
    parameters = {k: parameters[k] for k in sorted(parameters or {}) if k not in UNSAVED_PARAMETERS}
    description = (
        f"notebook={notebook}; parameters={parameters}; "
        f"sgdlab={prov['version_sgdlab']}; commit={prov['git_commit']}"
    )
    fig.savefig(out / f"{name}.pdf", metadata={"Title": name, "Subject": description, "Creator": "sgdlab",
                                                "Producer": None, "CreationDate": None})
    png = out / f"{name}.png"
    fig.savefig(png, metadata={"Title": name, "Description": description, "Software": "sgdlab"})
    sidecar = {"name": name, "caption": caption or _title(fig), "notebook": notebook, "parameters": parameters,
               "png": png.name, "pdf": f"{name}.pdf", "sgdlab": prov["version_sgdlab"],
               "git_commit": prov["git_commit"]}
    (out / f"{name}{FIGURE_SUFFIX}").write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
    return png


def _title(fig: plt.Figure) -> str:
    """The figure's suptitle, else its first axes title, else empty."""
    return fig.get_suptitle() or next((ax.get_title() for ax in fig.axes if ax.get_title()), "")


LABELS = {"train_loss": "training loss", "test_loss": "test loss", "train_acc": "training accuracy",
          "test_acc": "test accuracy", "distance_from_init": "distance from initialisation $\\|\\theta-\\theta_0\\|$",
          "epoch": "epoch"}
"""Axis labels in words for the run variables."""


def label_of(var: str, eig: int | None = None) -> str:
    """``var``'s axis label: words from :data:`LABELS`, ``$\\lambda_k$`` for eigenvalue ``k``, else ``var``."""
    return f"$\\lambda_{{{eig}}}$" if eig is not None else LABELS.get(var, var)


def curves(ax: plt.Axes, ds, var: str, over: str, *, eig: int | None = None, label: str | None = None,
           log_epochs: bool = True, colors: Sequence | None = None) -> None:
    """One line per value of ``over`` (a combined grid's dim) of ``ds[var]`` against epochs.

    ``eig`` selects an eigenvalue index for ``lambda``-like variables. With ``log_epochs`` the
    epoch axis is linear below the first measurement after 0 and logarithmic above, as in the paper.
    ``colors`` (one per value of ``over``, e.g. from :func:`continuous_key`) replaces the legend;
    without it the lines are keyed in a legend as ``label=value``.
    """
    data = ds[var] if eig is None else ds[var].sel(eig=eig)
    palette = colors if colors is not None else sns.color_palette("viridis", data.sizes[over])
    for color, value in zip(palette, data[over].values):
        line = data.sel({over: value}).dropna("epoch")
        ax.plot(line.epoch, line, color=color, label=f"{label or over}$={value:g}$")
    if log_epochs:
        first = float(data.epoch.where(data.epoch > 0).min())
        ax.set_xscale("symlog", linthresh=first)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label_of(var, eig))
    if colors is None:
        ax.legend(frameon=False)


DISTINCT_ORDER = (0, 1, 2, 4, 9, 7, 3, 8, 5, 6)
"""The colour-blind palette reordered so that the first colours differ most (its orange and vermillion apart)."""


def distinct_colours(n: int) -> list[tuple[float, float, float]]:
    """``n`` colours told apart in print and by colour-blind readers: seaborn's colour-blind palette
    (10 colours), then ``tab20`` beyond it, for discrete keys (methods, settings) drawn together."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    colorblind = sns.color_palette("colorblind", 10)
    palette = [colorblind[i] for i in DISTINCT_ORDER]
    return (palette + sns.color_palette("tab20", 20))[:n] if n > 10 else palette[:n]


def sharpness_at_edge(ax: plt.Axes, steps: Sequence[float], sharpness: Sequence[float], lr: float,
                      color, *, label: str | None = None) -> None:
    """λ₁ against the step (dots joined by a line, labelled ``label``) and its edge of stability
    :math:`2/\\eta` as a dashed line of the same colour."""
    ax.plot(steps, sharpness, color=color, marker=".", markersize=3, lw=0.8, label=label)
    ax.axhline(2 / lr, color=color, ls="--", lw=0.9)


def plain_log(ax: plt.Axes, axis: str = "y") -> None:
    """A logarithmic ``axis`` ("x" or "y") with ticks as plain numbers (0.3, not :math:`3\\times10^{-1}`);
    the minor ticks are labelled only where the axis spans less than two decades."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    target.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


class _PlainLogFormatter(mpl.ticker.LogFormatter):
    """Matplotlib's choice of which log ticks to label, each written as ``%g``."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"
