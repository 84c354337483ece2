"""The first run, timed: what a newcomer's ``make book`` costs, by stage (install, the smoke grid,
the report, the book build) and per run of the grid (its methods' own time and the overhead
around them: kernel start, imports, data, metrics, figures), with the machine's CPU model.

    python benchmarks/first_run.py            # a fresh clone of HEAD, as a newcomer and CI start
    python benchmarks/first_run.py --tree     # the current tree and its .venv (no install stage)
    python benchmarks/first_run.py --tests    # also the test suite, with its 15 slowest tests

A fresh clone gets its own virtual environment (``make``'s install step) and an empty checkpoint
cache, so every model trains; ``--tree`` keeps the tree's ``.venv`` but still starts from an
empty cache and an empty ``results/smoke``. The stages run through ``make``, as a newcomer's
``make book`` runs them: the grid (``make grid``), then the report and the book build (``make
book``, which finds the grid done), so the grid's time is its own.
Numbers depend on the machine: compare runs made on the same one.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path, env: dict, log: Path, last: bool = False) -> float:
    """Run ``command`` (no shell) in ``cwd``, its output appended to ``log``; its wall seconds.
    A failing stage ends the benchmark with the end of its log; the ``last`` stage (the tests)
    prints that end and returns, so the stages before it still get their table."""
    start = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        message = f"{' '.join(command)} failed ({done.returncode}); the end of {log}:\n{tail}"
        if not last:
            sys.exit(message)
        print(message + "\n")
    return seconds


def per_run(results: Path) -> pd.DataFrame:
    """One row per finished run under ``results/smoke``: its wall time (``run.json``), its
    methods' own time (the ``seconds`` of each method in ``results.csv``) and the difference."""
    rows = []
    for record in sorted(results.glob("*/*/run.json")):
        folder = record.parent
        frame = pd.read_csv(folder / "results.csv")
        methods = frame.drop_duplicates("label")["seconds"].sum() if "seconds" in frame else 0.0
        wall = float(json.loads(record.read_text()).get("seconds", float("nan")))
        rows.append({"run": f"{folder.parent.name}/{folder.name}", "wall_s": wall,
                     "methods_s": float(methods), "overhead_s": wall - float(methods)})
    return pd.DataFrame(rows, columns=["run", "wall_s", "methods_s", "overhead_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="store_true",
                        help="time the current tree and its .venv instead of a fresh clone")
    parser.add_argument("--tests", action="store_true",
                        help="also run the test suite (make test) with its slowest tests")
    parser.add_argument("--keep", action="store_true", help="keep the fresh clone afterwards")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="first-run-"))
    log = scratch / "first_run.log"
    env = {**os.environ, "UNLEARNBOOK_CACHE": str(scratch / "cache"),
           "UNLEARNBOOK_PROGRESS": "0"}
    stages: list[tuple[str, float]] = []
    if args.tree:
        tree = ROOT
        shutil.rmtree(tree / "results" / "smoke", ignore_errors=True)
    else:
        tree = scratch / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(tree)], check=True)
        stages.append(("install (make's .venv)", timed(["make", "-s", ".venv/bin/unlearnbook"],
                                                     tree, env, log)))
    python = tree / ".venv" / "bin" / "python"
    # through make, as a newcomer runs it: make sets the byte-code cache (without it every run's
    # kernel recompiles torch at import) and the grid's worker count
    stages.append(("smoke grid (make grid)", timed(["make", "-s", "grid", "PROFILE=smoke"],
                                                   tree, env, log)))
    stages.append(("report and book build (make book, the grid done)",
                   timed(["make", "-s", "book", "PROFILE=smoke"], tree, env, log)))
    if args.tests:
        stages.append(("tests (make test)", timed(["make", "-s", "test"], tree, env, log,
                                                  last=True)))
    cpu = subprocess.run([str(python), "-c", "from unlearnbook.train import machine; "
                          "from unlearnbook.device import cpu_bf16_native as bf16; "
                          "print(machine(), 'with' if bf16() else 'without', 'native bf16')"],
                         capture_output=True, text=True, env=env).stdout.strip()

    print(f"first run on {cpu} ({'the current tree' if args.tree else 'a fresh clone'}); "
          f"log: {log}")
    table = pd.DataFrame(stages, columns=["stage", "seconds"])
    total = table["seconds"].sum()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.0f}"))
    print(f"total: {total:.0f} s ({total / 60:.1f} min)\n")
    runs = per_run(tree / "results" / "smoke")
    if not runs.empty:
        print(runs.sort_values("wall_s", ascending=False).to_string(
            index=False, float_format=lambda v: f"{v:.0f}"))
        print(f"{len(runs)} runs: methods {runs['methods_s'].sum():.0f} s, overhead "
              f"{runs['overhead_s'].sum():.0f} s (sums over runs; 2 run at once)")
    if args.tests:
        durations = [line for line in log.read_text().splitlines()
                     if line.strip() and line.split()[0].endswith("s")
                     and (" call " in line or " setup " in line)]
        print("\nslowest tests:\n" + "\n".join(durations[:15]))
    if not args.keep and not args.tree:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    main()
