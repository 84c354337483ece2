"""The grid's Snakemake workflow: shared originals, GPU packing, the SLURM dry run, options."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import unlearnbook as ub
from unlearnbook import runner

ROOT = Path(__file__).resolve().parents[1]


def _fingerprint(parameters: dict) -> tuple:
    """What the original model is trained from: the training set's content, architecture,
    recipe, seed, pre-training and pruning."""
    task = runner.build_task(parameters)
    data = hashlib.sha256(task.train.images.numpy().tobytes()
                          + task.train.labels.numpy().tobytes()).hexdigest()
    return (data, *(json.dumps(parameters.get(k), sort_keys=True) for k in (
        "arch", "arch_kwargs", "recipe", "train_seed", "pretrain", "sparsities", "rewind_epoch")))


def test_runs_with_one_original_key_train_the_same_model():
    """Every smoke run grouped by :func:`runner.original_key` trains from identical inputs,
    and runs do share originals (LFSSD's class, sub-class and random runs on one model)."""
    spec = ub.profiles.load("smoke")
    groups: dict[str, list] = {}
    for paper in ub.profiles.papers_in(spec):
        for run in ub.profiles.expand(spec, paper):
            parameters = runner.full_parameters(run)
            groups.setdefault(runner.original_key(parameters), []).append(parameters)
    shared = [members for members in groups.values() if len(members) > 1]
    assert shared
    for members in shared:
        assert len({_fingerprint(p) for p in members}) == 1


def test_priorities_start_one_seed_of_every_setting_then_the_costliest():
    """The cpu AdaProb grid: among the headline runs and among the others, every setting's
    first seed outranks every second seed, and within a seed a run with more methods outranks
    one with fewer."""
    runs = ub.profiles.expand(ub.profiles.load("cpu"), "adaprob")
    priority = runner.run_priorities(runs)
    assert sorted(priority.values()) == list(range(1, len(runs) + 1))
    for headline in (True, False):
        first = [priority[(r.paper, r.run_id)] for r in runs
                 if r.replicate == 0 and r.headline == headline]
        later = [priority[(r.paper, r.run_id)] for r in runs
                 if r.replicate > 0 and r.headline == headline]
        assert min(first) > max(later)
    assert priority[("adaprob", "small-rn-s1")] > priority[("adaprob", "lambda-rn-s1")]
    assert priority[("adaprob", "class-ac-s2")] > priority[("adaprob", "class-rn-s3")]


def test_a_split_that_changes_the_training_set_changes_the_key():
    base = {"dataset": "digits", "scenario": "class", "forget_class": 1, "split_seed": 0,
            "arch": "smallcnn", "recipe": {"epochs": 1}, "train_seed": 0}
    assert runner.original_key(base) == runner.original_key({**base, "forget_class": 2,
                                                             "split_seed": 5})
    canary = {**base, "scenario": "scrambled", "forget_size": 20,
              "task_kwargs": {"canary_count": 5}}
    assert runner.original_key(canary) != runner.original_key({**canary, "split_seed": 1})
    assert runner.original_key(base) != runner.original_key({**base, "train_seed": 1})


def test_gpu_slots_pin_each_job_to_a_gpu(monkeypatch, tmp_path):
    monkeypatch.setattr(runner.tempfile, "tempdir", str(tmp_path))
    seen = []
    with runner.gpu_slot(2, 2):
        seen.append(runner.os.environ["CUDA_VISIBLE_DEVICES"])
        with runner.gpu_slot(2, 2):
            seen.append(runner.os.environ["CUDA_VISIBLE_DEVICES"])
            with runner.gpu_slot(2, 2):
                seen.append(runner.os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["0", "0", "1"]  # two runs share GPU 0, the third goes to GPU 1
    with runner.gpu_slot(2, 2):  # released slots are free again
        assert runner.os.environ["CUDA_VISIBLE_DEVICES"] == "0"


@pytest.mark.parametrize("options, message", [
    ({"executor": "pbs"}, "unknown executor 'pbs'; allowed: 'local', 'slurm'"),
    ({"target": "pdf"}, "unknown target 'pdf'; allowed: 'runs', 'report', 'book'"),
    ({"workers": 0}, "workers 0 is out of range; allowed: >= 1"),
])
def test_bad_grid_options_fail_early(options, message):
    with pytest.raises(ub.UnlearnbookError, match=message):
        runner.GridOptions(**options)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**runner.os.environ, "UNLEARNBOOK_NOTEBOOKS": str(ROOT / "notebooks"),
           "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "unlearnbook.cli", "run", *args,
                           "--results", str(tmp_path / "results")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _processes_naming(text: str) -> list[str]:
    """The command lines of this machine's processes that contain ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # the process ended meanwhile
            continue
        if text in line:
            found.append(line)
    return found


def _wait_until(condition, seconds: float) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` have passed; its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return bool(condition())


SUPERVISOR = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a grid started in a script's background
from unlearnbook.runner import supervise
job = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; " \\
      "time.sleep(120)', sys.argv[1]]); time.sleep(120)"
print(*supervise([sys.executable, "-c", job, sys.argv[1]]), flush=True)
"""


def test_supervise_stops_the_whole_process_group(tmp_path):
    """SIGTERM to the supervising process ends its child and the child's own child at once,
    even when the supervisor was started with SIGINT ignored."""
    env = {**runner.os.environ, "PYTHONPATH": str(ROOT / "src")}
    marker = str(tmp_path / "group-marker")
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, marker], env=env,
                                  stdout=subprocess.PIPE, text=True)
    assert _wait_until(lambda: len(_processes_naming(marker)) == 3, 60)  # and child, grandchild
    start = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    output, _ = supervisor.communicate(timeout=30)
    assert time.monotonic() - start < 10
    assert output.split()[-1] == "True"  # stopped by a signal
    assert _wait_until(lambda: not _processes_naming(marker), 10)


