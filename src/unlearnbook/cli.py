"""Command line: ``unlearnbook run | report | execute``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._checks import UnlearnbookError


def _execute(notebook: str, output: str, params_file: str) -> None:
    import papermill

    params = json.loads(Path(params_file).read_text())
    papermill.execute_notebook(notebook, output, parameters=params, progress_bar=False,
                               cwd=str(Path.cwd()), kernel_name="python3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unlearnbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a profile's grid of notebooks with papermill")
    run.add_argument("--profile", default="smoke", help="smoke, cpu, paper or a .yaml path")
    run.add_argument("--paper", default="all",
                     help="lfssd, dau, ..., a comma-separated list, or all")
    run.add_argument("--results", default="results")
    run.add_argument("--runs", default=None,
                     help="only these run ids (comma-separated, as --dry-run lists them)")
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--dry-run", action="store_true")
    report = sub.add_parser("report", help="aggregate results and prepare the book")
    report.add_argument("--profile", default="smoke")
    report.add_argument("--results", default="results")
    report.add_argument("--out", default="book/generated")
    execute = sub.add_parser("execute", help=argparse.SUPPRESS)
    execute.add_argument("notebook")
    execute.add_argument("output")
    execute.add_argument("params")
    args = parser.parse_args(argv)
    try:
        if args.command == "execute":
            _execute(args.notebook, args.output, args.params)
            return 0
        if args.command == "run":
            from .runner import run_grid, summarise

            papers = None if args.paper == "all" else args.paper.split(",")
            only = args.runs.split(",") if args.runs else None
            outcomes = run_grid(args.profile, papers, args.results, args.workers, args.dry_run,
                                only)
            if outcomes:
                print(summarise(outcomes))
            return 1 if any(o.status == "failed" for o in outcomes) else 0
        from .report import prepare_book

        print(prepare_book(args.profile, args.results, args.out))
        return 0
    except UnlearnbookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
