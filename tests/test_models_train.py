import copy
import json
import multiprocessing as mp

import pytest
import torch

import unlearnbook as ub
from unlearnbook import UnlearnbookError


@pytest.mark.parametrize("name,kw,shape", [
    ("resnet18", dict(width=8), (2, 3, 32, 32)),
    ("allcnn", dict(filters=0.25), (2, 3, 32, 32)),
    ("smallcnn", {}, (2, 1, 8, 8)),
    ("vit", dict(dim=32, depth=2, heads=2), (2, 3, 32, 32)),
])
def test_models_expose_features(name, kw, shape):
    model = ub.models.build(name, num_classes=7, in_channels=shape[1], seed=0, **kw).eval()
    x = torch.randn(shape)
    features = model.features(x)
    assert features.shape == (2, model.feature_dim)
    assert torch.allclose(model.head(features), model(x))


def test_build_is_seeded_and_loads_weights(tmp_path):
    a = ub.models.build("smallcnn", 10, 1, seed=3)
    b = ub.models.build("smallcnn", 10, 1, seed=3)
    assert ub.train.state_hash(a) == ub.train.state_hash(b)
    path = tmp_path / "weights.pt"
    torch.save(a.state_dict(), path)
    c = ub.models.build("smallcnn", 10, 1, seed=4, weights=path)
    assert ub.train.state_hash(c) == ub.train.state_hash(a)


def test_bad_architecture():
    with pytest.raises(UnlearnbookError, match="unknown architecture 'resnet50'"):
        ub.models.build("resnet50", 10)
    with pytest.raises(UnlearnbookError, match="unknown schedule 'linear'"):
        ub.train.Recipe(schedule="linear")


def test_augment_keeps_shape_and_content():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = ub.train.augment(x, padding=0, flip=True, generator=g)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    shifted = ub.train.augment(x, padding=2, flip=False, generator=g)
    assert shifted.shape == x.shape


def test_fit_is_deterministic_and_cached(digits_class_task):
    task = digits_class_task
    recipe = ub.train.Recipe(epochs=1, lr=0.05, batch_size=64)
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    first = ub.train.fit(model, task.retain, recipe, seed=1)
    again = ub.train.fit(model, task.retain, recipe, seed=1)
    assert not first.fit_info.cached and again.fit_info.cached
    assert ub.train.state_hash(first) == ub.train.state_hash(again)
    fresh = ub.train.fit(model, task.retain, recipe, seed=1, cache=False)
    assert ub.train.state_hash(fresh) == ub.train.state_hash(first)
    other = ub.train.fit(model, task.retain, recipe, seed=2)
    assert not other.fit_info.cached


def _train_in_process(cache, queue):
    import os
    os.environ["UNLEARNBOOK_CACHE"] = cache
    os.environ["UNLEARNBOOK_PROGRESS"] = "0"
    import unlearnbook as ub
    task = ub.data.make_task("digits", scenario="class", forget_class=2)
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    trained = ub.train.fit(model, task.train, ub.train.Recipe(epochs=2, batch_size=64), seed=5)
    queue.put((trained.fit_info.cached, ub.train.state_hash(trained)))


def test_concurrent_fit_trains_once(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_train_in_process, args=(str(tmp_path), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    assert sorted(cached for cached, _ in results) == [False, True]
    assert results[0][1] == results[1][1]
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 1


def test_device_choice(monkeypatch, digits_class_task):
    from unlearnbook.device import default_device, device_of
    monkeypatch.setenv("UNLEARNBOOK_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    model = ub.models.build("smallcnn", 10, 1, seed=0)
    trained = ub.train.fit(model, digits_class_task.forget, ub.train.Recipe(epochs=1), cache=False)
    assert device_of(trained) == torch.device("cpu")


def test_fp16_weights_go_to_the_model_store_and_load_anywhere(digits_class_task, tmp_path,
                                                              monkeypatch):
    """A recipe with ``weights: fp16`` ends with float16-exact weights; with a model store set,
    the model is committed there (float16 file, sha256 sidecar naming the machine) and a second
    machine (an empty cache, another thread count) loads it instead of training; a damaged
    committed file is refused and retrained, never used."""
    task = digits_class_task
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    recipe = ub.train.Recipe(epochs=2, lr=0.05, batch_size=64, weights="fp16")
    store = tmp_path / "models"
    monkeypatch.setenv("UNLEARNBOOK_MODELS", str(store))
    monkeypatch.setenv("UNLEARNBOOK_CACHE", str(tmp_path / "cache-a"))
    first = ub.train.fit(model, task.train, recipe, seed=0)
    assert not first.fit_info.cached
    for tensor in first.state_dict().values():
        if tensor.is_floating_point():
            assert torch.equal(tensor, tensor.half().float())
    saved, = store.glob("*.pt")
    meta = json.loads(saved.with_suffix(".json").read_text())
    assert meta["sha256"] == ub.train.file_sha256(saved) and meta["hardware"].startswith("CPU")
    assert all(t.dtype in (torch.float16, torch.int64) for t in torch.load(saved).values())
    monkeypatch.setenv("UNLEARNBOOK_CACHE", str(tmp_path / "cache-b"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if threads > 1 else 2)
    try:
        again = ub.train.fit(model, task.train, recipe, seed=0)
    finally:
        torch.set_num_threads(threads)
    assert again.fit_info.cached
    assert ub.train.state_hash(again) == ub.train.state_hash(first)
    saved.write_bytes(saved.read_bytes()[:-64] + bytes(64))
    with pytest.warns(UserWarning, match="integrity"):
        redone = ub.train.fit(model, task.train, recipe, seed=0)
    assert ub.train.state_hash(redone) == ub.train.state_hash(first)
    assert ub.train.file_sha256(saved) == json.loads(saved.with_suffix(".json").read_text())[
        "sha256"]


def test_a_killed_training_resumes_to_the_same_weights(digits_class_task, tmp_path, monkeypatch):
    """The loop saves its state after each epoch; killed after epoch 2 of 4, it resumes there
    and ends with the weights of an uninterrupted training."""
    task = digits_class_task
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    recipe = ub.train.resolve(ub.train.Recipe(epochs=4, lr=0.05, batch_size=64, augment=True),
                              torch.device("cpu"))
    whole = copy.deepcopy(model)
    ub.train._train(whole, task.train, recipe, 0, False, "whole")
    partial = tmp_path / "partial.pt"

    class Killed(Exception):
        pass

    real_tqdm = ub.train.tqdm

    class DiesAtEpochTwo:
        def __init__(self, epochs, **kwargs):
            self.epochs = epochs

        def __iter__(self):
            for epoch in self.epochs:
                if epoch == 2:
                    raise Killed
                yield epoch

        def set_postfix(self, **kwargs):
            pass

    monkeypatch.setattr(ub.train, "tqdm", DiesAtEpochTwo)
    with pytest.raises(Killed):
        ub.train._train(copy.deepcopy(model), task.train, recipe, 0, False, "killed", partial)
    assert partial.exists()
    monkeypatch.setattr(ub.train, "tqdm", real_tqdm)
    resumed = copy.deepcopy(model)
    info = ub.train._train(resumed, task.train, recipe, 0, False, "resumed", partial)
    assert len(info.losses) == 4
    assert ub.train.state_hash(resumed) == ub.train.state_hash(whole)
