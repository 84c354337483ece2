"""Grid runner: execute each run's paper notebook with papermill, in its own process.

A run lives in ``<results>/<profile>/<paper>/<run_id>/``. It counts as done only when its
``DONE`` marker exists; the marker is written after papermill succeeded and ``results.csv`` is
there. Reruns skip done runs; a failed run is retried once, then reported with the path of its
executed notebook. A killed run leaves no marker, so nothing reads its partial files.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ._checks import UnlearnbookError
from .io import atomic_write, write_text
from .profiles import Run, expand, load, notebook_path, papers_in

MARKER = "DONE"


@dataclass
class Outcome:
    run: Run
    status: str  # "done", "skipped" or "failed"
    seconds: float
    notebook: Path
    error: str = ""


def run_dir(results: Path, run: Run) -> Path:
    return results / run.labels["profile"] / run.paper / run.run_id


def stamp(results_csv: Path, record: dict) -> None:
    """Add the run's labels and parameters as columns of its ``results.csv`` (atomically);
    columns the notebook wrote itself (such as the seeds it used) are kept."""
    frame = pd.read_csv(results_csv)
    for key, value in record.items():
        if key not in frame:
            frame[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
    with atomic_write(results_csv) as tmp:
        frame.to_csv(tmp, index=False)


def plan(profile: str | os.PathLike, papers: list[str] | None = None,
         only: list[str] | None = None) -> list[Run]:
    """The profile's runs for ``papers`` (all when None), restricted to the run ids ``only``."""
    data = load(profile)
    wanted = papers or papers_in(data)
    runs = [run for paper in wanted for run in expand(data, paper)]
    if only is not None:
        unknown = sorted(set(only) - {run.run_id for run in runs})
        if unknown:
            raise UnlearnbookError(f"unknown run id(s) {unknown}; allowed: "
                                   f"{', '.join(run.run_id for run in runs)}")
        runs = [run for run in runs if run.run_id in only]
    return runs


def execute(run: Run, results: Path, threads: int, timeout: int | None = None) -> Outcome:
    """Run one notebook with papermill in a subprocess (retried once on failure)."""
    folder = run_dir(results, run)
    executed = folder / f"{run.paper}.ipynb"
    if (folder / MARKER).exists():
        return Outcome(run, "skipped", 0.0, executed)
    start = time.perf_counter()
    error = ""
    for _ in range(2):
        if folder.exists():
            shutil.rmtree(folder)  # a partial earlier attempt: start clean
        folder.mkdir(parents=True)
        params = {**run.parameters, "output_dir": str(folder)}
        params_file = folder / "parameters.json"
        params_file.write_text(json.dumps(params, indent=1))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "UNLEARNBOOK_PROGRESS": "0"}
        cmd = [sys.executable, "-m", "unlearnbook.cli", "execute", str(notebook_path(run.paper)),
               str(executed), str(params_file)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0 and (folder / "results.csv").exists():
            stamp(folder / "results.csv", run.record)
            write_text(folder / MARKER, f"{time.perf_counter() - start:.1f}\n")
            return Outcome(run, "done", time.perf_counter() - start, executed)
        error = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no results.csv"]
        error = error[0]
    return Outcome(run, "failed", time.perf_counter() - start, executed, error)


PROVENANCE = "provenance.json"


def commit() -> str:
    """The source tree's git commit (with ``-dirty`` when it has uncommitted changes), or
    ``unknown`` outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def record_provenance(folder: Path, wall_seconds: float, outcomes: list[Outcome],
                      papers: list[str], started_at: str) -> None:
    """Write ``provenance.json`` for one paper's latest grid: the commit it started from
    (``started_at``; commits made while it ran do not count), the machine,
    the wall time of that grid (which ran ``papers`` together), and the time of every finished
    run in ``folder`` (read from its ``DONE`` marker). A grid that only skipped done runs keeps
    the earlier record."""
    if outcomes and all(o.status == "skipped" for o in outcomes) and (folder / PROVENANCE).exists():
        return
    from .pipeline import hardware

    runs = {marker.parent.name: float(marker.read_text())
            for marker in sorted(folder.glob(f"*/{MARKER}"))}
    write_text(folder / PROVENANCE, json.dumps({
        "commit": started_at, "hardware": hardware(), "finished": time.strftime("%Y-%m-%d %H:%M"),
        "grid_wall_seconds": round(wall_seconds, 1), "grid_papers": papers,
        "run_seconds": runs}, indent=1))


def run_grid(profile: str | os.PathLike, papers: list[str] | None = None,
             results: str | os.PathLike = "results", workers: int = 1,
             dry_run: bool = False, only: list[str] | None = None) -> list[Outcome]:
    """Expand the profile and execute every run not yet done (of ``only``, when given),
    ``workers`` at a time; record each paper's provenance (:func:`record_provenance`)."""
    runs = plan(profile, papers, only)
    results = Path(results)
    if dry_run:
        for run in runs:
            done = (run_dir(results, run) / MARKER).exists()
            print(f"{'done ' if done else 'to do'}  {run.paper:8s} {run.run_id}")
        return []
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    outcomes = []
    start, started_at = time.perf_counter(), commit()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(execute, run, results, threads) for run in runs]
        for future in tqdm(as_completed(futures), total=len(futures), desc="runs"):
            outcomes.append(future.result())
    wall = time.perf_counter() - start
    papers_run = list(dict.fromkeys(run.paper for run in runs))
    for paper in papers_run:
        mine = [o for o in outcomes if o.run.paper == paper]
        record_provenance(run_dir(results, mine[0].run).parent, wall, mine, papers_run,
                          started_at)
    return outcomes


def summarise(outcomes: list[Outcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines = [f"{counts['done']} run(s) done, {counts['skipped']} already done, "
             f"{counts['failed']} failed"]
    for o in outcomes:
        if o.status == "failed":
            lines.append(f"FAILED {o.run.run_id}: {o.error}\n  see {o.notebook}")
    return "\n".join(lines)
