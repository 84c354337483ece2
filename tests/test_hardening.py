"""Hostile and careless input (issue 27): shell injection, deletion outside results, orphaned
grids, stale results, damaged checkpoints, thread counts, file modes, empty sets, types and
ranges, profile typos and unknown notebook parameters."""
import dataclasses
import importlib
import inspect
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import unlearnbook as ub
from unlearnbook import cli, runner
from unlearnbook.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]

#: A minimal valid smoke profile (LFSSD, one run) that the tests below damage one key at a time.
BASE = {
    "name": "tiny",
    "papers": {"lfssd": {
        "seeds": [0],
        "architectures": {"rn": {"name": "smallcnn",
                                 "recipe": {"epochs": 1, "lr": 0.05, "batch_size": 64}}},
        "defaults": {"archs": ["rn"], "val_fraction": 0.0, "methods": ["original", "lfssd"]},
        "runs": [{"id": "one", "dataset": "digits", "scenario": "class", "forget_class": 3}],
    }},
}


def _profile(tmp_path: Path, change=None) -> Path:
    data = json.loads(json.dumps(BASE))
    if change:
        change(data)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _section(data: dict) -> dict:
    return data["papers"]["lfssd"]


# --- security ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("id", "$(touch PWNED)"), ("id", "a;b"), ("id", "../up"), ("name", "../victim"),
    ("name", "a b"), ("arch", "r`n`"),
])
def test_unsafe_names_are_refused_at_planning(tmp_path, field, value):
    def change(data):
        section = _section(data)
        if field == "id":
            section["runs"][0]["id"] = value
        elif field == "name":
            data["name"] = value
        else:
            section["architectures"] = {value: section["architectures"]["rn"]}
            section["defaults"]["archs"] = [value]
    with pytest.raises(ub.UnlearnbookError, match="is not a safe name"):
        runner.plan(_profile(tmp_path, change), ["lfssd"])
    assert not list(tmp_path.glob("PWNED")) and not (tmp_path.parent / "victim").exists()


def test_no_value_reaches_snakemakes_shell_unquoted():
    """Every wildcard and log path in a ``shell:`` line is quoted (``:q``) and every plan value
    goes through ``q()``; no bare ``{PLAN[...]}`` or ``{PLAN_FILE}`` remains."""
    text = runner.workflow_file("Snakefile").read_text()
    shells = [line for line in text.splitlines() if line.strip().startswith("shell:")]
    assert len(shells) == 4
    for line in shells:
        assert not re.search(r"\{\{(wildcards\.\w+|log)\}\}", line), line
        assert not re.search(r"(?<!q\()\{(PLAN\[|PLAN_FILE|PY)\b", line.replace("{q(", "")), line


def test_a_snakemake_job_with_a_hostile_results_path_runs_nothing_it_names(tmp_path):
    """A results folder named like a command substitution is passed to the shell quoted: the
    dry run prints the quoted command and nothing is executed."""
    results = tmp_path / "$(touch PWNED)"
    env = {**os.environ, "UNLEARNBOOK_NOTEBOOKS": str(ROOT / "notebooks"),
           "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "unlearnbook.cli", "run", "--profile",
                           str(_profile(tmp_path)), "--results", str(results), "--dry-run"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "PWNED").exists()


def test_nothing_outside_the_results_folder_is_removed(tmp_path):
    results, victim = tmp_path / "results", tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    with pytest.raises(ub.UnlearnbookError, match="not inside the results folder"):
        runner.remove_inside(results / ".." / "victim", results)
    with pytest.raises(ub.UnlearnbookError, match="not inside the results folder"):
        runner.remove_inside(results, results)
    assert (victim / "keep.txt").read_text() == "mine"
    inside = results / "p" / "lfssd" / "x"
    inside.mkdir(parents=True)
    runner.remove_inside(inside, results)
    assert not inside.exists()


# --- data loss and races ----------------------------------------------------------------------

