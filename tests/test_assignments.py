"""The course assignments (Otter-Grader) and the registry hook that puts a student's method in the
book's pipeline. Building and grading run Otter as a teacher would, on digits."""
import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import unlearnbook as ub
from unlearnbook import teaching

ROOT = Path(__file__).resolve().parents[1]


def _has_otter() -> bool:
    try:
        return bool(teaching.otter_command())
    except ub.UnlearnbookError:
        return False


needs_otter = pytest.mark.skipif(not _has_otter(), reason="otter-grader (the teach extra) missing")


@pytest.fixture(scope="session")
def built_assignment(tmp_path_factory):
    """``built_assignment(name)``: the assignment built once per test session (Otter Assign,
    no test run), shared by every test that grades it, across xdist workers (a file lock)."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent / "assignments"
    root.mkdir(exist_ok=True)

    def build(name: str) -> teaching.Built:
        folder = root / name
        with FileLock(str(root / f"{name}.lock")):
            if not (folder / "done").exists():
                teaching.build(ROOT / "assignments", folder / "dist", [name], run_tests=False)
                (folder / "done").write_text("")
        zips = sorted((folder / "dist" / name / "autograder").glob(f"{name}-autograder_*.zip"))
        target = folder / "dist" / name
        return teaching.Built(name, target / "student" / f"{name}.ipynb",
                              target / "autograder" / f"{name}.ipynb", zips[-1])
    return build


@pytest.fixture
def own_methods():
    """Names this test registers; removed afterwards, so no other test meets them."""
    names = []
    yield names
    for name in names:
        ub.methods.registry._METHODS.pop(name, None)


def test_a_method_of_your_own_joins_the_registry_and_the_pipeline(digits_class_task,
                                                                   digits_original, own_methods):
    calls = []
    own_methods += ["my_lfssd", "my_other"]

    def importance(model, dataset, batch_size):
        calls.append(len(dataset))
        return ub.methods.dampening.importance(model, dataset,
                                               ub.methods.dampening.output_sq_norm, "abs",
                                               "batch_mean", batch_size)

    @ub.methods.register("my_lfssd", needs=(), deterministic=True)
    def my_lfssd(model: nn.Module, task, *, alpha: float = 3.0) -> nn.Module:
        return ub.methods.lfssd.lfssd(model, task, alpha=alpha, importance_fn=importance)

    assert ub.methods.hyperparameters("my_lfssd") == {"alpha": 3.0}
    # parts are code, not hyper-parameters: not listed, not settable from a profile
    assert "importance_fn" not in ub.methods.hyperparameters("lfssd")
    with pytest.raises(ub.UnlearnbookError, match="unknown hyper-parameter"):
        ub.methods.check_hyperparameters("lfssd", {"importance_fn": "x"})
    frame, models = ub.pipeline.run_methods(
        digits_original, digits_class_task,
        [ub.pipeline.MethodSpec("lfssd", hp={"alpha": 3.0}), ub.pipeline.MethodSpec("my_lfssd")],
        suite="lfssd")
    assert calls == [len(digits_class_task.train), len(digits_class_task.forget)]
    assert set(frame["label"]) == {"lfssd", "my_lfssd"}
    for mine, theirs in zip(models["my_lfssd"].parameters(), models["lfssd"].parameters()):
        assert torch.equal(mine, theirs)

    # re-running the notebook cell needs replace=True; the package's methods are never replaced
    with pytest.raises(ub.UnlearnbookError, match="replace=True"):
        ub.methods.register("my_lfssd")(my_lfssd)
    ub.methods.register("my_lfssd", needs=(), replace=True)(my_lfssd)
    with pytest.raises(ub.UnlearnbookError, match="package's own"):
        ub.methods.register("lfssd", replace=True)(my_lfssd)
    with pytest.raises(ub.UnlearnbookError, match="not a safe name"):
        ub.methods.register("../x")(my_lfssd)
    with pytest.raises(ub.UnlearnbookError, match="parts"):
        ub.methods.register("my_other", parts=("loss_fn",))(my_lfssd)


def test_dampen_part_reports_what_it_changed(digits_class_task, digits_original):
    """A variant's own dampening rule: the report counts the parameters it actually changed."""
    def halve_the_first_tensor(model, forget_importance, full_importance, alpha, lam):
        with torch.no_grad():
            next(model.parameters()).mul_(0.5)

    model = ub.methods.lfssd.lfssd(copy.deepcopy(digits_original),
                                   digits_class_task, dampen_fn=halve_the_first_tensor)
    first = next(digits_original.parameters())
    report = model.unlearn_info["dampening"]
    assert report["selected"].iloc[0] == int((first != 0).sum())
    assert report["selected"].iloc[1:].sum() == 0


def _scores(result: dict) -> dict[str, tuple[float, float]]:
    return {t["name"]: (t["score"], t["max_score"]) for t in result["tests"] if "score" in t}


def _grade_up_to_q2(built: teaching.Built, notebook: dict, tmp_path: Path) -> dict:
    """Grade a changed solution notebook up to q2's check (the end-to-end run after it is not
    what these tests are about; the grader scores the later questions 0)."""
    last = max(i for i, c in enumerate(notebook["cells"]) if 'grader.check("q2")' in
               "".join(c["source"]))
    notebook = {**notebook, "cells": notebook["cells"][:last + 1]}
    path = tmp_path / "changed" / f"{built.name}.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(notebook))
    return _otter_run(built, path, tmp_path)


def _otter_run(built: teaching.Built, notebook: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"graded-{notebook.stem}-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    teaching._run([*teaching.otter_command(), "run", "--no-logo", "-a", str(built.autograder),
                   "-o", str(out), str(notebook)])
    return json.loads((out / "results.json").read_text())


