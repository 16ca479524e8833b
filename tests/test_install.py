"""The package as a user installs it: a wheel (not editable) whose ``sgdlab`` finds the shipped notebooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import sgdlab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the tracked files (so the checkout gets no build folders)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ".", cwd=source)
    (built,) = out.glob("sgdlab-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel, seeing this environment's dependencies but not its sgdlab."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=env).strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch etc., no re-download
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel, cwd=env)
    return env


def test_wheel_ships_the_notebooks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n.split("/")[-1] for n in names if n.startswith("sgdlab/_notebooks/")) == NOTEBOOKS
    assert f"sgdlab-{sgdlab.__version__}.dist-info/METADATA" in names


def test_installed_command_reports_its_version_and_finds_the_notebooks_from_another_folder(installed, tmp_path):
    assert _run(installed / "bin" / "sgdlab", "--version", cwd=tmp_path).strip() == f"sgdlab {sgdlab.__version__}"
    # `sgdlab list`, then `sgdlab reproduce` with an unknown notebook, in one process (each start imports torch)
    code = ("import sys; from sgdlab.cli import main; main(['list']); "
            "print('reproduce exits', main(['reproduce', '--only', '99']), file=sys.stderr)")
    done = subprocess.run([installed / "bin" / "python", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    listed = [line.split() for line in done.stdout.splitlines()]
    assert [Path(path).name for _, path in listed] == NOTEBOOKS, done.stderr
    assert all(Path(path).is_file() and "site-packages" in path and "_notebooks" in path for _, path in listed)
    assert f"choose from: {Path(NOTEBOOKS[0]).stem}" in done.stderr and "reproduce exits 2" in done.stderr


def test_installed_command_reproduces_a_finding_in_smoke_mode_from_another_folder(installed, tmp_path):
    data = tmp_path / "data"
    done = subprocess.run([installed / "bin" / "sgdlab", "reproduce", "--only", "01", "--smoke", "--jobs", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SGDLAB_DATA": str(data)})
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1].startswith("smoke run: 1/1 notebooks reached their claims")
    report = data / "reports" / "quick-smoke"
    first = next(nb for nb in NOTEBOOKS if nb.startswith("01_")).removesuffix(".ipynb")
    assert (report / "index.html").is_file() and (report / first / "claims.json").is_file()
    assert list((data / "runs-smoke").glob("*.nc")) and not (data / "runs").exists()  # kept apart from real runs