def test_a_killed_grid_keeps_its_lock_while_snakemake_lives(tmp_path):
    """SIGKILL to ``unlearnbook run`` leaves Snakemake holding the grid lock (or stopping with
    it): an immediate rerun says another grid is running instead of starting a second one."""
    env = {**os.environ, "UNLEARNBOOK_NOTEBOOKS": str(ROOT / "notebooks"),
           "PYTHONPATH": str(ROOT / "src"), "UNLEARNBOOK_CACHE": str(tmp_path / "cache")}
    results = tmp_path / "results"
    command = [sys.executable, "-m", "unlearnbook.cli", "run", "--profile", "smoke", "--paper",
               "lfssd", "--results", str(results)]
    grid = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    logs = results / "smoke" / ".logs"
    deadline = time.monotonic() + 120
    while not any(logs.rglob("*.log")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(logs.rglob("*.log")), "no job started within 2 minutes"
    grid.send_signal(signal.SIGKILL)
    grid.wait(timeout=30)
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    try:  # the orphaned Snakemake (its job runs for a minute) still holds the lock
        assert rerun.returncode == 2, rerun.stdout + rerun.stderr
        assert "another grid is running" in rerun.stderr
    finally:
        subprocess.run(["pkill", "-INT", "-f", str(results)], check=False)
        time.sleep(2)
        subprocess.run(["pkill", "-KILL", "-f", str(results)], check=False)


def _run_folder(tmp_path: Path) -> tuple:
    """The minimal profile's run and its (new, empty) run folder under ``tmp_path/results``."""
    run = runner.plan(_profile(tmp_path))[0]
    folder = runner.run_dir(tmp_path / "results", run)
    folder.mkdir(parents=True)
    return run, folder


def test_changed_parameters_make_a_finished_run_stale(tmp_path):
    """A run whose parameters changed under the same id is "to do" again (the dry run says
    why) and the report leaves it out by name."""
    run, folder = _run_folder(tmp_path)
    (folder / "results.csv").write_text("method\n")
    (folder / "run.json").write_text(json.dumps(runner.run_record(run)))
    assert runner.finished(folder, run) and not runner.stale(folder, run)

    def more_epochs(data):
        _section(data)["architectures"]["rn"]["recipe"]["epochs"] = 2
    changed = runner.plan(_profile(tmp_path, more_epochs))[0]
    assert runner.stale(folder, changed) == "its parameters changed since it ran"
    assert not runner.finished(folder, changed)
    (folder / "run.json").write_text("{}")
    assert runner.stale(folder, run) == "it records no parameter hash"


def test_a_change_to_a_methods_code_or_defaults_makes_a_finished_run_stale(tmp_path,
                                                                            monkeypatch):
    """Issue 35.1: the profile's values are not all a run depends on. A run records each
    method's resolved hyper-parameters and code fingerprint; a new default or new math makes
    it stale, named by method, while a docstring or comment edit does not."""
    run, folder = _run_folder(tmp_path)
    (folder / "results.csv").write_text("method\n")
    (folder / "run.json").write_text(json.dumps(
        {"parameters_hash": runner.parameters_hash(run.parameters)}))
    assert runner.stale(folder, run) == "it predates the record of its methods' code and defaults"
    (folder / "run.json").write_text(json.dumps(runner.run_record(run)))
    assert not runner.stale(folder, run)
    name = next(label for label in runner.method_hashes(runner.full_parameters(run))
                if label in ub.methods.available() and ub.methods.hyperparameters(label))
    info = ub.methods.info(name)
    given = runner.full_parameters(run).get("method_hp", {}).get(name, {})
    key = next(k for k in info.hyperparameters if k not in given)  # a default the run uses
    original = info.fn

    def new_default(*args, **kwargs):
        return original(*args, **kwargs)
    parameters = [p.replace(default="changed") if p.name == key else p
                  for p in inspect.signature(original).parameters.values()]
    new_default.__signature__ = inspect.Signature(parameters)
    new_default.__module__ = original.__module__
    monkeypatch.setitem(ub.methods.registry._METHODS, name,
                        dataclasses.replace(info, fn=new_default))
    assert runner.stale(folder, run) == (f"the code or default hyper-parameters of {name} "
                                         "changed since it ran")
    monkeypatch.setitem(ub.methods.registry._METHODS, name, info)
    assert not runner.stale(folder, run)
    trees = {label: ub.methods.registry._module_trees(module)[0].split(":", 1)[1]
             for label, module in _three_versions(tmp_path, monkeypatch, "fingerprinted",
                                                  "f").items()}
    assert trees["plain"] == trees["documented"] != trees["new_math"]


def _three_versions(tmp_path: Path, monkeypatch, prefix: str, name: str, tail: str = ""
                    ) -> dict[str, str]:
    """Three importable modules ``<prefix>_<label>`` defining ``name(x)``: plain, documented (a
    docstring and a comment more) and new_math (another result), each followed by ``tail``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = {}
    for label, text in (("plain", f"def {name}(x):\n    return x + 1\n"),
                        ("documented",
                         f'def {name}(x):\n    """Says more."""\n    return x + 1  # c\n'),
                        ("new_math", f"def {name}(x):\n    return x - 1\n")):
        (tmp_path / f"{prefix}_{label}.py").write_text(text + tail)
        modules[label] = f"{prefix}_{label}"
    return modules


def test_a_change_to_its_metric_suite_makes_a_finished_run_stale(tmp_path, monkeypatch):
    """Issue 35.1: a run records its metric suite's code (the suite, its oracle comparisons and
    the metrics functions they call) with the epoch rule; a new metric there makes it stale,
    another paper's suite or a docstring does not."""
    run, folder = _run_folder(tmp_path)
    suites_module = importlib.import_module("unlearnbook.metrics.suites")
    record = runner.run_record(run)
    (folder / "results.csv").write_text("method\n")
    (folder / "run.json").write_text(json.dumps({k: v for k, v in record.items()
                                                 if k != "scoring"}))
    assert runner.stale(folder, run) == "it predates the record of its metric suite's code"
    (folder / "run.json").write_text(json.dumps(record))
    assert not runner.stale(folder, run)
    own = run.paper if run.paper in ub.metrics.suites() else "lfssd"
    other = next(name for name in ub.metrics.suites() if name != own)
    fingerprints = {name: ub.metrics.suite_fingerprint(name) for name in ub.metrics.suites()}

    def documented(model, task):
        """Another docstring."""
        return {}

    def new_math(model, task):
        return {"new": 1.0}
    for fn in (documented, new_math):
        fn.__module__ = suites_module.__name__
    monkeypatch.setitem(suites_module._SUITES, other, new_math)
    assert ub.metrics.suite_fingerprint(other) != fingerprints[other]
    assert ub.metrics.suite_fingerprint(own) == fingerprints[own]
    monkeypatch.setitem(suites_module._SUITES, own, documented)
    changed = ub.metrics.suite_fingerprint(own)
    monkeypatch.setitem(suites_module._SUITES, own, new_math)
    assert ub.metrics.suite_fingerprint(own) != changed
    assert runner.stale(folder, run) == ("its metric suite's code (or the epoch rule) changed "
                                         "since it ran")
    monkeypatch.undo()
    assert not runner.stale(folder, run)
    # a function the suite calls counts too (transitively); docstrings and comments never
    fingerprints = {
        label: ub.codehash.function_fingerprint([importlib.import_module(module).f], "scored_")
        for label, module in _three_versions(tmp_path, monkeypatch, "scored", "g",
                                             "\n\ndef f(x):\n    return g(x)\n").items()}
    assert fingerprints["plain"] == fingerprints["documented"] != fingerprints["new_math"]