@needs_otter
@pytest.mark.parametrize("name", teaching.ASSIGNMENTS)
def test_assignment_builds_and_grades(name, tmp_path, built_assignment):
    """Otter Assign builds the student notebook and the autograder; the reference solution
    scores full marks on every autograded question; the untouched student notebook scores zero
    on each of them without crashing the grader; the student notebook holds no solution and no
    hidden test."""
    built = built_assignment(name)
    student_text = built.student.read_text()
    assert "BEGIN SOLUTION" not in student_text and "hidden: true" not in student_text
    table = teaching.grade([built.solution, built.student], built.autograder.parent,
                           tmp_path / "grades.csv")
    questions = [c for c in table.columns if c.startswith("q")]
    assert len(questions) >= 3
    solution, student = table.iloc[0], table.iloc[1]
    assert solution["total"] == solution["possible"] > 0, table.to_string()
    assert all(student[q] == 0 for q in questions), table.to_string()
    assert (tmp_path / "grades.csv").exists()


@needs_otter
def test_a_wrong_gradient_reversal_passes_public_tests_and_fails_hidden_ones(tmp_path,
                                                                           built_assignment):
    """The bug a public test cannot see: a gradient-reversal layer that does not flip the sign
    is the identity on the forward pass, so q1's and q2's public tests (values) pass; the hidden
    tests (gradients) fail it."""
    built = built_assignment("sure")
    notebook = json.loads(built.solution.read_text())
    flipped = 0
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if "return -ctx.coefficient * grad, None" in source:
            cell["source"] = source.replace("return -ctx.coefficient", "return ctx.coefficient")
            flipped += 1
    assert flipped == 1
    result = _grade_up_to_q2(built, notebook, tmp_path)
    scores = _scores(result)
    public = next(t for t in result["tests"] if t["name"] == "Public Tests")["output"]
    for question in ("q1", "q2"):
        assert f"{question} results: All test cases passed!" in public, public
        assert scores[question][0] < scores[question][1], scores


def test_assign_and_grade_refuse_bad_input(tmp_path):
    with pytest.raises(ub.UnlearnbookError, match="assignment 'gan'"):
        teaching.build(ROOT / "assignments", tmp_path, ["gan"])
    with pytest.raises(ub.UnlearnbookError, match="no assignment named"):
        teaching.build(ROOT / "assignments", tmp_path, [])
    with pytest.raises(ub.UnlearnbookError, match="not found"):
        teaching.build(tmp_path, tmp_path / "dist", ["sure"])
    with pytest.raises(ub.UnlearnbookError, match="no autograder zip"):
        teaching.grade(tmp_path, tmp_path)
    (tmp_path / "a.zip").write_bytes(b"")
    (tmp_path / "a.zip").rename(tmp_path / "sure-autograder_1.zip")
    with pytest.raises(ub.UnlearnbookError, match="no submission"):
        teaching.grade(tmp_path / "empty", tmp_path / "sure-autograder_1.zip")


def test_a_call_into_the_package_is_caught_however_it_is_reached():
    """Issue 39.1: the package is the answer key. The tracer names a call into
    unlearnbook.methods made directly, through an alias or deep inside a helper, and nothing
    for the student's own code."""
    from unlearnbook.methods.dau import barlow_twins as alias

    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))

    def own(z_forget, z_val, lam):
        zf, zv = z_forget - z_forget.mean(0), z_val - z_val.mean(0)
        return (zf.T @ zv).sum() * lam

    def helper(z_forget, z_val, lam):
        return alias(z_forget, z_val, lam)

    def cheat(z_forget, z_val, lam):
        return helper(z_forget, z_val, lam)
    assert teaching.package_calls(own, z, z, 0.1)[1] == []
    assert teaching.package_calls(cheat, z, z, 0.1)[1] == ["dau.barlow_twins"]
    assert teaching.package_calls(ub.methods.dau.barlow_twins, z, z, 0.1)[1]
    with pytest.raises(AssertionError, match="calls unlearnbook's own implementation"):
        teaching.assert_own_code(cheat, z, z, 0.1)
    with pytest.raises(AssertionError, match="returned nothing"):  # an untouched stub
        teaching.assert_own_code(lambda z_forget, z_val, lam: None, z, z, 0.1)
    assert teaching.assert_own_code(own, z, z, 0.1) is not None


@needs_otter
def test_a_submission_that_calls_the_package_loses_its_points(tmp_path, built_assignment):
    """Issue 39.1: an LFSSD submission whose q1 and q2 call the package's own functions passes
    every comparison with the package, and still loses points on both questions."""
    built = built_assignment("lfssd")
    notebook = json.loads(built.solution.read_text())
    replaced = 0
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if source.startswith("def loss_free_importance("):
            cell["source"] = (
                "def loss_free_importance(model, dataset, batch_size=64):\n"
                "    return ub.methods.dampening.importance(model, dataset, "
                "ub.methods.dampening.output_sq_norm, 'abs', 'batch_mean', batch_size)\n")
            replaced += 1
        elif "def dampen(" in source and source.startswith("@torch.no_grad()"):
            cell["source"] = (
                "def dampen(model, forget_importance, full_importance, alpha, lam):\n"
                "    report = ub.methods.dampening.dampen(model, forget_importance, "
                "full_importance, alpha=alpha, lam=lam)\n"
                "    return int(report['selected'].sum())\n")
            replaced += 1
    assert replaced == 2
    scores = _scores(_grade_up_to_q2(built, notebook, tmp_path))
    for question in ("q1", "q2"):
        assert scores[question][0] < scores[question][1], scores
