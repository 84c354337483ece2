"""The grid's cost model (issue 34.1): set sizes from parameters alone, training images per run,
and a speed probe cached per machine."""
import json

import pytest

import unlearnbook as ub
from unlearnbook import cost


def test_sizes_follow_make_task_without_loading_data():
    size = cost.sizes({"dataset": "cifar10", "scenario": "class", "val_fraction": 0.1})
    assert size == cost.Sizes(train=45000, retain=40500, forget=4500, val=5000, test=10000)
    size = cost.sizes({"dataset": "cifar10", "scenario": "partial", "forget_size": 25,
                       "classes": 5, "train_per_class": 125, "val_fraction": 0.2,
                       "test_per_class": 100})
    assert size == cost.Sizes(train=500, retain=475, forget=25, val=125, test=500)
    size = cost.sizes({"dataset": "cifar20", "scenario": "subclass", "val_fraction": 0.0})
    assert (size.train, size.forget) == (50000, 500)
    digits = ub.data.make_task("digits", "random", forget_size=20, val_fraction=0.2)
    size = cost.sizes({"dataset": "digits", "scenario": "random", "forget_size": 20,
                       "val_fraction": 0.2})
    assert size.forget == 20  # digits' classes differ by a few images: within one per class
    assert abs(size.train - len(digits.train)) <= 10 and size.retain == size.train - 20


def test_run_images_counts_the_original_oracle_methods_and_scoring():
    params = {"dataset": "cifar10", "scenario": "class", "val_fraction": 0.1,
              "recipe": {"epochs": 30}, "methods": ["original", "retrain", "lfssd",
                                                    {"name": "finetune", "label": "ft"}],
              "method_hp": {"finetune": {"epochs": 10}}}
    parts = cost.run_images(params)
    assert parts["original"] == 30 * 45000
    # retrain: 30 epochs of D_r; LFSSD: one pass over D; fine-tuning: 10 epochs of D_r + D_f
    assert list(parts["oracles"].values()) == [30 * 40500]
    assert parts["methods"] == 45000 + 10 * 45000
    assert parts["scoring"] == pytest.approx(4 * (45000 + 10000) / 3)


def test_the_speed_probe_is_cached_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNBOOK_CACHE", str(tmp_path))
    monkeypatch.setattr(cost, "busy", lambda: False)
    cost._PROBED.clear()
    speed = cost.images_per_second("smallcnn", {}, "digits", threads=1, batch_size=32,
                                   steps=2)
    assert speed > 0
    stored = json.loads((tmp_path / "speed.json").read_text())
    assert list(stored.values()) == [round(speed, 1)] and "smallcnn" in next(iter(stored))
    cost._PROBED.clear()
    (tmp_path / "speed.json").write_text(json.dumps({k: 123.0 for k in stored}))
    assert cost.images_per_second("smallcnn", {}, "digits", threads=1, batch_size=32,
                                  steps=2) == 123.0


def test_grid_cost_leaves_out_finished_runs_and_shared_originals():
    runs = ub.runner.plan("smoke", ["lfssd"])
    cost._PROBED.clear()
    keys = {ub.runner.original_key(ub.runner.full_parameters(r)) for r in runs}
    for run in runs:  # no probe: a fixed speed
        params = ub.runner.full_parameters(run)
        cost._PROBED[cost.speed_key(params["arch"], params.get("arch_kwargs") or {},
                                    params["dataset"], 1)] = 1000.0
    every = cost.grid_cost(runs, set(), set(), threads=1)[0]
    assert every.left == every.runs == len(runs) and every.images_left == every.images
    assert every.hours == pytest.approx(every.images / 1000 / 3600)
    first = runs[0]
    done = cost.grid_cost(runs, {f"lfssd/{first.run_id}"}, keys, threads=1)[0]
    assert done.left == len(runs) - 1 and done.images_left < every.images_left
    table = cost.cost_table([every], workers=2, threads=1)
    assert "lfssd" in table and "total" in table and "M images" in table


def test_runs_that_share_an_oracle_count_it_once():
    """LFSSD's from-scratch oracle carries seed 0 in its hp, so the three seeds of one forget set
    share it; retrain_head follows the oracle seed, so each seed trains its own."""
    runs = [r for r in ub.runner.plan("cpu", ["lfssd"]) if r.run_id.startswith("class-lamp")]
    keys = [cost.run_images(ub.runner.full_parameters(r))["oracles"] for r in runs]
    assert len(runs) == 3 and all(len(k) == 2 for k in keys)
    scratch = {k for run in keys for k in run if '"retrain"' in k}
    head = {k for run in keys for k in run if '"retrain_head"' in k}
    assert len(scratch) == 1 and len(head) == 3
    cost._PROBED.clear()
    for run in runs:
        params = ub.runner.full_parameters(run)
        cost._PROBED[cost.speed_key(params["arch"], params["arch_kwargs"], params["dataset"],
                                    1)] = 1000.0
    one = cost.run_images(ub.runner.full_parameters(runs[0]))
    every = cost.grid_cost(runs, set(), set(), threads=1)[0]
    per_run = one["methods"] + one["scoring"]
    oracle = next(iter(one["oracles"].values()))
    assert every.images == pytest.approx(one["original"] + 3 * per_run + 4 * oracle)
    trained = set(keys[0])  # seed 0's two oracles trained ahead (originals.csv)
    assert cost.grid_cost(runs, set(), trained, threads=1)[0].images_left == pytest.approx(
        every.images - 2 * oracle)


def test_the_book_lists_projected_and_measured_hours_per_paper(tmp_path, monkeypatch):
    """Issue 34: the reproduce page's table, from prepare_book's meta: every paper of the
    profile and the headline runs, projected on this machine, measured where runs finished."""
    monkeypatch.setattr(cost, "images_per_second", lambda *args, **kwargs: 1000.0)
    ub.report.prepare_book("cpu", tmp_path / "results", tmp_path / "generated")
    data = ub.report.BookData.load(tmp_path / "generated")
    frame = ub.report.cost_frame(data)
    assert list(frame["paper"]) == ["lfssd", "dau", "sure", "adaprob", "headline"]
    assert (frame["finished"] == 0).all() and (frame["measured h"] == "–").all()
    projected = next(c for c in frame.columns if c.startswith("projected h ("))
    dau = frame.set_index("paper").loc["dau"]
    assert float(dau[projected]) == pytest.approx(
        float(dau["M training images"]) * 1e6 / 1000 / 3600, abs=0.06)


def test_sparsities_multiply_each_method_once():
    dense = {"dataset": "cifar10", "scenario": "class", "val_fraction": 0.1,
             "recipe": {"epochs": 30}, "methods": ["retrain", "lfssd"]}
    sparse = {**dense, "sparsities": [0.0, 0.95]}
    one, two = cost.run_images(dense), cost.run_images(sparse)
    assert two["methods"] == 2 * one["methods"]
    assert list(two["oracles"].values()) == [2 * v for v in one["oracles"].values()]