def _tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNBOOK_CACHE", str(tmp_path / "cache"))
    task = ub.data.make_task("digits", "class", forget_class=3)
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    recipe = ub.train.Recipe(epochs=1, lr=0.05, batch_size=64)
    return task, model, recipe


@pytest.mark.parametrize("damage", ["cut", "empty", "flip", "no-hash"])
def test_a_damaged_checkpoint_is_moved_aside_and_retrained(tmp_path, monkeypatch, damage):
    task, model, recipe = _tiny_model(tmp_path, monkeypatch)
    first = ub.train.fit(model, task.train, recipe)
    path = next((tmp_path / "cache" / "checkpoints").glob("*.pt"))
    data = path.read_bytes()
    if damage == "cut":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "flip":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 2000])
                         + data[middle + 2000:])
    else:
        meta = json.loads(path.with_suffix(".json").read_text())
        meta.pop("sha256")
        path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="failed its integrity check"):
        second = ub.train.fit(model, task.train, recipe)
    assert not second.fit_info.cached
    assert list(path.parent.glob("*.bad-*.pt"))
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert ub.train.fit(model, task.train, recipe).fit_info.cached  # healthy again


def test_the_cache_key_holds_the_thread_count(tmp_path, monkeypatch):
    task, model, recipe = _tiny_model(tmp_path, monkeypatch)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ub.train.cache_key(model, task.train, recipe, 0)
        torch.set_num_threads(2)
        two = ub.train.cache_key(model, task.train, recipe, 0)
    finally:
        torch.set_num_threads(threads)
    assert one != two


def test_atomic_writes_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "shared.txt") as tmp:
            Path(tmp).write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, needle", [
    (dict(scenario="random", forget_fraction=0.9999), "empty retain set"),
    (dict(scenario="confusion", forget_size=4, confusion_classes=(1, 1)),
     "not two different classes"),
    (dict(scenario="random", forget_size="20"), "forget_size '20' is not an integer"),
    (dict(scenario="random", forget_size=2.5), "forget_size 2.5 is not an integer"),
    (dict(scenario="random", forget_size=-5), "forget_size -5 is out of range"),
])
def test_bad_task_arguments_fail_early(kwargs, needle):
    with pytest.raises(ub.UnlearnbookError, match=re.escape(needle)):
        ub.data.make_task("digits", **kwargs)


def test_numpy_integers_are_accepted():
    task = ub.data.make_task("digits", "class", forget_class=np.int64(3), seed=np.int32(0))
    assert task.forget_class == 3


def _empty_forget(task):
    task.forget = task.forget.subset(np.array([], dtype=np.int64))
    return task


