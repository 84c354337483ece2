"""The training speed options (issue 11): device-resident batches, bf16 autocast, channels-last,
resolved per device, recorded, and leaving the CPU fp32 cache keys as they were."""
import pytest
import torch

import unlearnbook as ub
from unlearnbook.train import Recipe, cache_key, resolve


def test_resident_batches_are_the_host_batches():
    task = ub.data.make_task("digits", "random", forget_size=10, seed=0)
    assert task.train.on("cpu") is task.train
    generator = torch.Generator().manual_seed(0)
    host = list(ub.data.batches(task.train, 100, shuffle=True, generator=generator))
    generator = torch.Generator().manual_seed(0)
    placed = list(ub.data.batches(task.train, 100, shuffle=True, generator=generator,
                                  device="cpu"))
    assert len(host) == len(placed)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(host, placed))


def test_speed_options_resolve_per_device_and_keep_cpu_keys(monkeypatch):
    monkeypatch.setenv("UNLEARNBOOK_CPU_BF16", "0")  # a CPU without native bf16 (AVX2 only)
    assert (resolve(Recipe(), torch.device("cpu")).precision,
            resolve(Recipe(), torch.device("cpu")).channels_last) == ("fp32", False)
    assert resolve(Recipe(precision="bf16"), torch.device("cpu")).precision == "fp32"
    on_gpu = resolve(Recipe(), torch.device("cuda"))
    assert (on_gpu.precision, on_gpu.channels_last) == ("bf16", True)
    assert resolve(Recipe(precision="fp32", channels_last=False), torch.device("cuda")) \
        .precision == "fp32"
    task = ub.data.make_task("digits", "random", forget_size=10, seed=0)
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    auto = cache_key(model, task.train, Recipe(epochs=1), 0)
    assert auto == cache_key(model, task.train, Recipe(epochs=1, precision="fp32"), 0)
    assert auto == cache_key(model, task.train, Recipe(epochs=1, precision="bf16"), 0)  # fell back
    assert auto != cache_key(model, task.train, Recipe(epochs=1, channels_last=True), 0)
    with pytest.warns(UserWarning, match="no native bf16"):
        ub.train.fit(model, task.train, Recipe(epochs=1, precision="bf16"), cache=False)
    monkeypatch.setenv("UNLEARNBOOK_CPU_BF16", "1")  # AVX-512 BF16 or AMX
    assert resolve(Recipe(), torch.device("cpu")).precision == "bf16"
    assert auto != cache_key(model, task.train, Recipe(epochs=1, precision="bf16"), 0)


def test_bf16_and_channels_last_train_and_are_recorded(monkeypatch):
    monkeypatch.setenv("UNLEARNBOOK_CPU_BF16", "1")  # emulated where the CPU lacks it: slow, exact
    task = ub.data.make_task("digits", "random", forget_size=10, seed=0, train_per_class=60)
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    plain = ub.train.fit(model, task.train, Recipe(epochs=5, lr=0.05, batch_size=32,
                                                   precision="fp32"), seed=0, cache=False)
    fast = ub.train.fit(model, task.train, Recipe(epochs=5, lr=0.05, batch_size=32,
                                                  precision="bf16", channels_last=True),
                        seed=0, cache=False)
    assert (fast.fit_info.precision, fast.fit_info.channels_last) == ("bf16", True)
    assert (plain.fit_info.precision, plain.fit_info.channels_last) == ("fp32", False)
    assert all(p.is_contiguous() for p in fast.parameters())  # handed back in the default layout
    accuracy = [ub.metrics.accuracy(*ub.metrics.predict(m, task.test)) for m in (plain, fast)]
    assert accuracy[0] > 80 and abs(accuracy[0] - accuracy[1]) < 5, accuracy


def test_benchmark_projects_every_paper_profile():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "fast_path.py"
    spec = importlib.util.spec_from_file_location("fast_path", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    images = module.training_images("paper")
    assert set(images) == set(ub.profiles.papers_in(ub.profiles.load("paper")))
    # LFSSD retrains a 200-epoch ResNet per class and seed: the largest of the four
    assert all(v > 1e6 for v in images.values()) and max(images, key=images.get) == "lfssd"
