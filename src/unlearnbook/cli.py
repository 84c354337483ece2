"""Command line: ``unlearnbook run | report | assign | grade`` (and ``job``, what Snakemake's jobs
call)."""
from __future__ import annotations

import argparse
import sys

from ._checks import UnlearnbookError


def _gpus(value: str) -> int | None:
    return None if value == "auto" else int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unlearnbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a profile's grid of notebooks (Snakemake + papermill)")
    run.add_argument("--profile", default="smoke", help="smoke, cpu, paper or a .yaml path")
    run.add_argument("--paper", default="all",
                     help="lfssd, dau, ..., a comma-separated list, or all")
    run.add_argument("--results", default="results")
    run.add_argument("--runs", default=None,
                     help="only these run ids (comma-separated, as --dry-run lists them)")
    run.add_argument("--workers", type=int, default=1,
                     help="runs at once on this machine (each gets cores/workers threads)")
    run.add_argument("--gpus", type=_gpus, default="auto",
                     help="GPUs to pack runs onto (auto: every visible one; 0: none)")
    run.add_argument("--runs-per-gpu", type=int, default=1,
                     help="runs sharing one GPU (a small ResNet cannot fill an H100 alone)")
    run.add_argument("--executor", default="local", help="local or slurm")
    run.add_argument("--slurm-profile", default=None,
                     help="a Snakemake profile folder (default: the shipped workflow/slurm)")
    run.add_argument("--target", default="runs",
                     help="runs, report (then aggregate) or book (then build the book)")
    run.add_argument("--dry-run", action="store_true",
                     help="list the runs and Snakemake's jobs; with --executor slurm, print "
                          "the sbatch submissions without a cluster")
    report = sub.add_parser("report", help="aggregate results and prepare the book")
    report.add_argument("--profile", default="smoke")
    report.add_argument("--results", default="results")
    report.add_argument("--out", default="book/generated")
    assign = sub.add_parser("assign", help="build the course assignments: student notebooks "
                                           "and autograders (Otter Assign)")
    assign.add_argument("--source", default="assignments",
                        help="the folder of instructor notebooks")
    assign.add_argument("--out", default="assignments/dist")
    assign.add_argument("--names", default="all",
                        help="lfssd, dau, sure, adaprob, a comma-separated list, or all")
    assign.add_argument("--no-run-tests", action="store_true",
                        help="skip running each solution against its tests first")
    grade = sub.add_parser("grade", help="grade a folder of submitted notebooks (Otter Run, "
                                         "no Docker)")
    grade.add_argument("submissions", help="a folder of .ipynb submissions, or one notebook")
    grade.add_argument("--autograder", required=True,
                       help="an autograder zip, or its assignment's folder under assign's --out")
    grade.add_argument("--out", default="grades.csv")
    grade.add_argument("--pdf", action="store_true",
                       help="also print each submission's written answers as a PDF beside "
                            "their Markdown file (for Gradescope; needs Chromium)")
    verdicts = sub.add_parser("verdicts", help="calibrate the claims' rules by simulation: "
                                                "the share of simulated builds per status")
    verdicts.add_argument("--simulate", required=True,
                          help="paper, original, oracle, noise, a comma-separated list, or all")
    verdicts.add_argument("--draws", type=int, default=200)
    verdicts.add_argument("--items", default="all", help="claim ids (comma-separated) or all")
    verdicts.add_argument("--format", default="table", choices=("table", "tsv"))
    verdicts.add_argument("--book", default="book",
                          help="the book folder whose reported/ holds the papers' numbers")
    job = sub.add_parser("job", help=argparse.SUPPRESS)
    job.add_argument("kind", choices=("run", "original"))
    job.add_argument("plan")
    job.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "job":
            from . import runner

            if args.kind == "run":
                runner.execute_run(args.plan, *args.names)
            else:
                runner.train_original(args.plan, *args.names)
            return 0
        if args.command == "run":
            from . import runner

            gpus = args.gpus
            if gpus is None:
                import torch

                gpus = torch.cuda.device_count() if args.executor == "local" else 0
            options = runner.GridOptions(args.executor, args.workers, gpus, args.runs_per_gpu,
                                         args.target, slurm_profile=args.slurm_profile)
            papers = None if args.paper == "all" else args.paper.split(",")
            only = args.runs.split(",") if args.runs is not None else None
            if args.dry_run and args.executor == "slurm":
                return runner.print_submissions(args.profile, papers, args.results, options,
                                                only)
            status, summary = runner.run_grid(args.profile, papers, args.results, options,
                                              args.dry_run, only)
            if summary:
                print(summary)
            return 1 if status else 0
        if args.command == "verdicts":
            from .report import verdicts as calibration

            kinds = (calibration.KINDS if args.simulate == "all"
                     else tuple(args.simulate.split(",")))
            items = None if args.items == "all" else args.items.split(",")
            table = calibration.simulation_table(kinds, args.draws, args.book, items)
            print(calibration.format_simulations(table, args.format))
            return 0
        if args.command in ("assign", "grade"):
            from . import teaching

            if args.command == "grade":
                table = teaching.grade(args.submissions, args.autograder, args.out,
                                       pdf=args.pdf)
                print(table.to_string(index=False))
                print(f"wrote {args.out}")
                return 0
            names = teaching.ASSIGNMENTS if args.names == "all" else args.names.split(",")
            for built in teaching.build(args.source, args.out, names, not args.no_run_tests):
                print(f"{built.name}: student {built.student}, autograder {built.autograder}")
            return 0
        from .report import prepare_book

        print(prepare_book(args.profile, args.results, args.out))
        return 0
    except UnlearnbookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder that cannot be written or read: one line, no traceback
        where = f" {err.filename!r}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}; allowed: a folder this user can read and "
              "write (--results, --out, the cache in UNLEARNBOOK_CACHE)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