@pytest.mark.parametrize("method", ["neggrad_plus", "be_plus", "bs_plus", "badteacher_paired",
                                    "dau", "ntk", "finetune"])
def test_an_empty_forget_set_is_refused_not_looped_on(method):
    task = _empty_forget(ub.data.make_task("digits", "class", forget_class=3))
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    with pytest.raises(ub.UnlearnbookError, match="forget set is empty"):
        ub.methods.unlearn(method, model, task)
    with pytest.raises(ub.UnlearnbookError, match="cannot score a task with forget 0"):
        ub.metrics.evaluate(model, task, suite="lfssd")


@pytest.mark.parametrize("kwargs, needle", [
    (dict(epochs="3"), "recipe epochs '3' is not an integer"),
    (dict(epochs=-1), "recipe epochs -1 is out of range"),
    (dict(batch_size=0), "recipe batch_size 0 is out of range"),
    (dict(epochs=3, stop_epoch=5), "recipe stop_epoch 5 is out of range"),
    (dict(lr="0.1"), "recipe lr '0.1' is not a number"),
    (dict(augment="yes"), "recipe augment 'yes' is not a bool"),
])
def test_bad_recipes_fail_early(kwargs, needle):
    with pytest.raises(ub.UnlearnbookError, match=re.escape(needle)):
        ub.train.Recipe(**kwargs)


@pytest.mark.parametrize("method, hp, needle", [
    ("finetune", dict(epochs="3"), "epochs of method 'finetune' '3' is not an integer"),
    ("dau", dict(epochs="1"), "epochs of method 'dau' '1' is not a number"),
    ("lfssd", dict(alpha="3"), "alpha of method 'lfssd' '3' is not a number"),
    ("lfssd", dict(alpha=-1.0), "alpha of method 'lfssd' -1.0 is out of range"),
    ("neggrad_plus", dict(forget_batch_size=0), "out of range"),
])
def test_bad_hyperparameters_fail_early(method, hp, needle):
    task = ub.data.make_task("digits", "class", forget_class=3)
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    with pytest.raises(ub.UnlearnbookError, match=re.escape(needle)):
        ub.methods.unlearn(method, model, task, **hp)


@pytest.mark.parametrize("change, needle", [
    (lambda d: _section(d).update(seed=[1]), "unknown key(s) ['seed']"),
    (lambda d: d.update(extra=1), "unknown key(s) ['extra']"),
    (lambda d: _section(d).update(tutorial="nope-rn-s0"), "unknown tutorial run"),
    (lambda d: _section(d)["architectures"]["rn"].update(kwargs={"widht": 3}),
     "unknown key(s) ['widht']"),
    (lambda d: _section(d).pop("runs"), "lacks the key(s) ['runs']"),
    (lambda d: _section(d)["runs"][0].pop("id"), "lacks the key(s) ['id']"),
    (lambda d: _section(d).pop("architectures"), "lacks the key(s) ['architectures']"),
    (lambda d: _section(d)["runs"][0].update(forget_class=42), "forget_class of a 'digits' run 42"),
])
def test_profile_mistakes_fail_at_planning(tmp_path, change, needle):
    with pytest.raises(ub.UnlearnbookError, match=re.escape(needle)):
        runner.plan(_profile(tmp_path, change))


def test_an_unknown_notebook_parameter_stops_the_notebook():
    declared = ["dataset", "In"]
    namespace = {"dataset": "digits", "nosuch": 1, "ub": ub, "In": [], "_": None,
                 "_declared": declared}
    with pytest.raises(ub.UnlearnbookError, match=re.escape("unknown notebook parameter(s) "
                                                            "['nosuch']")):
        ub.profiles.check_parameters("lfssd", namespace)
    ub.profiles.check_parameters("lfssd", {"dataset": "digits", "ub": ub, "_declared": declared})
    for paper in ("lfssd", "dau", "sure", "adaprob", "cross"):
        cells = json.loads((ROOT / "notebooks" / f"{paper}.ipynb").read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"]["tags"]
        assert "".join(code[0]["source"]).rstrip().splitlines()[-1].startswith("_declared = ")
        assert f"ub.profiles.check_parameters({paper!r}, globals())" in "".join(code[1]["source"])
        assert "_declared" not in ub.profiles.notebook_parameters(paper)


def test_papermill_with_an_unknown_parameter_fails_with_one_line(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="unknown notebook parameter"):
        papermill.execute_notebook(str(ROOT / "notebooks" / "lfssd.ipynb"),
                                   str(tmp_path / "out.ipynb"),
                                   parameters={"nosuch": 1, "progress": False},
                                   progress_bar=False, kernel_name="python3", cwd=str(tmp_path))


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_a_damaged_initial_weights_file_is_rebuilt_not_used(tmp_path, monkeypatch, damage):
    """Issue 37.1: the pre-trained starts under the cache's init/ folder are named by their
    content's hash. A file whose bytes were flipped (it still loads, with wrong weights) or cut
    (it no longer loads) is moved aside with a warning and written anew, so every model
    trained from it starts from the right weights."""
    monkeypatch.setenv("UNLEARNBOOK_CACHE", str(tmp_path / "cache"))
    task = ub.data.make_task("digits", "partial", forget_class=0, forget_size=10,
                             classes=2, val_fraction=0.0)
    pretrain = {"dataset": "digits", "classes": 4, "recipe": {"epochs": 1, "lr": 0.05}}
    good = ub.pipeline.pretrained_start(task, "smallcnn", {}, pretrain)
    path = Path(good.spec["weights"])
    state = torch.load(path, weights_only=True)
    if damage == "flipped":
        state = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
        torch.save(state, path)
    else:
        path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="failed its integrity check"):
        again = ub.pipeline.pretrained_start(task, "smallcnn", {}, pretrain)
    assert ub.train.state_hash(again) == ub.train.state_hash(good) == path.stem
    assert list(path.parent.glob("*.bad-*"))


