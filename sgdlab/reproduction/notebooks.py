"""The finding notebooks: finding them by name, checking parameters, executing them with papermill."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sgdlab.core import paths

_PACKAGE = Path(__file__).resolve().parent.parent  # the sgdlab package folder
STATUS_FILE = "status.json"
KERNEL_LOG = "kernel.log"  # the kernel process's own standard error, kept only when it is not empty


def default_folder() -> Path:
    """Where the finding notebooks are: ``notebooks/`` of this checkout, else those shipped in the package."""
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "notebooks"
    return _PACKAGE / "_notebooks"  # an installed wheel: copied there by the build (setup.py)


def find(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The finding notebooks (``NN_name.ipynb``) in order; ``only`` selects by name or number (``01``).

    folder: default :func:`default_folder`.
    """
    folder = Path(folder or default_folder())
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise ValueError(f"no notebooks (NN_name.ipynb) in {folder}")
    if not only:
        return found

    def matches(nb: Path, name: str) -> bool:
        return name in (nb.stem, nb.name) or nb.stem.startswith(f"{name}_")

    unknown = [name for name in only if not any(matches(nb, name) for nb in found)]
    if unknown:
        raise ValueError(f"unknown notebook(s) {', '.join(unknown)}; choose from: {', '.join(nb.stem for nb in found)}")
    return [nb for nb in found if any(matches(nb, name) for name in only)]


def declared_parameters(notebook: Path) -> list[str]:
    """The parameters papermill finds in ``notebook``'s cell tagged ``parameters``, in order.

    Raises ValueError naming the file when it is not a readable notebook (not JSON, not nbformat 4).
    """
    import papermill

    try:
        with quiet_papermill():
            return list(papermill.inspect_notebook(str(notebook)))
    except Exception as exc:  # nbformat and json raise several kinds; all mean the file is unreadable
        raise ValueError(f"{notebook} is not a readable notebook ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None


def check_parameters(notebook: Path, parameters: Mapping[str, Any]) -> None:
    """Raise ValueError when ``notebook`` does not declare one of ``parameters`` or a profile is unknown."""
    declared = declared_parameters(notebook)
    undeclared = sorted(set(parameters) - set(declared))
    if undeclared:
        raise ValueError(f"{notebook.stem} has no parameter {', '.join(undeclared)}; "
                         f"its parameters: {', '.join(declared) or 'none'}")
    if "profile" in parameters:
        from sgdlab.findings import profiles  # loads the findings' machinery: not needed to list notebooks

        profiles.check(parameters["profile"])


@dataclass(frozen=True)
class Execution:
    """One executed notebook: where it ran, with which parameters, how long, and its error if it raised."""

    notebook: str
    output_dir: str
    parameters: dict[str, Any]
    wall_time_s: float
    error: str | None


def execute(notebook: Path, output_dir: Path, parameters: Mapping[str, Any]) -> Execution:
    """Execute ``notebook`` into ``output_dir/<notebook>`` with ``parameters`` (plus ``output_dir``).

    The kernel is ``python3``, working in the notebook's own folder. ``output_dir`` is emptied first,
    so nothing in it is left from an earlier execution; ``status.json`` records the outcome. An
    error in the notebook is recorded (``Type: message``, with the cell), not raised. papermill's own
    log (its parsing warnings, the kernel's start) is kept quiet; errors still reach the record.

    After the last cell the kernel's process group is killed at once (nbclient's immediate shutdown):
    every output is in the notebook by then, and ipykernel's graceful shutdown races its own I/O
    thread, writing a spurious traceback to ``kernel.log`` at random.
    """
    import papermill

    output_dir = Path(output_dir).resolve()
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    parameters = {**parameters, "output_dir": str(output_dir)}
    paths.data_dir()  # a relative $SGDLAB_DATA made absolute in the environment the kernel inherits
    start, error = time.perf_counter(), None
    try:
        with _kernel_settings() as settings, quiet_papermill():
            papermill.execute_notebook(
                str(notebook), str(output_dir / notebook.name), parameters=parameters, kernel_name="python3",
                cwd=str(notebook.resolve().parent), progress_bar=False,
                kernel_manager_class=_kernel_writing_stderr_to(output_dir / KERNEL_LOG),
                shutdown_kernel="immediate", **settings,
            )
    except papermill.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    except Exception as exc:  # a kernel that died or could not start: recorded like an error in a cell
        error = f"{type(exc).__name__}: {exc}"
    if (output_dir / KERNEL_LOG).exists() and (output_dir / KERNEL_LOG).stat().st_size == 0:
        (output_dir / KERNEL_LOG).unlink()
    execution = Execution(notebook.stem, str(output_dir), parameters, time.perf_counter() - start, error)
    (output_dir / STATUS_FILE).write_text(json.dumps(asdict(execution), indent=2, default=str) + "\n")
    return execution


@contextmanager
def quiet_papermill() -> Iterator[None]:
    """papermill's and jupyter's loggers raised to ERROR: no "Unable to parse line" warnings or kernel chatter."""
    loggers = [logging.getLogger(name) for name in _CHATTY]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


_CHATTY = ("papermill", "traitlets", "jupyter_client", "nbclient", "asyncio")


def _kernel_writing_stderr_to(path: Path) -> type:
    """A jupyter kernel manager whose kernel process writes its own standard error to ``path``: what a cell
    prints reaches the notebook either way, but messages of the process itself (a crash, crashes of
    worker processes it started) go to the log, not the terminal."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelWithLog(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with open(path, "ab") as log:
                await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": log})

    return KernelWithLog


@contextmanager
def _kernel_settings() -> Iterator[dict[str, Any]]:
    """papermill settings that reach the kernel over Unix sockets (IPC) in a private temporary folder.

    ipykernel's own advice for local kernels: nothing listens on TCP, where its messages would travel
    unencrypted (and every kernel would print a warning saying so). Where Unix sockets are missing
    (Windows), the kernel keeps jupyter's TCP default.
    """
    if os.name != "posix":
        yield {}
        return
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="sgdlab-kernel-") as folder:
        yield {"config": Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})}


@contextmanager
def cluster_environment(executor: str | None, jobs: int | None) -> Iterator[None]:
    """Point the kernels' :func:`sgdlab.run_grid` at ``executor`` with ``jobs`` workers, through the environment."""
    from sgdlab.grid import executors

    changes = {executors.ENV_EXECUTOR: executor, executors.ENV_JOBS: None if jobs is None else str(jobs)}
    previous = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is not None:
                os.environ[name] = value
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
