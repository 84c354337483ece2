"""The grid: a profile's runs executed by Snakemake (``unlearnbook/workflow/Snakefile``).

``unlearnbook run`` expands the profile (:func:`plan`), writes the plan as JSON
(:func:`write_plan`) and starts Snakemake on it (:func:`run_grid`). Snakemake runs one job per run
(:func:`execute_run`: papermill executes the paper's notebook), one job per original model that
several runs share (:func:`train_original`, so parallel jobs or cluster nodes never race to train
it) and, when asked, the report and the book as final jobs. Resume (finished runs are skipped),
retries, incomplete-output detection (a killed job is redone), dry runs and SLURM submission are
Snakemake's.

A run lives in ``<results>/<profile>/<paper>/<run_id>/`` and is finished when its ``run.json``
(time, commit, machine) exists; it is written last and atomically, and the report reads only
finished runs. Logs go to ``<results>/<profile>/.logs/``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

import pandas as pd

from ._checks import UnlearnbookError, check_choice, check_safe_name
from .io import RESUME_ENV, atomic_write, cache_dir, write_text
from .profiles import Run, expand, load, notebook_parameters, notebook_path, papers_in

RECORD = "run.json"
PROVENANCE = "provenance.json"
EXECUTORS = ("local", "slurm")
TARGETS = ("runs", "report", "book")


def workflow_file(name: str) -> Path:
    """A file shipped in ``unlearnbook/workflow/`` (the Snakefile, the SLURM profile)."""
    return Path(str(resources.files("unlearnbook").joinpath(f"workflow/{name}")))


def run_dir(results: Path, run: Run) -> Path:
    """``<results>/<profile>/<paper>/<run_id>``; every part is checked to be a safe name, so the
    folder always lies inside ``results``."""
    for kind, name in (("profile name", run.labels["profile"]), ("paper", run.paper),
                       ("run id", run.run_id)):
        check_safe_name(kind, name)
    return Path(results) / run.labels["profile"] / run.paper / run.run_id


def check_no_links(folder: Path, root: Path) -> None:
    """Refuse a link between ``root`` and ``folder`` (``folder`` included): a linked run or log
    folder would have the grid write, rename or delete outside the results tree. ``root``
    itself may be a link (a profile's results on a bigger disk)."""
    folder, root = Path(folder), Path(root)
    for part in [folder, *folder.parents]:
        if part == root or root not in part.parents:
            break
        if part.is_symlink():
            raise UnlearnbookError(f"{str(part)!r} is a link inside the results tree; allowed: "
                                   f"real folders under {str(root)!r} (link {str(root)!r} "
                                   "itself to put the results elsewhere)")


def remove_inside(folder: Path, root: Path) -> None:
    """Delete ``folder`` only if it lies strictly inside ``root`` with no link between them
    (:func:`check_no_links`; ``root`` is resolved once, so it may itself be a link): nothing
    outside the results folder is ever removed, whatever a profile or plan says."""
    check_no_links(folder, root)
    target, base = Path(folder).resolve(), Path(root).resolve()
    if target == base or base not in target.parents:
        raise UnlearnbookError(f"refusing to delete {str(folder)!r}: it is not inside the "
                               f"results folder {str(root)!r}; allowed: run folders under it")
    shutil.rmtree(target)


def parameters_hash(parameters: dict) -> str:
    """A hash of a run's notebook parameters (what its numbers depend on: ``output_dir``,
    ``progress`` and the ``method_hp`` of methods the run does not run left out), recorded in
    its ``run.json``."""
    kept = {k: v for k, v in parameters.items() if k not in ("output_dir", "progress")}
    listed = kept.get("methods")
    if isinstance(listed, list) and isinstance(kept.get("method_hp"), dict):
        names = {m if isinstance(m, str) else m.get("name") for m in listed}
        kept["method_hp"] = {k: v for k, v in kept["method_hp"].items() if k in names}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def method_hashes(parameters: dict) -> dict[str, str]:
    """Per method label of a run: a hash of its resolved hyper-parameters (the method's defaults
    under the run's values) and of its code (:func:`~unlearnbook.methods.code_fingerprint`).
    Recorded in ``run.json``, so a run made before a default or a method's math changed is
    stale although its profile values are not."""
    from . import methods as registry
    from .pipeline import method_specs

    specs = method_specs(parameters.get("methods"), parameters.get("method_hp"))
    sensitivity = parameters.get("sensitivity") or {}
    if sensitivity.get("method"):  # SURE's sensitivity grid runs a method of its own
        specs += method_specs([{"name": sensitivity["method"], "label": "sensitivity"}],
                              parameters.get("method_hp"))
    hashes = {}
    for spec in specs:
        if spec.name not in registry.available():
            continue  # planning refuses it; nothing ran
        resolved = {**registry.hyperparameters(spec.name), **spec.hp}
        text = json.dumps({"hp": resolved, "code": registry.code_fingerprint(spec.name)},
                          sort_keys=True, default=str)
        hashes[spec.label] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return hashes


def scoring_hash(parameters: dict) -> str:
    """The code that scores a run (:func:`~unlearnbook.pipeline.scoring_fingerprint`): its
    paper's metric suite, or every suite where the notebook runs them all (``suites: None``, the
    cross chapter), with the epoch rule and the rows' code."""
    from .metrics import suites
    from .pipeline import scoring_fingerprint

    paper = parameters.get("paper")
    chosen = parameters.get("suites") or ([paper] if paper in suites() else suites())
    return scoring_fingerprint([chosen] if isinstance(chosen, str) else list(chosen))


def run_record(run: Run) -> dict:
    """What ``run.json`` records of a run's inputs, checked by :func:`stale`: its parameter
    hash, its methods' hashes (:func:`method_hashes`) and its scoring code's
    (:func:`scoring_hash`)."""
    parameters = full_parameters(run)
    return {"parameters_hash": parameters_hash(run.parameters),
            "methods": method_hashes(parameters), "scoring": scoring_hash(parameters)}


def finished(folder: Path, run: Run | None = None) -> bool:
    """Whether the run in ``folder`` finished (its ``run.json`` exists) and, given the ``run``
    as the profile states it now, with the same parameters and method code (:func:`stale`)."""
    return (folder / RECORD).exists() and (run is None or not stale(folder, run))


def stale(folder: Path, run: Run) -> str:
    """Why a finished run in ``folder`` no longer matches ``run`` (its parameters, or a method's
    code or default hyper-parameters, changed since it ran, or it predates either record), or
    "" when it matches or has not finished."""
    path = folder / RECORD
    if not path.exists():
        return ""
    try:
        record = json.loads(path.read_text())
    except ValueError:
        return "its run.json is unreadable"
    if not (folder / "results.csv").exists():
        return "its results.csv is missing"
    recorded = record.get("parameters_hash")
    if recorded is None:
        return "it records no parameter hash"
    if recorded != parameters_hash(run.parameters):
        return "its parameters changed since it ran"
    if "methods" not in record:
        return "it predates the record of its methods' code and defaults"
    now = method_hashes(full_parameters(run))
    changed = sorted(label for label in set(now) | set(record["methods"])
                     if now.get(label) != record["methods"].get(label))
    if changed:
        return f"the code or default hyper-parameters of {', '.join(changed)} changed since it ran"
    if "scoring" not in record:
        return "it predates the record of its metric suite's code"
    if record["scoring"] != scoring_hash(full_parameters(run)):
        return "its metric suite's code (or the epoch rule) changed since it ran"
    return ""


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
        if not [run_id for run_id in only if run_id.strip()]:
            raise UnlearnbookError(f"--runs {','.join(only)!r} names no run; allowed: "
                                   f"comma-separated run ids, e.g. {runs[0].run_id}")
        unknown = sorted(set(only) - {run.run_id for run in runs})
        if unknown:
            raise UnlearnbookError(f"unknown run id(s) {unknown}; allowed: "
                                   f"{', '.join(run.run_id for run in runs)}")
        runs = [run for run in runs if run.run_id in only]
    return runs


# --- which runs share an original model ---------------------------------------------------------

#: Notebook parameters that fix the original model: its training set (dataset, class subset,
#: validation hold-out, data seed), architecture, recipe, seed, pre-training and pruning.
ORIGINAL_PARAMETERS = ("dataset", "classes", "train_per_class", "val_fraction", "task_kwargs",
                       "arch", "arch_kwargs", "recipe", "train_seed", "pretrain", "sparsities",
                       "rewind_epoch")
#: Task options that leave the original's training untouched: the test set's size and whether
#: the unlearning methods see the training transform.
ORIGINAL_IGNORES = ("test_per_class", "unlearn_augment")
#: ... and, for scenarios that change the training set itself, the split.
SPLIT_PARAMETERS = ("scenario", "forget_class", "forget_size", "forget_fraction", "split_seed")


def full_parameters(run: Run) -> dict:
    """The run's parameters over its notebook's defaults: what the notebook will use."""
    return {**notebook_parameters(run.paper), **run.parameters}


def original_key(parameters: dict) -> str:
    """A hash of what the run's original model depends on (:data:`ORIGINAL_PARAMETERS`; with
    the split too for the scenarios in :data:`~unlearnbook.data.tasks.MODIFIES_TRAIN`). Runs
    with equal keys train the same original model."""
    from .data.tasks import MODIFIES_TRAIN

    names = ORIGINAL_PARAMETERS
    if parameters.get("scenario") in MODIFIES_TRAIN:
        names = names + SPLIT_PARAMETERS
    fixed = {name: parameters.get(name) for name in names}
    fixed["task_kwargs"] = {k: v for k, v in (fixed["task_kwargs"] or {}).items()
                            if k not in ORIGINAL_IGNORES}
    if not any(fixed["sparsities"] or []):  # dense only: no pruning, no rewind point
        fixed["sparsities"] = fixed["rewind_epoch"] = None
    text = json.dumps(fixed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def task_key(parameters: dict) -> str:
    """A hash of what the run's task depends on: its original (:func:`original_key`), the
    arguments of ``make_task`` and the split seed. Runs with equal keys have the same D_r, D_f,
    validation and test sets, so a retrained oracle of one serves the other (same seed)."""
    from .data.tasks import split_seed_matters

    fixed = {**task_arguments(parameters), "dataset": parameters.get("dataset"),
             "scenario": parameters.get("scenario")}
    if split_seed_matters(parameters.get("scenario", "class"), parameters.get("forget_class")):
        fixed["split_seed"] = parameters.get("split_seed", 0)
    text = json.dumps([original_key(parameters), fixed], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def task_arguments(parameters: dict) -> dict:
    """The keyword arguments of ``make_task`` a run's parameters give (its ``task_kwargs``
    merged in), besides the dataset, scenario, split seed and data folder."""
    from .data import make_task

    accepted = set(inspect.signature(make_task).parameters)
    kwargs = {k: v for k, v in parameters.items() if k in accepted and k not in (
        "dataset", "scenario", "seed", "root")}
    return {**kwargs, **(parameters.get("task_kwargs") or {})}


def build_task(parameters: dict):
    """The notebook's task from its parameters (as every paper notebook's ``make_task`` cell)."""
    from .data import make_task

    return make_task(parameters["dataset"], parameters["scenario"],
                     seed=parameters.get("split_seed", 0), root=parameters.get("data_root"),
                     **task_arguments(parameters))


# --- the plan Snakemake reads -------------------------------------------------------------------

def threads_per_job(jobs: int) -> int:
    """This machine's cores shared among ``jobs`` jobs running at once (at least one each)."""
    return max(1, (os.cpu_count() or 1) // jobs)


def run_cost(parameters: dict) -> int:
    """A rough relative cost of a run for the scheduler: the method runs it holds (methods, or
    every registered one for ``None``, x sparsities, plus the sensitivity grid), twice over when
    it also draws per-model t-SNEs."""
    from . import methods as registry

    listed = parameters.get("methods")
    methods = len(registry.available() if listed is None else listed)
    methods *= len(parameters.get("sparsities") or [0])
    sensitivity = parameters.get("sensitivity") or {}
    methods += len(sensitivity.get("factors") or []) ** 2
    drawn = parameters.get("embedding_tsne") or parameters.get("output_tsne")
    return max(1, methods) * (2 if drawn else 1)


def run_priorities(runs: list[Run]) -> dict[tuple[str, str], int]:
    """Snakemake priorities (higher starts first, from 1 up): the runs of headline claims
    (``headline: true`` in the profile) before the others; within each, every setting's first
    seed before any setting's second, so a grid cut short has one run of each headline claim
    first; within a seed, the costliest runs (:func:`run_cost`) first, so no long run is left
    alone at the end."""
    order = sorted(runs, key=lambda run: (not run.headline, run.replicate,
                                          -run_cost(full_parameters(run)), run.paper,
                                          run.run_id))
    return {(run.paper, run.run_id): len(order) - rank for rank, run in enumerate(order)}


@dataclass
class GridOptions:
    """How Snakemake runs the grid: ``executor`` (local or slurm), ``workers`` (parallel jobs
    on this machine; each gets cores/workers threads), ``gpus`` and ``runs_per_gpu`` (local
    GPU packing: at most gpus x runs_per_gpu jobs at once, each pinned to one GPU),
    ``target`` (runs, report or book) and the book's data folder."""

    executor: str = "local"
    workers: int = 1
    gpus: int = 0
    runs_per_gpu: int = 1
    target: str = "runs"
    book_out: str = "book/generated"
    slurm_profile: str | None = None

    def __post_init__(self) -> None:
        check_choice("executor", self.executor, EXECUTORS)
        check_choice("target", self.target, TARGETS)
        for name in ("workers", "runs_per_gpu"):
            if int(getattr(self, name)) < 1:
                raise UnlearnbookError(f"{name} {getattr(self, name)!r} is out of range; "
                                       "allowed: >= 1")
        if self.gpus < 0:
            raise UnlearnbookError(f"gpus {self.gpus!r} is out of range; allowed: >= 0")


def write_plan(runs: list[Run], profile: str | os.PathLike, results: str | os.PathLike,
               options: GridOptions, independent: bool = False) -> Path:
    """Write the runs and their shared originals as ``<results>/<profile>/.plans/<hash>.json``
    (named by content, so concurrent grids of one profile never overwrite each other's).
    ``independent``: no job waits for another (every submission at once, for
    :func:`print_submissions`)."""
    if not runs:
        raise UnlearnbookError("the plan has no runs; allowed: a profile with runs for the "
                               "papers asked for")
    keys = {(run.paper, run.run_id): original_key(full_parameters(run)) for run in runs}
    counts: dict[str, int] = {}
    for key in keys.values():
        counts[key] = counts.get(key, 0) + 1
    priorities = run_priorities(runs)
    originals: dict[str, dict] = {}
    for run in runs:  # a shared original ranks just above the first run that needs it
        key, rank = keys[(run.paper, run.run_id)], priorities[(run.paper, run.run_id)]
        if counts[key] > 1:
            entry = originals.setdefault(key, {"paper": run.paper, "run_id": run.run_id,
                                               "priority": rank})
            entry["priority"] = max(entry["priority"], rank)
    for entry in originals.values():
        entry["priority"] = 2 * entry["priority"] + 1  # between its run (2 x rank) and the next
    name = runs[0].labels["profile"]
    threads = threads_per_job(options.workers)
    data = {
        "profile": str(profile), "profile_name": name, "results": str(results),
        "python": sys.executable, "target": options.target, "book_out": options.book_out,
        "threads": threads, "gpus": options.gpus, "runs_per_gpu": options.runs_per_gpu,
        "gpu_slots_per_job": 1 if options.gpus else 0, "independent": independent,
        "originals": originals,
        "runs": [{"paper": run.paper, "run_id": run.run_id, "parameters": run.parameters,
                  "labels": run.labels, "priority": 2 * priorities[(run.paper, run.run_id)],
                  "methods": method_hashes(full_parameters(run)),
                  "scoring": scoring_hash(full_parameters(run)),
                  "original": keys[(run.paper, run.run_id)]
                  if keys[(run.paper, run.run_id)] in originals else None} for run in runs],
    }
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    path = Path(results) / name / ".plans" / f"{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    if not path.exists():
        write_text(path, text)
    return path


def _plan_entry(data: dict, run: Run) -> dict:
    """The plan's entry for ``run`` (its parameters, labels, priority, method and scoring
    hashes)."""
    return next(entry for entry in data["runs"]
                if entry["paper"] == run.paper and entry["run_id"] == run.run_id)


def _plan_run(plan_file: str | os.PathLike, paper: str, run_id: str) -> tuple[dict, Run]:
    data = json.loads(Path(plan_file).read_text())
    for entry in data["runs"]:
        if entry["paper"] == paper and entry["run_id"] == run_id:
            return data, Run(paper, run_id, entry["parameters"], entry["labels"])
    raise UnlearnbookError(f"run {paper}/{run_id} is not in the plan {str(plan_file)!r}")


def _try_lock(path: Path):
    """An open file holding an exclusive OS lock on ``path`` (released when it is closed or the
    process ends), or None when another process holds it."""
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def gpu_slot(gpus: int, runs_per_gpu: int) -> Iterator[None]:
    """Hold one of ``gpus`` x ``runs_per_gpu`` slots (a lock file each, released when the
    process ends however it ends) and pin this job to that slot's GPU through
    ``CUDA_VISIBLE_DEVICES``. Snakemake never starts more jobs than slots."""
    if not gpus:
        yield
        return
    folder = Path(tempfile.gettempdir()) / "unlearnbook-gpu-slots"
    folder.mkdir(exist_ok=True)
    while True:
        for slot in range(gpus * runs_per_gpu):
            handle = _try_lock(folder / f"slot-{slot}.lock")
            if handle is None:
                continue
            os.environ["CUDA_VISIBLE_DEVICES"] = str(slot // runs_per_gpu)
            try:
                yield
            finally:
                handle.close()
            return
        time.sleep(1.0)


# --- the jobs Snakemake runs --------------------------------------------------------------------

def train_original(plan_file: str | os.PathLike, key: str) -> None:
    """Job ``original``: train (into the checkpoint cache) the original model the runs with
    this key share, as their notebooks would, and write the job's marker."""
    from .pipeline import original_model

    data = json.loads(Path(plan_file).read_text())
    if key not in data["originals"]:
        raise UnlearnbookError(f"original {key!r} is not in the plan {str(plan_file)!r}")
    entry = data["originals"][key]
    _, run = _plan_run(plan_file, entry["paper"], entry["run_id"])
    params = full_parameters(run)
    use_model_store(data["results"], data["profile_name"])
    start = time.perf_counter()
    with gpu_slot(data["gpus"], data["runs_per_gpu"]):
        task = build_task(params)
        for sparsity in params.get("sparsities") or [0.0]:
            original_model(task, params["arch"], params["arch_kwargs"], params["recipe"],
                           params.get("train_seed", 0), progress=False, sparsity=sparsity,
                           rewind_epoch=params.get("rewind_epoch", 8),
                           pretrain=params.get("pretrain"), root=params.get("data_root"))
    shared = [f"{r['paper']}/{r['run_id']}" for r in data["runs"] if r["original"] == key]
    marker = Path(data["results"]) / data["profile_name"] / ".originals" / f"{key}.json"
    write_text(marker, json.dumps({"seconds": round(time.perf_counter() - start, 1),
                                   "shared_by": shared}, indent=1))


def use_model_store(results: str | os.PathLike, profile_name: str) -> Path:
    """Point :func:`~unlearnbook.train.model_store` at ``<results>/<profile>/models`` (unless
    ``$UNLEARNBOOK_MODELS`` names another folder) for this process and the kernels it starts."""
    folder = Path(os.environ.setdefault("UNLEARNBOOK_MODELS",
                                        str(Path(results) / profile_name / "models")))
    return folder


def bad_input(error_name: str) -> bool:
    """Whether a run that raised ``error_name`` failed on bad input, which a retry would meet
    again (it is then not retried until its parameters change): an UnlearnbookError, but not
    missing data (DataMissing), which the user may supply."""
    return error_name == "UnlearnbookError"


def mark_bad_input(marker: Path, run: Run, error: str) -> None:
    """Remember that ``run`` failed on bad input: its inputs (parameters and methods' code, as
    :func:`run_record`) and the first error, so a retry with the same inputs is refused."""
    write_text(marker, json.dumps({"inputs": run_record(run), "error": error}, sort_keys=True))


def bad_input_refusal(marker: Path, run: Run) -> str:
    """Why ``run`` is not retried (its ``marker`` names the same inputs and says which error
    they gave), else "": a marker from other parameters or other code, or an unreadable one,
    lets the run go ahead."""
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(record, dict) or record.get("inputs") != run_record(run):
        return ""
    return (f"run {run.run_id} failed on bad input with these parameters and this code "
            f"({record.get('error', 'error not recorded')}); not retried: change the input, or "
            f"delete {marker} to retry anyway")


def failed_notebook(data: dict, run: Run) -> Path:
    """Where a failed run's executed notebook is kept: ``.logs/<paper>/<run_id>.failed.ipynb``."""
    path = Path(data["results"]) / data["profile_name"] / ".logs" / run.paper / \
        f"{run.run_id}.failed.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def execute_run(plan_file: str | os.PathLike, paper: str, run_id: str) -> None:
    """Job ``run``: execute the paper's notebook with the run's parameters (papermill), add the
    run's labels to its ``results.csv`` and write ``run.json`` last."""
    import papermill  # the job process never imports torch: the kernel does the work

    data, run = _plan_run(plan_file, paper, run_id)
    folder = run_dir(Path(data["results"]), run)
    bad = failed_notebook(data, run).with_suffix(".bad-input")
    refusal = bad_input_refusal(bad, run)
    if refusal:
        raise UnlearnbookError(f"{refusal}; see {failed_notebook(data, run)}")
    if folder.exists():  # what a killed or failed attempt left: start clean
        remove_inside(folder, Path(data["results"]) / data["profile_name"])
    folder.mkdir(parents=True)
    executed = folder / f"{paper}.ipynb"
    start, code = time.perf_counter(), commit()  # the code the kernel imports: the start's
    os.environ["UNLEARNBOOK_PROGRESS"] = "0"
    use_model_store(data["results"], data["profile_name"])
    saved_methods = resume_folder(run)
    os.environ[RESUME_ENV] = str(saved_methods)
    with gpu_slot(data["gpus"], data["runs_per_gpu"]):
        try:
            papermill.execute_notebook(str(notebook_path(paper)), str(executed),
                                       parameters={**run.parameters, "output_dir": str(folder)},
                                       progress_bar=False, cwd=str(Path.cwd()),
                                       kernel_name="python3")
        except papermill.PapermillExecutionError as err:
            kept = failed_notebook(data, run)
            shutil.copyfile(executed, kept)  # a retry clears the run folder: keep this one
            if bad_input(err.ename):
                mark_bad_input(kept.with_suffix(".bad-input"), run, f"{err.ename}: {err.evalue}")
            raise UnlearnbookError(f"run {run_id} failed: {err.ename}: {err.evalue}; see "
                                   f"{kept}") from None
    if not (folder / "results.csv").exists():
        raise UnlearnbookError(f"run {run_id} wrote no results.csv; see {executed}")
    stamp(folder / "results.csv", run.record)
    hardware = pd.read_csv(folder / "results.csv", usecols=["hardware"])["hardware"].iloc[0]
    write_text(folder / RECORD, json.dumps({
        "parameters_hash": parameters_hash(run.parameters),
        "methods": _plan_entry(data, run)["methods"],
        "scoring": _plan_entry(data, run)["scoring"],
        "seconds": round(time.perf_counter() - start, 1), "commit": code,
        "hardware": hardware, "finished": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    shutil.rmtree(saved_methods, ignore_errors=True)


def resume_folder(run: Run) -> Path:
    """Where a run's finished methods are kept until the run finishes
    (``<cache>/partial/runs/<profile>/<paper>/<run_id>``; :func:`~unlearnbook.pipeline.run_methods`
    names each file by a hash of its inputs, so a stopped run resumes at its next method and a
    run whose inputs changed reuses nothing)."""
    run_dir(Path(), run)  # checks every part is a safe name
    return cache_dir() / "partial" / "runs" / run.labels["profile"] / run.paper / run.run_id


# --- the grid -----------------------------------------------------------------------------------

def commit() -> str:
    """The source tree's git commit (with ``-dirty`` when the code that makes results, the
    package or the notebooks, has uncommitted changes; results written since do not count),
    or ``unknown`` outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "src", "notebooks"],
                               cwd=root, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def record_provenance(folder: Path, wall_seconds: float, papers: list[str], started_at: str,
                      ran: int) -> None:
    """Write ``provenance.json`` for one paper's latest grid: the commit it started from
    (``started_at``), the machine, the grid's wall time (it ran ``papers`` together), and the
    time and commit of every finished run in ``folder`` (from its ``run.json``). A grid that
    ran nothing (``ran`` = 0) keeps the earlier record."""
    if not ran and (folder / PROVENANCE).exists():
        return
    from .pipeline import hardware

    records = {path.parent.name: json.loads(path.read_text())
               for path in sorted(folder.glob(f"*/{RECORD}"))}
    write_text(folder / PROVENANCE, json.dumps({
        "commit": started_at, "hardware": hardware(), "finished": time.strftime("%Y-%m-%d %H:%M"),
        "grid_wall_seconds": round(wall_seconds, 1), "grid_papers": papers,
        "run_seconds": {name: r["seconds"] for name, r in records.items()},
        "run_commits": sorted({r.get("commit", "unknown") for r in records.values()})},
        indent=1))


@contextlib.contextmanager
def grid_lock(folder: Path) -> Iterator[int]:
    """One grid at a time per results folder: an OS lock (Snakemake's own lock outlives a
    killed grid, so it is switched off). Yields the lock's file descriptor: :func:`supervise`
    hands it to Snakemake, so the lock lasts until the last process holding it ends (a grid
    killed with SIGKILL leaves its Snakemake holding the lock until its jobs end)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = _try_lock(folder / ".grid.lock")
    if handle is None:
        raise UnlearnbookError(f"another grid is running on {str(folder)!r}; allowed: one "
                               "grid per results folder (wait for it, or use --results)")
    try:
        yield handle.fileno()
    finally:
        handle.close()


def _stop_with_parent() -> None:
    """In the child, before exec: a SIGINT when the parent dies, whatever kills it (Linux),
    so a Snakemake whose grid was killed stops starting jobs."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


def snakemake_command(plan_file: Path, runs: list[Run], options: GridOptions,
                      dry_run: bool) -> list[str]:
    """The Snakemake command line for a plan."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(workflow_file("Snakefile")),
               "--directory", str(Path.cwd()), "--config", f"plan={plan_file}",
               "--nolock", "--rerun-incomplete", "--rerun-triggers", "mtime", "--keep-going",
               "--retries", "1", "--quiet", "rules"]
    if options.executor == "slurm":
        profile = options.slurm_profile or workflow_file("slurm")
        command += ["--workflow-profile", str(profile)]
    else:
        threads = json.loads(plan_file.read_text())["threads"]
        command += ["--cores", str(threads * options.workers)]
        if options.gpus:
            command += ["--resources", f"gpu_slots={options.gpus * options.runs_per_gpu}"]
    if options.target != "runs":  # the report and the book always reflect the latest results
        command += ["--forcerun", *TARGETS[1:TARGETS.index(options.target) + 1]]
    if dry_run:
        command += ["--dry-run"]
    return command


def supervise(command: list[str], keep_fds: tuple[int, ...] = ()) -> tuple[int, bool]:
    """Run ``command`` (Snakemake) in a process group of its own, with its jobs. A SIGINT,
    SIGTERM or SIGHUP sent to the grid reaches that whole group as SIGINT, as Ctrl-C in a
    terminal does: the running jobs stop at once and Snakemake exits (sent to Snakemake alone,
    either signal makes it wait for its jobs to finish), so no grid outlives the lock it ran
    under. The handlers are in place before the child starts, so it never inherits an ignored
    SIGINT (as a grid started in the background of a script would). Returns the child's exit
    status and whether it was stopped so. ``keep_fds`` (the grid lock) are inherited by the
    child; it gets a SIGINT if this process dies (:func:`_stop_with_parent`)."""
    children: list[subprocess.Popen] = []
    stopped: list[int] = []

    def forward(signum: int, frame: object) -> None:
        stopped.append(signum)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGINT)

    previous = {sig: signal.signal(sig, forward)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        children.append(subprocess.Popen(command, start_new_session=True, pass_fds=keep_fds,
                                         preexec_fn=_stop_with_parent))
        return children[0].wait(), bool(stopped)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def planned_cost(runs: list[Run], results: Path, done: set[str], workers: int) -> str:
    """The dry run's cost summary (:func:`plan_costs`)."""
    from .cost import cost_table

    threads = threads_per_job(workers)
    costs, headline = plan_costs(runs, results, done, threads)
    return cost_table(costs, workers, threads, headline)


def plan_costs(runs: list[Run], results: Path, done: set[str], threads: int):
    """Per paper and for the headline runs alone (:mod:`unlearnbook.cost`): the originals that
    a finished run or an ``original`` job trained, and the originals and oracles
    ``<results>/<profile>/originals.csv`` lists (trained ahead by
    ``benchmarks/train_originals.py``, weights in the model store) count as done."""
    from .cost import grid_cost, oracle_key, total

    folder = results / runs[0].labels["profile"]
    trained = {path.stem for path in (folder / ".originals").glob("*.json")}
    trained |= {original_key(full_parameters(run)) for run in runs
                if f"{run.paper}/{run.run_id}" in done}
    listed = folder / "originals.csv"
    if listed.exists():
        import pandas as pd

        rows = pd.read_csv(listed)
        by_id = {(run.paper, run.run_id): full_parameters(run) for run in runs}
        for paper, run_id, kind in zip(rows["paper"], rows["run"], rows.get(
                "model", ["original"] * len(rows))):
            params = by_id.get((paper, run_id))
            if params is not None:
                trained.add(original_key(params) if kind == "original"
                            else oracle_key(params, kind, {}))
    headline = [run for run in runs if run.headline]
    return (grid_cost(runs, done, trained, threads),
            total(grid_cost(headline, done, trained, threads), "headline") if headline else None)


def run_grid(profile: str | os.PathLike, papers: list[str] | None = None,
             results: str | os.PathLike = "results", options: GridOptions | None = None,
             dry_run: bool = False, only: list[str] | None = None) -> tuple[int, str]:
    """Expand the profile, write the plan and run it with Snakemake; record each paper's
    provenance (:func:`record_provenance`). Returns Snakemake's exit status and a summary."""
    options = options or GridOptions()
    runs = plan(profile, papers, only)
    results = Path(results)
    plan_file = write_plan(runs, profile, results, options)
    command = snakemake_command(plan_file, runs, options, dry_run)
    if dry_run:
        done = set()
        for run in runs:
            why = stale(run_dir(results, run), run)
            state = "done " if finished(run_dir(results, run), run) else "to do"
            if state == "done ":
                done.add(f"{run.paper}/{run.run_id}")
            print(f"{state}  {run.paper:8s} {run.run_id}" + (f"  (stale: {why})" if why else ""))
        print(planned_cost(runs, results, done, options.workers))
        return subprocess.run(command).returncode, ""
    profile_folder = results / runs[0].labels["profile"]
    start, started_at = time.perf_counter(), commit()
    with grid_lock(profile_folder) as lock_fd:
        for run in runs:  # a stale run's record goes aside, so Snakemake redoes the run
            folder = run_dir(results, run)
            check_no_links(folder, profile_folder)
            check_no_links(profile_folder / ".logs" / run.paper, profile_folder)
            if stale(folder, run):
                os.replace(folder / RECORD, folder / f"{RECORD}.stale")
        before = {run.run_id for run in runs if finished(run_dir(results, run), run)}
        trust_finished(command, [run for run in runs if run.run_id in before], results)
        status, stopped = supervise(command, (lock_fd,))
    wall = time.perf_counter() - start
    papers_run = list(dict.fromkeys(run.paper for run in runs))
    for paper in papers_run:
        ran = sum(finished(run_dir(results, r), r) and r.run_id not in before
                  for r in runs if r.paper == paper)
        record_provenance(profile_folder / paper, wall, papers_run, started_at, ran)
    return status, summarise(runs, results, before, stopped)


def trust_finished(command: list[str], runs: list[Run], results: Path) -> None:
    """Clear Snakemake's records of ``runs`` (finished, not stale: their ``run.json`` matches
    the plan): a grid killed between a job's last write and Snakemake noting its end leaves the
    job marked incomplete, and ``--rerun-incomplete`` would redo hours of finished work."""
    if not runs:
        return
    outputs = [str(run_dir(results, run) / name) for run in runs
               for name in ("results.csv", f"{run.paper}.ipynb", RECORD)]
    base = [part for part in command if part not in ("--dry-run", "rules")]
    done = subprocess.run(base + ["--cleanup-metadata", *outputs], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        print("could not clear Snakemake's records of the finished runs (they may be redone): "
              + (done.stderr.strip().splitlines() or ["no message"])[-1], file=sys.stderr)


#: Stand-ins for the SLURM commands the executor plugin calls: ``sbatch`` records its arguments
#: and answers a job id; the queries report nothing, so no job ever finishes.
_SLURM_STAND_INS = {
    "sbatch": '#!/usr/bin/env bash\n[ -t 0 ] || cat > /dev/null\n'
              'line=$(printf "%q " sbatch "$@")\n'
              '(flock 9; echo "$line" >> "$UNLEARNBOOK_SUBMISSIONS"; '
              'wc -l < "$UNLEARNBOOK_SUBMISSIONS") 9>> "$UNLEARNBOOK_SUBMISSIONS.lock"\n',
    **{name: "#!/bin/sh\nexit 0\n" for name in ("sinfo", "sacct", "squeue", "scancel",
                                                   "sacctmgr", "scontrol")},
}


def print_submissions(profile: str | os.PathLike, papers: list[str] | None,
                      results: str | os.PathLike, options: GridOptions,
                      only: list[str] | None = None, timeout: float = 120.0) -> int:
    """A SLURM dry run without a cluster: Snakemake with the SLURM executor and the SLURM
    profile submits every job of the plan (runs and shared originals, all at once) to
    stand-in SLURM commands that record each ``sbatch`` call; print the calls. Checks that
    the profile and the per-job resources make valid submissions."""
    runs = plan(profile, papers, only)
    options = GridOptions(**{**options.__dict__, "executor": "slurm"})
    plan_file = write_plan(runs, profile, results, options, independent=True)
    expected = len(runs) + len(json.loads(plan_file.read_text())["originals"])
    with tempfile.TemporaryDirectory() as folder:
        bin_dir = Path(folder) / "bin"
        bin_dir.mkdir()
        for name, script in _SLURM_STAND_INS.items():
            (bin_dir / name).write_text(script)
            (bin_dir / name).chmod(0o755)
        log = Path(folder) / "submissions.txt"
        log.touch()
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "UNLEARNBOOK_SUBMISSIONS": str(log)}
        command = snakemake_command(plan_file, runs, options, dry_run=False) + [
            "--jobs", str(expected)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        deadline = time.time() + timeout
        while proc.poll() is None and time.time() < deadline and \
                len(log.read_text().splitlines()) < expected:
            time.sleep(0.5)
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        output = proc.communicate()[0]
        calls = log.read_text().splitlines()
    if len(calls) < expected:
        raise UnlearnbookError(f"the SLURM dry run made {len(calls)} of {expected} "
                               f"submissions; Snakemake said:\n{output[-3000:]}")
    for call in calls:  # the options, then which job the wrapped Snakemake command runs
        argv = shlex.split(call)
        wrapped = next(a for a in argv if a.startswith("--wrap="))
        job = shlex.split(wrapped.removeprefix("--wrap="))
        target = job[job.index("--target-jobs") + 1] if "--target-jobs" in job else "?"
        print(shlex.join(a for a in argv if a != wrapped) + f" --wrap=<snakemake {target}>")
    print(f"{len(calls)} submissions: {len(runs)} runs and {expected - len(runs)} shared "
          "original model(s)")
    return 0


def summarise(runs: list[Run], results: Path, before: set[str], stopped: bool = False) -> str:
    """Counts of runs done now, done before and failed (or left, when the grid was
    ``stopped`` by a signal); each failure's last log line."""
    failed = [run for run in runs if not finished(run_dir(results, run), run)]
    lines = [f"{len(runs) - len(failed) - len(before)} run(s) done, {len(before)} already "
             f"done, {len(failed)} {'left' if stopped else 'failed'}"]
    if stopped:
        return "\n".join(lines + ["stopped by a signal; the same command resumes the grid"])
    held: dict[str, list[str]] = {}  # a failed shared original -> the runs it held back
    for run in failed:
        logs = results / run.labels["profile"] / ".logs"
        log = logs / run.paper / f"{run.run_id}.log"
        if log.exists():
            lines.append(f"FAILED {run.run_id}: {_last_line(log)}\n  log: {log}")
            continue
        key = original_key(full_parameters(run))
        if (logs / "originals" / f"{key}.log").exists():
            held.setdefault(key, []).append(run.run_id)
        else:
            lines.append(f"FAILED {run.run_id}: did not start, and no job of its wrote a log")
    for key, held_back in held.items():
        log = results / runs[0].labels["profile"] / ".logs" / "originals" / f"{key}.log"
        lines.append(f"FAILED original {key}, shared by {', '.join(held_back)} (none of them "
                     f"started): {_last_line(log)}\n  log: {log}")
    return "\n".join(lines)


def _last_line(log: Path) -> str:
    """The last non-empty line of a job's log (its error, when it failed)."""
    last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
    return last[0] if last else "(empty log)"