def _run_entry(**values):
    def change(data):
        _section(data)["runs"][0].update(values)
    return change


def _defaults(**values):
    def change(data):
        _section(data)["defaults"].update(values)
    return change


def _section_key(**values):
    def change(data):
        _section(data).update(values)
    return change


def _arch(**values):
    def change(data):
        _section(data)["architectures"]["rn"].update(values)
    return change


def _recipe(**values):
    def change(data):
        _section(data)["architectures"]["rn"]["recipe"].update(values)
    return change


#: Issue 37.2: bad profile values, each refused at planning with one message naming it.
BAD_PROFILES = [
    (_defaults(method_hp={"lfsd": {"alpha": 3.0}}), "method named in method_hp 'lfsd'"),
    (_defaults(method_hp={"lfssd": 3.0}), "method_hp of 'lfssd' is 3.0"),
    (_defaults(method_hp=["lfssd"]), "method_hp \\['lfssd'\\] is not a mapping"),
    (_defaults(method_hp={"lfssd": {"alpah": 3.0}}), "unknown hyper-parameter"),
    (_defaults(method_hp={"lfssd": {"alpha": "big"}}), "alpha of method 'lfssd'"),
    (_defaults(method_hp={"lfssd": {"alpha": -1.0}}), "alpha of method 'lfssd'"),
    (_defaults(method_hp={"lfssd": {"batch_size": 0}}), "batch_size of method 'lfssd'"),
    (_defaults(methods=[]), "methods \\[\\] is not allowed"),
    (_defaults(methods="lfssd"), "methods 'lfssd' is not allowed"),
    (_defaults(methods=[3]), "method entry 3 is not allowed"),
    (_defaults(methods=[{"nmae": "lfssd"}]), "unknown key\\(s\\) \\['nmae'\\]"),
    (_defaults(methods=[{"label": "x"}]), "lacks the key\\(s\\) \\['name'\\]"),
    (_defaults(methods=[{"name": "lfssd", "hp": 3}]), "is not a mapping"),
    (_defaults(methods=["original", "nope"]), "method 'nope'"),
    (_defaults(methods=["lfssd", "lfssd"]), "labels must be unique"),
    (_run_entry(forget_size=0, scenario="random"), "forget_size 0"),
    (_run_entry(forget_size=100000, scenario="random"), "larger than the training set"),
    (_run_entry(forget_size=2.5, scenario="random"), "forget_size 2.5"),
    (_run_entry(forget_fraction=1.5, scenario="random"), "forget_fraction"),  # not LFSSD's
    (_defaults(val_fraction=1.5), "val_fraction 1.5"),
    (_defaults(val_fraction=-0.1), "val_fraction -0.1"),
    (_defaults(task_kwargs={"train_per_klass": 10}), "unknown task_kwargs"),
    (_defaults(task_kwargs={"train_per_class": 0}), "train_per_class 0"),
    (_defaults(task_kwargs=[1]), "task_kwargs \\[1\\] is not a mapping"),
    (_run_entry(forget_class=10), "forget_class of a 'digits' run 10"),
    (_run_entry(forget_class=-1), "forget_class -1"),
    (_run_entry(forget_class="lamp"), "forget_class of a 'digits' run 'lamp'"),
    (_run_entry(dataset="cifar11"), "dataset 'cifar11'"),
    (_run_entry(scenario="sideways"), "scenario 'sideways'"),
    (_run_entry(scenario="subclass"), "scenario 'subclass' needs superclass labels"),
    (_run_entry(scenario="confusion", task_kwargs={"confusion_classes": [1, 1]}),
     "confusion_classes"),
    (_run_entry(arch="resnet18"), "would be overwritten by the runner"),
    (_defaults(train_seed=3), None),  # a seed on an axis the section does not vary: allowed
    (_defaults(split_seed=3), "\\['split_seed'\\] .* would be overwritten by the runner"),
    (_section_key(seed_axes=["split"], defaults={"archs": ["rn"], "val_fraction": 0.0,
                                                 "methods": ["original"], "split_seed": 3}),
     "would be overwritten by the runner"),
    (_section_key(seed_axes=["sideways"]), "seed axis 'sideways'"),
    (_section_key(seeds=[-1]), "seed -1"),
    (_section_key(seed=[0]), "unknown key\\(s\\) \\['seed'\\]"),
    (_section_key(runs=[]), "non-empty list of run entries"),
    (_section_key(tutorial="nope"), "tutorial run"),
    (_run_entry(select_epoch="best"), "select_epoch"),  # not LFSSD's: named as unknown
    (_arch(name="resnet99"), "model name"),
    (_arch(kwargs={"widht": 16}), "unknown key\\(s\\) \\['widht'\\]"),
    (_recipe(epochs=-1), "recipe epochs -1"),
    (_recipe(lr=0), "recipe lr 0"),
    (_recipe(schedule="sawtooth"), "schedule 'sawtooth'"),
    (_recipe(weights="fp8"), "weights 'fp8'"),
    (_recipe(precision="fp64"), "precision 'fp64'"),
    (_recipe(nesterov="yes"), "recipe nesterov 'yes'"),
    (_recipe(speed=2), "unknown recipe field"),
]


