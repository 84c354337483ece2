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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ._checks import UnlearnbookError, check_choice
from .io import write_text
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


def _run(command: list[str], cwd: Path | None = None, time_limit: float | None = None) -> str:
    """Run an otter command (an argument list: nothing goes through a shell); its output, or
    one error naming the command and the end of what it printed (or that it ran past
    ``time_limit`` seconds, when it was stopped)."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              env={**os.environ, "UNLEARNBOOK_PROGRESS": "0"},
                              timeout=time_limit)
    except subprocess.TimeoutExpired:
        raise UnlearnbookError(f"{' '.join(command[1:3])} ran past its time limit of "
                               f"{time_limit:g} s and was stopped") from None
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:]) or "no output"
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
        write_text(target / "autograder" / WRITTEN, json.dumps(written_questions(notebook),
                                                                indent=1))
        built.append(Built(name, target / "student" / f"{name}.ipynb",
                           target / "autograder" / f"{name}.ipynb", zips[-1]))
    problem = requirements_problem(source)
    if problem:
        warnings.warn(problem, stacklevel=2)
    return built


def requirements_problem(source: str | os.PathLike) -> str:
    """Why the autograder's ``requirements.txt`` in ``source`` cannot install unlearnbook on
    Gradescope ("" when it can, as far as this can tell): the placeholder OWNER still there."""
    requirements = Path(source) / "requirements.txt"
    if requirements.is_file() and "/OWNER/" in requirements.read_text():
        return (f"{requirements} still names the placeholder OWNER: Gradescope's image cannot "
                "install unlearnbook from it; point it at your fork or a wheel first")
    return ""


#: the file beside an autograder zip that lists the questions graded by hand
WRITTEN = "written.json"


def written_questions(instructor: str | os.PathLike) -> list[dict]:
    """The instructor notebook's written (manual) questions, in order: name and points."""
    import yaml

    found = []
    for cell in json.loads(Path(instructor).read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "raw" and source.startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(source.split("\n", 1)[1]) or {}
            if config.get("manual"):
                found.append({"name": config["name"], "points": config.get("points", 0)})
    return found


def written_answers(submission: dict) -> list[str]:
    """A student notebook's answers to its written questions, in order: the text of the answer
    cells between Otter's ``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->`` markers."""
    answers, inside = [], None
    for cell in submission.get("cells", []):
        source = "".join(cell.get("source", ""))
        if "<!-- BEGIN QUESTION -->" in source:
            inside = []
        elif "<!-- END QUESTION -->" in source and inside is not None:
            answers.append("\n\n".join(inside).strip())
            inside = None
        elif inside is not None and "otter_answer_cell" in cell.get("metadata", {}).get("tags", []):
            inside.append(source)
    return answers


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
          autograder: str | os.PathLike, out: str | os.PathLike | None = None,
          time_limit: float = 900.0, pdf: bool = False) -> pd.DataFrame:
    """Grade every submitted notebook (a folder of ``.ipynb`` files, or a list of them) with
    ``otter run`` against one assignment's autograder: one row per submission, one column per
    autograded question, ``by_hand`` (the written questions' points, graded by hand), ``total``
    (autograded points) and ``possible`` (every point, the written ones included), and
    ``error`` where Otter could not grade it (a damaged notebook, a run past ``time_limit``
    seconds): one bad submission never stops the batch. ``out``: the table as CSV, replaced at
    the start and rewritten after every submission (an earlier table is never read as this
    one), with each written answer in ``<out stem>-written/<submission>.md`` and, with ``pdf``,
    beside it as ``<submission>.pdf`` (:func:`answers_pdf`: Gradescope's upload of a manually
    graded submission)."""
    browser = pdf_printer() if pdf else None  # a missing Chromium stops before any grading
    if pdf and out is None:
        raise UnlearnbookError("pdf=True needs out (the PDFs go beside the grades table); "
                               "allowed: a path such as assignments/dist/grades-sure.csv")
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
    listed = archive.parent / WRITTEN
    written = json.loads(listed.read_text()) if listed.is_file() else []
    by_hand = sum(q["points"] for q in written)
    answers_dir = Path(out).with_name(f"{Path(out).stem}-written") if out is not None else None
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).unlink(missing_ok=True)
    rows = []
    for notebook in notebooks:
        row: dict = {"submission": notebook.name}
        try:
            with tempfile.TemporaryDirectory() as scratch:
                _run([*otter_command(), "run", "--no-logo", "-a", str(archive), "-o", scratch,
                      str(notebook)], time_limit=time_limit)
                results = json.loads((Path(scratch) / "results.json").read_text())
            scored = [t for t in results["tests"] if "score" in t]
            row.update({t["name"]: t["score"] for t in scored},
                       total=sum(t["score"] for t in scored),
                       possible=sum(t["max_score"] for t in scored) + by_hand)
        except (UnlearnbookError, OSError, ValueError, KeyError) as err:
            row["error"] = str(err).splitlines()[0]
        row["by_hand"] = by_hand
        rows.append(row)
        if answers_dir is not None and written:
            answers = _write_answers(notebook, written, answers_dir)
            if browser is not None:
                answers_pdf(answers, answers.with_suffix(".pdf"), browser)
        if out is not None:
            write_text(out, pd.DataFrame(rows).to_csv(index=False))
    table = pd.DataFrame(rows)
    if "error" not in table:
        table["error"] = ""
    return table.fillna({"error": ""})


