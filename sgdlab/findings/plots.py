"""The house figure style, and figures saved as PNG and PDF with their provenance."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns

from sgdlab.training import run_cache


def use_style() -> None:
    """Seaborn's paper context on a white grid, colour-blind-safe palette, fixed font sizes."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.2)
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight", "pdf.compression": 6})


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
    parameters = {k: parameters[k] for k in sorted(parameters or {})}
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


def curves(ax: plt.Axes, ds, var: str, over: str, *, eig: int | None = None, label: str | None = None,
           log_epochs: bool = True) -> None:
    """One line per value of ``over`` (a combined grid's dim) of ``ds[var]`` against epochs.

    ``eig`` selects an eigenvalue index for ``lambda``-like variables. With ``log_epochs`` the
    epoch axis is linear below the first measurement after 0 and logarithmic above, as in the paper.
    """
    data = ds[var] if eig is None else ds[var].sel(eig=eig)
    palette = sns.color_palette("viridis", data.sizes[over])
    for color, value in zip(palette, data[over].values):
        line = data.sel({over: value}).dropna("epoch")
        ax.plot(line.epoch, line, color=color, label=f"{label or over}={value:g}")
    if log_epochs:
        first = float(data.epoch.where(data.epoch > 0).min())
        ax.set_xscale("symlog", linthresh=first)
    ax.set_xlabel("epoch")
    ax.set_ylabel(var if eig is None else f"$\\lambda_{eig}$")
    ax.legend(frameon=False)
