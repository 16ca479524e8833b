"""The ``sgdlab`` command line: ``sgdlab reproduce``, ``sgdlab sweep``, ``sgdlab list`` and ``sgdlab show``.

Only the standard library is imported before the arguments are read; torch, papermill and the rest load
inside the commands that use them, so ``--help``, ``--version``, ``list`` and ``show`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sgdlab.version import __version__

if TYPE_CHECKING:
    from sgdlab.reproduction.index import Outcome


def _print_outcomes(outcomes: list[Outcome], wall_time_s: float) -> int:
    from sgdlab.reproduction import index as report

    for o in outcomes:
        status = "ok" if o.ok else f"FAILED{' - ' + o.execution.error if o.execution.error else ''}"
        verdicts = ", ".join(f"{c.id} {c.verdict}" for c in o.claims)
        folder = Path(o.execution.output_dir).name  # a sweep's point, e.g. seed=1,lr=0.1
        label = o.name if folder == o.name else f"{o.name} ({folder})"
        print(f"{label}: {status} ({o.execution.wall_time_s:.0f} s)" + (f"; {verdicts}" if verdicts else ""))
    print(report.summary(outcomes, wall_time_s))
    return 0 if all(o.ok for o in outcomes) else 1


def _reproduce(args: argparse.Namespace) -> int:
    from sgdlab.reproduction import reproduce

    start = time.perf_counter()
    outcomes = reproduce.reproduce(args.profile, args.only, args.out, executor=args.executor, jobs=args.jobs,
                                   notebooks_dir=args.notebooks, smoke=args.smoke)
    print(f"index: {reproduce.report_folder(args.profile, args.out, args.smoke) / 'index.html'} (and index.md)")
    return _print_outcomes(outcomes, time.perf_counter() - start)


def papermill_value(text: str) -> Any:
    """``text`` read as papermill's ``-p`` reads it: ``True``, ``False``, ``None``, an int, a float, else the text."""
    if text in _PAPERMILL_CONSTANTS:
        return _PAPERMILL_CONSTANTS[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


_PAPERMILL_CONSTANTS = {"True": True, "False": False, "None": None}


def sweep_grid(parameters: list[list[str]], yaml_mappings: list[str]) -> dict[str, list[Any]]:
    """The grid of ``sgdlab sweep``: each ``-p NAME VALUE...`` and each key of each ``-y`` mapping adds values.

    ``-p`` values are read as papermill's ``-p`` reads them (:func:`papermill_value`); ``-y`` takes a
    YAML mapping, read as papermill's ``-y`` reads it, and adds one value per key, so lists are given there.
    """
    grid: dict[str, list[Any]] = {}
    for name, *values in parameters:
        grid.setdefault(name, []).extend(map(papermill_value, values))
    for text in yaml_mappings:
        import yaml
        from papermill.iorw import NoDatesSafeLoader  # papermill takes seconds to load: only for -y

        mapping = yaml.load(text, Loader=NoDatesSafeLoader) or {}
        if not isinstance(mapping, dict):
            raise ValueError(  # noqa: TRY004 (bad command-line input is a ValueError, printed in one line)
                f"-y takes a YAML mapping of parameters, e.g. 'learning_rates: [0.1, 0.2]'; got {text!r}")
        for name, value in mapping.items():
            grid.setdefault(str(name), []).append(value)
    return grid


def _sweep(args: argparse.Namespace) -> int:
    from sgdlab.reproduction import reproduce

    start = time.perf_counter()
    grid = sweep_grid(args.parameter or [], args.yaml or [])
    outcomes = reproduce.sweep(args.notebook, grid, args.out, executor=args.executor, jobs=args.jobs,
                               notebooks_dir=args.notebooks, smoke=args.smoke)
    return _print_outcomes(outcomes, time.perf_counter() - start)


def _list(args: argparse.Namespace) -> int:
    from sgdlab.reproduction import notebooks

    for nb in notebooks.find(folder=args.notebooks):
        print(f"{nb.stem}  {nb}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from sgdlab.reproduction import notebooks, parameters

    (nb,) = notebooks.find([args.notebook], args.notebooks)
    print(parameters.table(nb, args.profile))
    return 0


def _notebooks_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebooks", type=Path, metavar="DIR",
                        help="folder of the notebooks (default: notebooks/ of a checkout, else those installed)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", metavar="NAME",
                        help="where runs go: local (default), dask://HOST:PORT, submitit[:FOLDER]")
    parser.add_argument("--jobs", type=int, metavar="N", help="local worker processes (default: one per core)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--smoke", action="store_true",
                        help="the profile's path at tiny sizes (FakeData for the paper profile's image datasets), "
                             "to prove it runs; runs kept apart, verdicts not meaningful")
    _notebooks_option(parser)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sgdlab`` console script."""
    parser = argparse.ArgumentParser(prog="sgdlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sgdlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("reproduce", help="run every finding notebook, check its claims, write an index")
    rep.add_argument("--profile", default="quick", help="quick (default; CPU) or paper (GPU)")
    rep.add_argument("--only", nargs="+", metavar="NAME", help="notebooks by name or number, e.g. 01")
    _common(rep)
    rep.set_defaults(handler=_reproduce)
    swp = commands.add_parser("sweep", help="run one notebook at every point of a parameter grid")
    swp.add_argument("notebook", help="notebook by name or number, e.g. 01")
    swp.add_argument("-p", "--parameter", nargs="+", action="append", metavar=("NAME", "VALUE"),
                     help="a parameter and its values, read as papermill's -p reads them (True/False/None, numbers, "
                          "else text); repeat per parameter")
    swp.add_argument("-y", "--yaml", action="append", metavar="MAPPING",
                     help="a YAML mapping of parameters, one value each (e.g. lists), as papermill's -y; repeat "
                          "for more values of one parameter")
    _common(swp)
    swp.set_defaults(handler=_sweep)
    lst = commands.add_parser("list", help="the finding notebooks and where they are")
    _notebooks_option(lst)
    lst.set_defaults(handler=_list)
    shw = commands.add_parser("show", help="a notebook's parameters: type, value in its cell, value at a profile")
    shw.add_argument("notebook", help="notebook by name or number, e.g. 07")
    shw.add_argument("--profile", default="quick", help="quick (default) or paper")
    _notebooks_option(shw)
    shw.set_defaults(handler=_show)
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep" and any(len(p) < 2 for p in args.parameter or []):
            raise ValueError("-p takes a parameter name and at least one value")
        if args.command == "sweep" and not (args.parameter or args.yaml):
            raise ValueError("give the grid with -p NAME VALUE... or -y MAPPING")
        return args.handler(args)
    except (ValueError, _yaml_error()) as exc:
        print(f"sgdlab: error: {exc}", file=sys.stderr)
        return 2


def _yaml_error() -> type[Exception]:
    """PyYAML's error class where PyYAML is already loaded (only ``sweep -y`` loads it), else ValueError."""
    yaml = sys.modules.get("yaml")
    return yaml.YAMLError if yaml is not None else ValueError


if __name__ == "__main__":
    sys.exit(main())