def test_a_stopped_grid_stops_snakemake_and_its_jobs(tmp_path):
    """SIGTERM to ``unlearnbook run`` alone (as ``kill`` or a batch system sends it) stops
    Snakemake and its running job too, so no grid outlives its lock; the summary says how to
    resume."""
    env = {**runner.os.environ, "UNLEARNBOOK_NOTEBOOKS": str(ROOT / "notebooks"),
           "PYTHONPATH": str(ROOT / "src"), "UNLEARNBOOK_CACHE": str(tmp_path / "cache")}
    results = tmp_path / "results"
    grid = subprocess.Popen([sys.executable, "-m", "unlearnbook.cli", "run", "--profile", "smoke",
                             "--paper", "lfssd", "--results", str(results)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    logs = results / "smoke" / ".logs"
    assert _wait_until(lambda: any(logs.rglob("*.log")), 120), "no job started within 2 minutes"
    assert any(" job " in line for line in _processes_naming(str(results)))
    grid.send_signal(signal.SIGTERM)
    output, _ = grid.communicate(timeout=120)
    assert "stopped by a signal; the same command resumes the grid" in output
    assert _wait_until(lambda: not _processes_naming(str(results)), 30)


def test_smoke_dry_run_lists_every_run_and_job(tmp_path):
    """The whole smoke profile through Snakemake, without running it."""
    proc = _cli(tmp_path, "--profile", "smoke", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    runs = runner.plan("smoke")
    assert proc.stdout.count("to do") == len(runs)
    assert f"run            {len(runs)}" in proc.stdout
    assert "original" in proc.stdout


def test_slurm_dry_run_prints_a_submission_per_job(tmp_path):
    proc = _cli(tmp_path, "--profile", "smoke", "--paper", "lfssd", "--executor", "slurm",
                "--dry-run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    calls = [line for line in proc.stdout.splitlines() if line.startswith("sbatch ")]
    runs = runner.plan("smoke", ["lfssd"])
    originals = sum(1 for c in calls if "<snakemake original:key=" in c)
    assert len(calls) == len(runs) + originals and originals >= 1
    for call in calls:  # the shipped profile's resources reach sbatch
        assert "-p gpu" in call and "--gres=gpu:1" in call and "--mem 16000" in call
        assert ("-t 720" if "original:" in call else "-t 360") in call
    assert {c.split("run:paper=lfssd,run_id=")[-1].rstrip(">") for c in calls
            if "run:paper" in c} == {r.run_id for r in runs}


def test_headline_runs_come_first_and_an_original_just_before_its_first_run(tmp_path):
    """The cpu grid: every headline run outranks every other run, a headline run's first seed
    outranks its second; a shared original ranks right above the best run that needs it."""
    runs = runner.plan("cpu", ["dau", "lfssd", "adaprob"])
    priority = runner.run_priorities(runs)
    headline = [priority[(r.paper, r.run_id)] for r in runs if r.headline]
    other = [priority[(r.paper, r.run_id)] for r in runs if not r.headline]
    assert headline and other and min(headline) > max(other)
    assert priority[("dau", "c10-class-rn-s0")] > priority[("dau", "c10-class-rn-s1")]
    assert priority[("adaprob", "lambda-rn-s1")] > priority[("adaprob", "class-rn-s1")]
    plan = json.loads(runner.write_plan(runs, "cpu", tmp_path, runner.GridOptions()).read_text())
    ranks = {(r["paper"], r["run_id"]): r["priority"] for r in plan["runs"]}
    for key, entry in plan["originals"].items():
        users = [ranks[(r["paper"], r["run_id"])] for r in plan["runs"] if r["original"] == key]
        assert max(users) < entry["priority"]
        assert not [p for p in ranks.values() if max(users) < p < entry["priority"]]


def test_headline_must_be_a_boolean(tmp_path):
    spec = ub.profiles.load("smoke")
    spec["papers"]["lfssd"]["runs"][0]["headline"] = "yes"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ub.UnlearnbookError, match="headline 'yes'.*allowed: true or false"):
        ub.profiles.expand(ub.profiles.load(path), "lfssd")