@pytest.mark.parametrize("change, message", BAD_PROFILES,
                         ids=[f"bad-{i}" for i in range(len(BAD_PROFILES))])
def test_every_bad_profile_value_is_refused_at_planning(tmp_path, change, message):
    path = _profile(tmp_path, change)
    if message is None:
        runner.plan(path, ["lfssd"])
        return
    with pytest.raises(ub.UnlearnbookError, match=message):
        runner.plan(path, ["lfssd"])


@pytest.mark.parametrize("text, message", [
    ("name: a\nname: b\npapers: {}\n", "key 'name' appears twice"),
    ("papers: {lfssd: [\n", "is not valid YAML"),
    ("- just\n- a list\n", "is not a mapping"),
])
def test_a_profile_file_that_is_not_a_clean_mapping_is_refused(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ub.UnlearnbookError, match=message):
        runner.plan(path)


def test_an_empty_run_list_is_an_error_not_the_whole_grid(tmp_path):
    with pytest.raises(ub.UnlearnbookError, match="names no run"):
        runner.plan(_profile(tmp_path), ["lfssd"], only=[""])


def test_missing_data_is_not_bad_input(tmp_path, monkeypatch):
    """Issue 37.5: a CIFAR run that failed because the data was not there must be retried once
    it is: the error is DataMissing (still an UnlearnbookError, one clear line), and the grid
    marks only a plain UnlearnbookError as bad input."""
    monkeypatch.delenv("UNLEARNBOOK_DOWNLOAD", raising=False)
    with pytest.raises(ub.UnlearnbookError) as caught:
        ub.data.sources.load_raw("cifar10", tmp_path, download=False)
    assert type(caught.value).__name__ == "DataMissing"
    assert "UNLEARNBOOK_DOWNLOAD=1" in str(caught.value)
    assert runner.bad_input("UnlearnbookError") and not runner.bad_input("DataMissing")


def test_a_damaged_run_folder_is_a_run_to_redo_not_a_crash(tmp_path):
    """Issue 37.7: a cut run.json or a missing results.csv makes the run stale (the dry run
    says why, the grid redoes it) and the report leaves it out with a warning."""
    run, folder = _run_folder(tmp_path)
    (folder / "run.json").write_text('{"parameters_hash": ')
    assert runner.stale(folder, run) == "its run.json is unreadable"
    assert not runner.finished(folder, run)
    (folder / "run.json").write_text(json.dumps(runner.run_record(run)))
    assert runner.stale(folder, run) == "its results.csv is missing"
    with pytest.warns(UserWarning, match="results.csv cannot be read"):
        frame = ub.report.collect(tmp_path / "results", "tiny")
    assert frame.empty


