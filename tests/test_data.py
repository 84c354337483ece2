import numpy as np
import pytest
import torch

import unlearnbook as ub
from unlearnbook import UnlearnbookError


def _partition_ok(task):
    forget = set(task.forget_indices.tolist())
    assert len(forget) == len(task.forget)
    assert len(task.retain) + len(task.forget) == len(task.train)
    origin = task.train_origin[task.train_origin >= 0]
    assert not set(origin.tolist()) & set(task.val_origin.tolist())
    # retain and forget images are exactly train's, in order
    retain_index = np.setdiff1d(np.arange(len(task.train)), task.forget_indices)
    assert torch.equal(task.retain.images, task.train.images[retain_index])
    assert torch.equal(task.forget.images, task.train.images[task.forget_indices])


@pytest.mark.parametrize("scenario,kw,size", [
    ("random", dict(forget_size=50), 50),
    ("random", dict(forget_fraction=0.1), None),
    ("class", dict(forget_class=3), None),
    ("partial", dict(forget_class=5, forget_size=20), 20),
    ("canary", dict(forget_size=12), 12),
    ("confusion", dict(forget_size=20), 20),
])
def test_scenarios_partition_train(scenario, kw, size):
    task = ub.data.make_task("digits", scenario=scenario, seed=1, **kw)
    _partition_ok(task)
    if size is not None:
        assert len(task.forget) == size
    assert len(task.test) == 359  # the test split is fixed
    assert len(task.val) > 0


def test_class_scenario_contents():
    task = ub.data.make_task("digits", scenario="class", forget_class=3)
    assert (task.forget.labels == 3).all() and not (task.retain.labels == 3).any()
    assert task.test_forget_mask.sum() == (task.test.labels == 3).sum()


def test_validation_untouched_by_split_seed():
    a = ub.data.make_task("digits", scenario="random", forget_size=30, seed=0)
    b = ub.data.make_task("digits", scenario="random", forget_size=30, seed=1)
    assert np.array_equal(a.val_origin, b.val_origin)
    assert a.train.fingerprint == b.train.fingerprint  # the original model is shared
    assert not np.array_equal(a.forget_indices, b.forget_indices)
    c = ub.data.make_task("digits", scenario="random", forget_size=30, seed=0)
    assert np.array_equal(a.forget_indices, c.forget_indices)


def test_subclass_keeps_superclass_label():
    task = ub.data.make_task("digits5", scenario="subclass", forget_class=8, seed=0)
    assert task.num_classes == 5
    assert (task.forget.fine_labels == 8).all()
    assert (task.forget.labels == 3).all() and task.forget_superclass == 3  # 8 is in (3, 8)
    assert (task.retain.labels == 3).any()  # the superclass itself stays
    assert (task.test.fine_labels[torch.from_numpy(task.test_forget_mask)] == 8).all()


def test_confusion_swaps_labels():
    task = ub.data.make_task("digits", scenario="confusion", forget_size=10, seed=0)
    origin = task.train_origin[task.forget_indices]
    raw = ub.data.load_raw("digits")
    true = torch.from_numpy(raw.train_labels[origin])
    assert torch.equal(task.forget.labels, 1 - true)


def test_class_subset_protocol():
    task = ub.data.make_task("digits", scenario="partial", forget_class=0, forget_size=5,
                             classes=5, train_per_class=40, test_per_class=20, val_fraction=0.2)
    assert task.num_classes == 5 and len(task.test) == 100
    assert len(task.train) + len(task.val) == 200 and len(task.val) == 40


def test_image_folder_source(tmp_path):
    from PIL import Image
    rng = np.random.RandomState(0)
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("airplane", "automobile"):
            folder = tmp_path / "cifar10" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.randint(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                    folder / f"{i}.png")
    task = ub.data.make_task("cifar10", scenario="class", forget_class=1, root=tmp_path,
                             val_fraction=0.0)
    assert task.num_classes == 2 and len(task.train) == 8 and len(task.forget) == 4
    assert task.train.images.shape[1:] == (3, 32, 32)
    assert (tmp_path / "cache" / "cifar10-folder.npz").exists()


