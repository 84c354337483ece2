"""Course assignments: build the student notebooks and autograders from the instructor notebooks
in ``assignments/`` (Otter Assign), and grade a folder of submissions without Docker (Otter Run,
one submission at a time, in this environment). Needs the ``teach`` extra (``otter-grader``)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ._checks import UnlearnbookError, check_choice
from .runner import remove_inside

#: One assignment per paper, in the book's order; ``assignments/<name>.ipynb`` is its instructor
#: notebook (prompts, solutions and tests).
ASSIGNMENTS = ("lfssd", "dau", "sure", "adaprob")


def package_calls(fn, *args, **kwargs) -> tuple[object, list[str]]:
    """Run ``fn(*args, **kwargs)``; return its result and the names of every function of
    :mod:`unlearnbook.methods` it called, directly or through anything else (a call profiler,
    so an alias or a copy of the function is caught too). The assignments' hidden tests use
    it: the package is the answer key, so a student's function that calls into it scores
    nothing."""
    methods_dir = str(Path(__file__).resolve().parent / "methods")
    called: set[str] = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(methods_dir):
            called.add(f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return result, sorted(called)


def assert_own_code(fn, *args, **kwargs) -> object:
    """``fn(*args, **kwargs)``'s result; fail (AssertionError) when it calls any function of
    :mod:`unlearnbook.methods` (an assignment asks for the student's own code) or returns
    nothing (an unfinished stub)."""
    result, called = package_calls(fn, *args, **kwargs)
    name = getattr(fn, "__name__", "the function")
    assert not called, (f"{name} calls unlearnbook's own implementation ({', '.join(called)}); "
                        "write it yourself")
    assert result is not None, f"{name} returned nothing: finish it first"
    return result


@dataclass(frozen=True)
class Built:
    """What Otter Assign made of one instructor notebook."""

    name: str
    student: Path      # the notebook handed to students (stubs, public tests only)
    solution: Path     # the solution notebook, beside the autograder (never published)
    autograder: Path   # the zip ``grade`` (or Gradescope) grades with: all tests, hidden too


def otter_command() -> list[str]:
    """The ``otter`` command of this environment (the one that runs the package)."""
    beside = Path(sys.executable).with_name("otter")
    found = str(beside) if beside.exists() else shutil.which("otter")
    if found is None:
        raise UnlearnbookError("otter-grader is not installed; allowed: pip install "
                               "'unlearnbook[teach]' (or pip install otter-grader)")
    return [found]


def _run(command: list[str], cwd: Path | None = None) -> str:
    """Run an otter command (an argument list: nothing goes through a shell); its output, or
    one error naming the command and the end of what it printed."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "UNLEARNBOOK_PROGRESS": "0"})
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise UnlearnbookError(f"{' '.join(command[1:3])} failed ({done.returncode}):\n{tail}")
    return done.stdout


def build(source: str | os.PathLike = "assignments", out: str | os.PathLike = "assignments/dist",
          names: Sequence[str] = ASSIGNMENTS, run_tests: bool = True) -> list[Built]:
    """``otter assign`` every instructor notebook ``source/<name>.ipynb`` into ``out/<name>/``
    (``student/`` and ``autograder/``), replacing an earlier build there. ``run_tests``: Otter
    runs the solutions against every test first (about 30-60 s per assignment on 2 cores), so
    an assignment whose own solution fails is never handed out."""
    source, out = Path(source), Path(out)
    if not names:
        raise UnlearnbookError(f"no assignment named; allowed: some of {', '.join(ASSIGNMENTS)}")
    built = []
    for name in names:
        check_choice("assignment", name, ASSIGNMENTS)
        notebook = source / f"{name}.ipynb"
        if not notebook.is_file():
            raise UnlearnbookError(f"instructor notebook {str(notebook)!r} not found; allowed: "
                                   f"a folder holding {', '.join(ASSIGNMENTS)} (.ipynb)")
        target = out / name
        if target.exists():
            remove_inside(target, out)
        target.mkdir(parents=True)
        flags = [] if run_tests else ["--no-run-tests"]
        _run([*otter_command(), "assign", *flags, notebook.name, str(target.resolve())],
             cwd=source)
        zips = sorted((target / "autograder").glob(f"{name}-autograder_*.zip"))
        built.append(Built(name, target / "student" / f"{name}.ipynb",
                           target / "autograder" / f"{name}.ipynb", zips[-1]))
    return built


def autograder_zip(path: str | os.PathLike) -> Path:
    """The autograder zip at ``path``, or the newest one in a build's folder under it."""
    path = Path(path)
    if path.is_file() and path.suffix == ".zip":
        return path
    zips = sorted(path.glob("**/*-autograder_*.zip")) if path.is_dir() else []
    if not zips:
        raise UnlearnbookError(f"no autograder zip at {str(path)!r}; allowed: a zip made by "
                               "`unlearnbook assign`, or its assignment's folder")
    return zips[-1]


def grade(submissions: str | os.PathLike | Sequence[str | os.PathLike],
          autograder: str | os.PathLike, out: str | os.PathLike | None = None) -> pd.DataFrame:
    """Grade every submitted notebook (a folder of ``.ipynb`` files, or a list of them) with
    ``otter run`` against one assignment's autograder: one row per submission, one column per
    autograded question, and ``total`` / ``possible``. Written questions are graded by hand
    (they are not in the table). ``out``: also write the table as CSV."""
    archive = autograder_zip(autograder)
    if isinstance(submissions, (str, os.PathLike)) and Path(submissions).is_dir():
        notebooks = sorted(Path(submissions).glob("*.ipynb"))
    elif isinstance(submissions, (str, os.PathLike)):
        notebooks = [Path(submissions)]
    else:
        notebooks = [Path(s) for s in submissions]
    missing = [str(n) for n in notebooks if not n.is_file()]
    if not notebooks or missing:
        raise UnlearnbookError(f"no submission to grade (missing: {missing or submissions!r}); "
                               "allowed: a folder of .ipynb files or their paths")
    rows = []
    for notebook in notebooks:
        with tempfile.TemporaryDirectory() as scratch:
            _run([*otter_command(), "run", "--no-logo", "-a", str(archive), "-o", scratch,
                  str(notebook)])
            results = json.loads((Path(scratch) / "results.json").read_text())
        scored = [t for t in results["tests"] if "score" in t]
        rows.append({"submission": notebook.name, **{t["name"]: t["score"] for t in scored},
                     "total": sum(t["score"] for t in scored),
                     "possible": sum(t["max_score"] for t in scored)})
    table = pd.DataFrame(rows)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    return table
