"""Laptop budget of the course assignments: wall time of each completed student notebook, run top
to bottom as the grader runs it (``otter run``: a fresh kernel, every cell, every test), from an
empty checkpoint cache (so it includes training the original model and the oracle on digits).

    python benchmarks/assignments.py [--threads 2]

The goal (issue 30): under 5 minutes each on 2 CPU cores, no download.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the kernels")
    parser.add_argument("--names", default="all", help="comma-separated assignments, or all")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from unlearnbook import teaching

    names = teaching.ASSIGNMENTS if args.names == "all" else args.names.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["UNLEARNBOOK_CACHE"] = str(Path(scratch) / "cache")  # cold: trains everything
        built = teaching.build(ROOT / "assignments", Path(scratch) / "dist", names,
                               run_tests=False)
        print(f"{'assignment':<10} {'seconds':>8} {'score':>10}   ({args.threads} threads, "
              "cold cache)")
        for assignment in built:
            start = time.perf_counter()
            table = teaching.grade(assignment.solution, assignment.autograder)
            seconds = time.perf_counter() - start
            row = table.iloc[0]
            print(f"{assignment.name:<10} {seconds:8.1f} {row['total']:>5g}/"
                  f"{row['possible'] - row['by_hand']:<4g}")


if __name__ == "__main__":
    main()