@pytest.mark.parametrize("kw,needle", [
    (dict(dataset="mnist"), "unknown dataset 'mnist'"),
    (dict(scenario="everything"), "unknown scenario 'everything'"),
    (dict(scenario="class", forget_class=10), "forget_class 10 is out of range"),
    (dict(scenario="class"), "needs forget_class"),
    (dict(scenario="random", forget_size=100000), "forget_size 100000 is out of range"),
    (dict(scenario="partial", forget_class=1, forget_size=1000), "forget_size 1000 is out of range"),
    (dict(scenario="random", forget_fraction=1.5), "forget_fraction 1.5 is out of range"),
    (dict(scenario="subclass", forget_class=1), "needs superclass labels"),
])
def test_bad_task_inputs(kw, needle):
    with pytest.raises(UnlearnbookError, match=needle):
        ub.data.make_task(**{"dataset": "digits", **kw})


def test_missing_cifar_with_downloads_off(tmp_path, monkeypatch):
    monkeypatch.delenv("UNLEARNBOOK_DOWNLOAD", raising=False)
    with pytest.raises(UnlearnbookError, match="dataset 'cifar10' not found"):
        ub.data.make_task("cifar10", scenario="class", forget_class=0, root=tmp_path)


def test_class_index_by_name():
    task = ub.data.make_task("digits5", scenario="class", forget_class=0)
    assert ub.data.class_index(task, "4/9") == 4
    with pytest.raises(UnlearnbookError, match="unknown class name 'lamp'"):
        ub.data.class_index(task, "lamp")


def test_random_forget_class_comes_from_the_split_seed():
    """Issue 7.9: DAU forgets "a randomly chosen class"; the split seed draws it, reproducibly."""
    drawn = [ub.data.make_task("digits", scenario="class", forget_class="random", seed=s,
                               val_fraction=0.0).forget_class for s in range(6)]
    again = [ub.data.make_task("digits", scenario="class", forget_class="random", seed=s,
                               val_fraction=0.0).forget_class for s in range(6)]
    assert drawn == again and len(set(drawn)) > 1 and all(0 <= c <= 9 for c in drawn)
    task = ub.data.make_task("digits", scenario="class", forget_class="random", seed=0)
    assert (task.forget.labels == task.forget_class).all()
    with pytest.raises(ub.UnlearnbookError, match="forget_class 'cat' is not a class; allowed: "
                                                  "0..9 or 'random'"):
        ub.data.make_task("digits", scenario="class", forget_class="cat")


@pytest.mark.parametrize("scenario,kw", [
    ("random", dict(forget_size=30)), ("class", dict(forget_class=3)),
    ("class", dict(forget_class="random")), ("partial", dict(forget_class=5, forget_size=20)),
    ("canary", dict(forget_size=12)), ("confusion", dict(forget_size=20)),
])
def test_split_seed_matters_says_whether_seeds_give_other_forget_sets(scenario, kw):
    """The cost model shares an oracle across seeds exactly where the forget sets agree."""
    a, b = (ub.data.make_task("digits", scenario=scenario, seed=seed, **kw) for seed in (0, 3))
    same = (np.array_equal(a.forget_indices, b.forget_indices)
            and torch.equal(a.forget.images, b.forget.images)
            and torch.equal(a.retain.images, b.retain.images))
    assert ub.data.tasks.split_seed_matters(scenario, kw.get("forget_class")) == (not same)
    subclass = [ub.data.make_task("digits5", scenario="subclass", forget_class=8, seed=s)
                for s in (0, 3)]
    assert np.array_equal(*(t.forget_indices for t in subclass))
    assert not ub.data.tasks.split_seed_matters("subclass", 8)