def test_the_summary_names_a_failed_original_and_the_runs_it_held_back(tmp_path):
    """Issue 37.3: runs that never started because their shared original failed are named under
    that original's last log line and log, not "an original it needs failed?" with a log that
    does not exist; a run that failed itself keeps its own line."""
    runs = ub.runner.plan("smoke", ["lfssd"])
    keys = [ub.runner.original_key(ub.runner.full_parameters(r)) for r in runs]
    shared = next(k for k in keys if keys.count(k) > 1)
    held = [r.run_id for r, k in zip(runs, keys) if k == shared]
    logs = tmp_path / "smoke" / ".logs"
    (logs / "originals").mkdir(parents=True)
    (logs / "originals" / f"{shared}.log").write_text("Traceback ...\nRuntimeError: boom\n\n")
    own = next(r for r, k in zip(runs, keys) if k != shared)
    (logs / "lfssd").mkdir()
    (logs / "lfssd" / f"{own.run_id}.log").write_text("ValueError: its own fault\n")
    summary = ub.runner.summarise(runs, tmp_path, set())
    line = next(text for text in summary.split("\n") if text.startswith("FAILED original"))
    assert shared in line and "RuntimeError: boom" in line
    assert all(run_id in line for run_id in held)
    assert f"log: {logs / 'originals' / f'{shared}.log'}" in summary
    assert f"FAILED {own.run_id}: ValueError: its own fault" in summary
    assert "an original it needs failed?" not in summary


def test_a_bad_input_marker_names_its_error_and_lapses_when_the_inputs_change(tmp_path):
    """Issue 37.5: the marker keeps the first error and is refused only for the same
    parameters and methods' code; the refusal says which file to delete; a marker written by an
    older version (a bare hash) or from other inputs lets the run go ahead."""
    run = ub.runner.plan("smoke", ["lfssd"])[0]
    marker = tmp_path / "run.bad-input"
    runner.mark_bad_input(marker, run, "UnlearnbookError: forget_class 99 is out of range")
    refusal = runner.bad_input_refusal(marker, run)
    assert "forget_class 99 is out of range" in refusal and f"delete {marker}" in refusal
    changed = dataclasses.replace(run, parameters={**run.parameters, "val_fraction": 0.25})
    assert runner.bad_input_refusal(marker, changed) == ""
    marker.write_text(runner.parameters_hash(run.parameters))  # the old format
    assert runner.bad_input_refusal(marker, run) == ""
    assert runner.bad_input_refusal(tmp_path / "absent.bad-input", run) == ""


