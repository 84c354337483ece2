"""The LFSSD notebook under papermill, the grid runner's resume, the report and the book build."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import unlearnbook as ub
from unlearnbook.report import BookData, lfssd_table, lfssd_verdict, prepare_book

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPE = {"epochs": 1, "lr": 0.05, "batch_size": 128}


def _tiny_profile(tmp_path: Path, runs: list[dict], name: str = "tiny",
                  seeds: tuple[int, ...] = (0,)) -> Path:
    profile = {"name": name, "description": "test profile", "papers": {"lfssd": {
        "seeds": list(seeds),
        "architectures": {"rn": {"name": "smallcnn", "kwargs": {"width": 8, "hidden": 16},
                                 "recipe": TINY_RECIPE}},
        "defaults": {"archs": ["rn"], "val_fraction": 0.0, "train_seed": 0, "retrain_seed": None,
                     "methods": ["original", "lfssd"], "method_hp": {"lfssd": {"alpha": 3.0}},
                     "progress": False},
        "runs": runs}}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "UNLEARNBOOK_NOTEBOOKS": str(ROOT / "notebooks"),
            "UNLEARNBOOK_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT / "src")}


def _cli(*args: str, tmp_path: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "unlearnbook.cli", *args], cwd=tmp_path,
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


NOTEBOOK_CASES = {
    "lfssd": dict(parameters={"methods": ["original", "ssd", "lfssd"]},
                  labels={"original", "ssd", "lfssd"}, metrics={"Dr", "Df", "MIA"}),
    "dau": dict(parameters={"methods": ["retrain", "ft", "dau"], "sparsities": [0.0, 0.95],
                            "rewind_epoch": 1,
                            "method_hp": {"ft": {"epochs": 1}, "dau": {
                                "batch_size": 64, "epochs": 0.2, "pretrain_iterations": 5}}},
                labels={"retrain", "ft", "dau"}, metrics={"UA", "RA", "TA", "MIA_efficacy"}),
}


@pytest.mark.parametrize("paper", sorted(NOTEBOOK_CASES))
def test_notebook_runs_under_papermill(paper, tmp_path):
    import papermill

    case = NOTEBOOK_CASES[paper]
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{paper}.ipynb"), str(tmp_path / "executed.ipynb"),
        parameters={"recipe": TINY_RECIPE, "arch_kwargs": {"width": 8, "hidden": 16},
                    "output_dir": str(out), "progress": False, **case["parameters"]},
        kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    results = pd.read_csv(out / "results.csv")
    assert set(results["label"]) == case["labels"]
    assert case["metrics"] <= set(results["metric"])
    for column in ("profile", "paper", "run_id", "seed", "train_seed", "seconds", "hp",
                   "data_source", "hardware"):
        assert column in results.columns
    keys = ["label", "metric"] + (["sparsity"] if "sparsity" in results else [])
    assert len(results) == results[keys].drop_duplicates().shape[0]
    assert json.loads((out / "forget_set.json").read_text())["dataset"] == "digits"


def test_runner_resumes_after_kill_and_reports_failures(tmp_path):
    runs = [{"id": f"class-{c}", "group": "class", "target": f"digit{c}", "dataset": "digits",
             "scenario": "class", "forget_class": c} for c in (1, 2, 3)]
    profile = _tiny_profile(tmp_path, runs)
    results = tmp_path / "results"
    proc = _cli("run", "--profile", str(profile), "--results", str(results), tmp_path=tmp_path,
                start_new_session=True)
    folder = results / "tiny" / "lfssd"
    deadline = time.time() + 180
    while not list(folder.glob("*/DONE")) and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name: p.stat().st_mtime for p in folder.glob("*/DONE")}
    assert 1 <= len(done_before) < 3
    started = [p.name for p in folder.iterdir() if p.is_dir()]
    # the report reads finished runs only, whatever the killed run left behind
    collected = ub.report.collect(results, "tiny", "lfssd")
    assert set(collected["run_id"]) == set(done_before)
    assert len(started) >= len(done_before)

    rerun = _cli("run", "--profile", str(profile), "--results", str(results), tmp_path=tmp_path)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert f"{len(done_before)} already done" in output
    for name, mtime in done_before.items():
        assert (folder / name / "DONE").stat().st_mtime == mtime  # not redone
    assert len(list(folder.glob("*/DONE"))) == 3
    assert len(ub.report.collect(results, "tiny", "lfssd")["run_id"].unique()) == 3

    bad = _tiny_profile(tmp_path, [{"id": "bad", "group": "class", "target": "x",
                                    "dataset": "digits", "scenario": "class",
                                    "forget_class": 99}], name="bad")
    failing = _cli("run", "--profile", str(bad), "--results", str(results), tmp_path=tmp_path)
    output, _ = failing.communicate(timeout=300)
    assert failing.returncode == 1
    assert "1 failed" in output and "forget_class 99 is out of range" in output
    assert "bad-rn-s0/lfssd.ipynb" in output
    assert not (results / "bad" / "lfssd" / "bad-rn-s0" / "DONE").exists()


def _fixture_results(tmp_path: Path) -> tuple[Path, Path]:
    """Synthetic finished runs: two seeds of lamp (class) and of random, three methods."""
    profile = _tiny_profile(tmp_path, [
        {"id": group, "group": group, "target": target, "dataset": "digits", "scenario": group,
         "forget_class": 3} for group, target in (("class", "lamp"), ("random", "random"))],
        name="fixture", seeds=(0, 1))
    results = tmp_path / "results"
    values = {"original": (99.0, 98.0, 90.0), "retrain": (98.0, 0.0, 5.0),
              "lfssd": (97.0, 1.0, 2.0)}
    for group, target in (("class", "lamp"), ("random", "random")):
        for seed in (0, 1):
            run_id = f"{group}-rn-s{seed}"
            rows = [{"method": m, "label": m, "metric": metric, "value": v + seed,
                     "seconds": 0.1, "hp": "{}", "profile": "fixture", "paper": "lfssd",
                     "run_id": run_id, "group": group, "target": target, "dataset": "digits",
                     "scenario": group, "arch_key": "rn", "arch": "smallcnn", "seed": seed,
                     "data_source": "fixture", "hardware": "test"}
                    for m, triple in values.items() for metric, v in zip(("Dr", "Df", "MIA"), triple)]
            folder = results / "fixture" / "lfssd" / run_id
            folder.mkdir(parents=True)
            pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
            (folder / "DONE").write_text("1\n")
    (results / "fixture" / "lfssd" / "half-written").mkdir()  # a killed run: no marker
    return profile, results


def test_report_renders_lfssd_tables_from_fixture(tmp_path):
    profile, results = _fixture_results(tmp_path)
    out = tmp_path / "book" / "generated"
    shutil.copytree(ROOT / "book" / "reported", tmp_path / "book" / "reported")
    print(prepare_book(profile, results, out))
    data = BookData.load(out)
    table = lfssd_table(data, "LFSSD-T1")
    cell = table.loc[("class", "rn", "lamp", "Dr"), ("lfssd", "ours")]
    assert cell == "97.50 ± 0.71"
    assert table.loc[("class", "rn", "lamp", "Dr"), ("lfssd", "paper")] == "76.36 ± 0.00"
    assert table.loc[("subclass", "vit", "lamp", "Df"), ("lfssd", "ours")] == "–"
    t7 = lfssd_table(data, "LFSSD-T7")
    assert t7.loc[("rn", "random", "MIA"), ("retrain", "ours")] == "5.50 ± 0.71"
    verdict = lfssd_verdict(data, "LFSSD-T4")
    assert "ours: holds in 1 of 1 settings" in verdict
    assert "Paper's numbers: holds in" in verdict
    assert data.meta["papers"]["lfssd"]["runs"] == 4


def test_jupyter_book_builds_on_fixture_results(tmp_path):
    profile, results = _fixture_results(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("generated"))
    prepare_book(profile, results, site / "book" / "generated")
    for paper in ("lfssd", "dau"):  # unexecuted stand-ins for the tutorial pages
        shutil.copy(ROOT / "notebooks" / f"{paper}.ipynb",
                    site / "book" / "generated" / f"{paper}_tutorial.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(site)], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    page = (site / "_build" / "html" / "book" / "lfssd.html").read_text()
    for item in ("LFSSD-F1", "LFSSD-T1", "LFSSD-T2", "LFSSD-T3", "LFSSD-T4", "LFSSD-T5",
                 "LFSSD-T6", "LFSSD-T7"):
        assert item in page
    assert "97.50 ± 0.71" in page and "not produced by this build" in page
    assert "Traceback" not in page
    dau_page = (site / "_build" / "html" / "book" / "dau.html").read_text()
    for item in ("DAU-F1", "DAU-T1a", "DAU-T1b", "DAU-T1c", "DAU-T1d", "DAU-T2", "DAU-F2"):
        assert item in dau_page
    assert "93.50 ± 0.12" in dau_page and "Traceback" not in dau_page


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_builtin_profiles_expand_to_valid_runs(name):
    from unlearnbook import profiles

    spec = profiles.load(name)
    runs = [run for paper in profiles.papers_in(spec) for run in profiles.expand(spec, paper)]
    assert {run.paper for run in runs} == {"lfssd", "dau"}  # expand() validated every run


def test_bad_profile_inputs(tmp_path):
    from unlearnbook import UnlearnbookError, profiles
    with pytest.raises(UnlearnbookError, match="unknown profile 'huge'"):
        profiles.load("huge")
    with pytest.raises(UnlearnbookError, match="unknown paper 'gpt'"):
        profiles.expand(profiles.load("smoke"), "gpt")
    bad = _tiny_profile(tmp_path, [{"id": "x", "group": "class", "target": "x",
                                    "dataset": "mnist", "scenario": "class", "forget_class": 1}])
    with pytest.raises(UnlearnbookError, match="unknown dataset 'mnist'.*run 'x-rn-s0'"):
        profiles.expand(profiles.load(bad), "lfssd")