def _write_answers(notebook: Path, written: list[dict], folder: Path) -> Path:
    """One Markdown file per submission with its written answers, each under its question's
    name and points (empty where the notebook cannot be read or holds no answer); its path."""
    try:
        answers = written_answers(json.loads(notebook.read_text()))
    except (OSError, ValueError):
        answers = []
    parts = [f"# {notebook.name}: written answers, to grade by hand\n"]
    for index, question in enumerate(written):
        answer = answers[index] if index < len(answers) else "(no answer found)"
        parts.append(f"## {question['name']} ({question['points']} points)\n\n{answer}\n")
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / f"{notebook.stem}.md", "\n".join(parts))
    return folder / f"{notebook.stem}.md"


def find_chromium() -> str | None:
    """The Chromium (or Chrome) command on this machine, or None."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
                None)


def pdf_printer() -> str:
    """The Chromium (or Chrome) that prints the written answers as PDF, or one error saying
    what to install."""
    found = find_chromium()
    if found:
        return found
    raise UnlearnbookError("no Chromium on this machine to print the written answers as PDF; "
                           "allowed: install chromium (Debian: apt install chromium), or grade "
                           "from the Markdown files without --pdf")


def answers_pdf(markdown: Path, out: Path, browser: str | None = None) -> Path:
    """A submission's written answers (the Markdown of :func:`_write_answers`) as a PDF, printed
    by headless Chromium from HTML (TeX stays as typed: the grader reads it as written)."""
    from nbconvert.filters.markdown import markdown2html

    body = markdown2html(markdown.read_text())
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>body {font: 11pt/1.45 "
            "sans-serif; margin: 2cm;} h1 {font-size: 15pt;} h2 {font-size: 12.5pt; "
            "margin-top: 1.5em;} a.anchor-link {display: none;} pre, code {white-space: "
            f"pre-wrap;}}</style></head><body>{body}</body></html>")
    with tempfile.TemporaryDirectory() as scratch:
        html = Path(scratch) / "answers.html"
        html.write_text(page, encoding="utf-8")
        printed = Path(scratch) / "answers.pdf"
        try:
            subprocess.run([browser or pdf_printer(), "--headless", "--no-sandbox",
                            "--disable-gpu", f"--user-data-dir={scratch}/profile",
                            "--no-pdf-header-footer", f"--print-to-pdf={printed}",
                            html.as_uri()], capture_output=True, timeout=120, check=True)
        except (subprocess.SubprocessError, OSError) as err:
            raise UnlearnbookError(f"Chromium could not print {markdown.name} as PDF "
                                   f"({type(err).__name__})") from None
        if not printed.is_file():
            raise UnlearnbookError(f"Chromium printed no PDF for {markdown.name}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(printed, out)
    return out