def test_an_unwritable_results_folder_is_one_line_not_a_traceback(tmp_path, monkeypatch,
                                                                   capsys):
    """Issue 37.7: a results folder the user cannot write ends even the dry run with one clear
    line naming the path (root ignores permissions, so the write itself is made to fail)."""
    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(runner, "write_text", refuse)
    assert cli.main(["run", "--profile", "smoke", "--paper", "lfssd", "--results",
                        str(tmp_path / "ro"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err and str(tmp_path / "ro") in err


def test_damaged_cache_files_set_aside_do_not_pile_up(tmp_path, monkeypatch):
    """Issue 37.7: each damaged file keeps one copy set aside (the newest), not one per
    failure; another file's copies are left alone."""
    stamps = iter(["20260101-000000", "20260101-000001"])
    monkeypatch.setattr(ub.train.time, "strftime", lambda fmt: next(stamps))
    path, other = tmp_path / "abc.pt", tmp_path / "abd.bad-20250101-000000.pt"
    other.write_text("someone else's")
    for content in ("first damage", "second damage"):
        path.write_text(content)
        with pytest.warns(UserWarning, match="failed its integrity check"):
            ub.train.set_aside(path, "sha256 mismatch")
    kept = sorted(p.name for p in tmp_path.glob("abc.bad-*"))
    assert kept == ["abc.bad-20260101-000001.pt"] and other.exists()
    assert (tmp_path / kept[0]).read_text() == "second damage" and not path.exists()


def test_a_linked_profile_folder_works_and_a_link_inside_it_is_refused(tmp_path):
    """Issue 37.7: results/<profile> may be a link (a bigger disk): its run folders are
    removed and redone inside it; a linked run folder or log folder inside the tree is refused,
    and the folder it points to is left untouched."""
    disk, results = tmp_path / "disk", tmp_path / "results"
    (disk / "p" / "lfssd" / "x").mkdir(parents=True)
    results.mkdir()
    (results / "p").symlink_to(disk / "p", target_is_directory=True)
    runner.remove_inside(results / "p" / "lfssd" / "x", results / "p")
    assert not (disk / "p" / "lfssd" / "x").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text("{}")
    (results / "p" / "lfssd" / "y").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ub.UnlearnbookError, match="is a link inside the results tree"):
        runner.remove_inside(results / "p" / "lfssd" / "y", results / "p")
    with pytest.raises(ub.UnlearnbookError, match="is a link inside the results tree"):
        runner.check_no_links(results / "p" / "lfssd" / "y" / "sub", results / "p")
    assert (elsewhere / "run.json").read_text() == "{}"


def test_the_provenance_names_the_thread_count(tmp_path):
    """Issue 37.8: the thread count is in the cache key, so numbers may differ with it: every
    result row's hardware names it, and the book's provenance line shows that hardware."""
    import torch

    line = ub.pipeline.hardware()
    if ub.device.default_device().type == "cpu":
        assert line.endswith(f", {torch.get_num_threads()} thread(s)")
    meta = {"profile": "p", "description": "d", "built": "now", "papers": {"lfssd": {
        "runs": 1, "datasets": ["digits"], "sources": ["embedded"], "hardware": [line],
        "seeds": {}, "grid": {}}}}
    text = ub.report.BookData(pd.DataFrame(), meta, tmp_path).provenance("lfssd")
    assert f"hardware {line}" in text


def test_a_stray_failed_notebook_stays_out_of_the_book(tmp_path):
    """Issue 37.7: an executed notebook a failed run left under ``results/<profile>/.logs`` is
    no page of the book: the book's Sphinx configuration (as Jupyter Book builds it from
    _config.yml) excludes it from the documents Sphinx reads, and only the table of contents'
    files are built."""
    import yaml
    from jupyter_book.config import yaml_to_sphinx
    from sphinx.util.matching import get_matching_files

    recursive, config, _ = yaml_to_sphinx(yaml.safe_load((ROOT / "_config.yml").read_text()))
    config.update(recursive)
    assert config.get("external_toc_exclude_missing") is True
    for page in ("results/cpu/.logs/dau/c10-class-rn-s0.failed.ipynb",
                 "results/smoke/lfssd/class-rn-s0/lfssd.ipynb", "book/intro.md"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("{}")
    found = set(get_matching_files(tmp_path, exclude_patterns=config["exclude_patterns"]))
    assert found == {"book/intro.md"}, found


def test_a_stopped_run_resumes_at_its_first_unfinished_method(tmp_path, monkeypatch):
    """Issue 34: a run stopped in its third method redoes only that one (with the same rows
    and models as a run that never stopped); a changed input or a damaged file reuses nothing."""
    task = ub.data.make_task("digits", "random", forget_size=20, seed=0)
    model = ub.models.build("smallcnn", 10, 1, seed=0, width=4, hidden=8)
    original = ub.train.fit(model, task.train, ub.train.Recipe(epochs=2, lr=0.05, batch_size=64),
                            seed=0)
    hp = {"ga": {"epochs": 1}, "finetune": {"epochs": 1}}
    specs = ub.pipeline.method_specs(["ga", "retrain", "finetune"], hp)
    folder = tmp_path / "saved"
    real, calls = ub.methods.unlearn, []

    def stop_at_finetune(name, *args, **kwargs):
        calls.append(name)
        if name == "finetune":
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)

    def count(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ub.pipeline.method_registry, "unlearn", stop_at_finetune)
    with pytest.raises(KeyboardInterrupt):
        ub.pipeline.run_methods(original, task, specs, "lfssd", resume=folder)
    assert calls == ["retrain", "ga", "finetune"] and len(list(folder.glob("*.pt"))) == 2
    monkeypatch.setattr(ub.pipeline.method_registry, "unlearn", count)
    calls.clear()
    monkeypatch.setenv(runner.RESUME_ENV, str(folder))  # the runner's way of asking
    resumed, models = ub.pipeline.run_methods(original, task, specs, "lfssd")
    assert calls == ["finetune"]
    calls.clear()
    fresh, fresh_models = ub.pipeline.run_methods(original, task, specs, "lfssd",
                                                 resume=tmp_path / "elsewhere")
    assert calls == ["retrain", "ga", "finetune"]
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), fresh.drop(columns="seconds"))
    for label in ("ga", "retrain"):
        assert ub.train.state_hash(models[label]) == ub.train.state_hash(fresh_models[label])
        assert set(vars(models[label])) == set(vars(fresh_models[label]))
        assert models[label].unlearn_info.keys() == fresh_models[label].unlearn_info.keys()
    assert models["retrain"].fit_info.key == fresh_models["retrain"].fit_info.key
    # another input (ga's epochs) reuses only what it does not touch
    calls.clear()
    changed = ub.pipeline.method_specs(["ga", "retrain", "finetune"], {**hp, "ga": {"epochs": 2}})
    ub.pipeline.run_methods(original, task, changed, "lfssd")
    assert calls == ["ga"]
    # a damaged file is set aside and its method run again
    calls.clear()
    for path in folder.glob("*.pt"):
        path.write_bytes(b"cut")
    with pytest.warns(UserWarning, match="does not load"):
        ub.pipeline.run_methods(original, task, specs[1:2], "lfssd")
    assert calls == ["retrain"]
