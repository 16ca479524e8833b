"""Build-time pages of the documentation site (an MkDocs hook, named in mkdocs.yml).

- **API reference**: one page per subpackage of ``sgdlab``, listing each of its modules for mkdocstrings,
  so a new module appears without editing the site;
- **Gallery**: the finding notebooks as committed (with the outputs of their default run), rendered by
  mkdocs-jupyter without executing them;
- the changelog, from ``CHANGELOG.md`` at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("core", "curvature", "task", "theory", "optim", "measure", "training", "grid", "findings",
               "reproduction")


def notebooks() -> list[Path]:
    """The committed finding notebooks, in order."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def modules(subpackage: str) -> list[str]:
    """The public modules of ``sgdlab.<subpackage>``, dotted, in file order."""
    folder = ROOT / "sgdlab" / subpackage
    return [f"sgdlab.{subpackage}.{p.stem}" for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")]


def api_page(subpackage: str) -> str:
    """The Markdown of one API page: the subpackage's docstring, then each module's members."""
    lines = [f"# `sgdlab.{subpackage}`", "", f"::: sgdlab.{subpackage}", "    options:",
             "      show_root_heading: false", "      members: false", ""]
    for module in modules(subpackage):
        lines += [f"::: {module}", ""]
    return "\n".join(lines)


def on_config(config):
    """The API pages and the gallery in the navigation, after the hand-written pages."""
    api = [{f"sgdlab.{name}": f"api/{name}.md"} for name in SUBPACKAGES]
    gallery = [{nb.stem: f"notebooks/{nb.name}"} for nb in notebooks()]
    config["nav"] += [{"Gallery": gallery}, {"API reference": api}]
    return config


@event_priority(100)  # before mkdocs-jupyter, which turns the notebooks added here into pages
def on_files(files: Files, config) -> Files:
    for name in SUBPACKAGES:
        files.append(File.generated(config, f"api/{name}.md", content=api_page(name)))
    for nb in notebooks():
        files.append(File(f"notebooks/{nb.name}", src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    files.append(File.generated(config, "changelog.md", content=(ROOT / "CHANGELOG.md").read_text()))
    return files
