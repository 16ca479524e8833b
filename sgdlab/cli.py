"""The ``sgdlab`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sgdlab import reproduce


def _reproduce(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    results = reproduce.reproduce(args.profile, args.only, args.out)
    for result in results:
        verdict = "ok" if result.passed else "FAILED"
        print(f"{result.name}: {verdict} ({result.wall_time_s:.0f} s){' - ' + result.error if result.error else ''}")
    print(reproduce.summary(results, time.perf_counter() - start))
    return 0 if all(r.passed for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sgdlab`` console script."""
    parser = argparse.ArgumentParser(prog="sgdlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("reproduce", help="run every finding notebook and check its claims")
    rep.add_argument("--profile", default="quick", choices=reproduce.PROFILES)
    rep.add_argument("--only", nargs="+", metavar="NAME", help="notebooks by name or number, e.g. 01")
    rep.add_argument("--out", type=Path, help="output folder (default: data/reports/<profile>)")
    rep.set_defaults(handler=_reproduce)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:
        print(f"sgdlab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
