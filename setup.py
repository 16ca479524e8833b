"""Build hook: the finding notebooks ship inside the package, as ``sgdlab/_notebooks/NN_name.ipynb``.

The repository keeps them in ``notebooks/`` (where users open them); every other setting is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithNotebooks(build_py):
    """``build_py`` that also copies ``notebooks/NN_name.ipynb`` into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "sgdlab" / "_notebooks"
        self.mkpath(str(target))
        for notebook in sorted(Path(__file__).parent.glob("notebooks/[0-9][0-9]_*.ipynb")):
            self.copy_file(str(notebook), str(target / notebook.name))


setup(cmdclass={"build_py": BuildWithNotebooks})
