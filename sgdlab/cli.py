"""The ``sgdlab`` command line: ``sgdlab reproduce``, ``sgdlab sweep`` and ``sgdlab list``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from sgdlab import __version__, notebooks, report, reproduce


def _print_outcomes(outcomes: list[report.Outcome], wall_time_s: float) -> int:
    for o in outcomes:
        status = "ok" if o.ok else f"FAILED{' - ' + o.execution.error if o.execution.error else ''}"
        verdicts = ", ".join(f"{c.id} {c.verdict}" for c in o.claims)
        folder = Path(o.execution.output_dir).name  # a sweep's point, e.g. seed=1,lr=0.1
        label = o.name if folder == o.name else f"{o.name} ({folder})"
        print(f"{label}: {status} ({o.execution.wall_time_s:.0f} s)" + (f"; {verdicts}" if verdicts else ""))
    print(report.summary(outcomes, wall_time_s))
    return 0 if all(o.ok for o in outcomes) else 1


def _reproduce(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    outcomes = reproduce.reproduce(args.profile, args.only, args.out, executor=args.executor, jobs=args.jobs,
                                   notebooks_dir=args.notebooks)
    print(f"index: {reproduce.report_folder(args.profile, args.out) / 'index.html'} (and index.md)")
    return _print_outcomes(outcomes, time.perf_counter() - start)


def _sweep(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    grid = {name: [yaml.safe_load(v) for v in values] for name, *values in args.parameter}
    outcomes = reproduce.sweep(args.notebook, grid, args.out, executor=args.executor, jobs=args.jobs,
                               notebooks_dir=args.notebooks)
    return _print_outcomes(outcomes, time.perf_counter() - start)


def _list(args: argparse.Namespace) -> int:
    for nb in notebooks.find(folder=args.notebooks):
        print(f"{nb.stem}  {nb}")
    return 0


def _notebooks_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebooks", type=Path, metavar="DIR",
                        help="folder of the notebooks (default: notebooks/ of a checkout, else those installed)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", metavar="NAME",
                        help="where runs go: local (default), dask://HOST:PORT, submitit[:FOLDER]")
    parser.add_argument("--jobs", type=int, metavar="N", help="local worker processes (default: one per core)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder")
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
    swp.add_argument("-p", "--parameter", nargs="+", action="append", required=True, metavar=("NAME", "VALUE"),
                     help="a parameter and its values (YAML/JSON literals, as papermill's -p); repeat per parameter")
    _common(swp)
    swp.set_defaults(handler=_sweep)
    lst = commands.add_parser("list", help="the finding notebooks and where they are")
    _notebooks_option(lst)
    lst.set_defaults(handler=_list)
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep" and any(len(p) < 2 for p in args.parameter):
            raise ValueError("-p takes a parameter name and at least one value")
        return args.handler(args)
    except (ValueError, yaml.YAMLError) as exc:
        print(f"sgdlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
