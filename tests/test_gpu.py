"""The CUDA path: every registered method, every metric suite and one training run on a GPU.

Marked ``gpu`` and skipped where PyTorch sees no CUDA device (CI has none). Run them on a GPU box
with ``PYTHONPATH=src pytest -m gpu``.
"""
import pytest
import torch

import unlearnbook as ub

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

@pytest.fixture(scope="module")
def cuda_setup():
    task = ub.data.make_task("digits", scenario="class", forget_class=3, val_fraction=0.2)
    model = ub.models.build("smallcnn", task.num_classes, task.in_channels, seed=0)
    # No augmentation here: crops and flips of 8x8 digits leave 3 epochs at ~35% test accuracy
    # (on a CPU too); the CUDA augmentation path has its own test below.
    recipe = ub.train.Recipe(epochs=3, lr=0.05, batch_size=64, schedule="cosine")
    original = ub.train.fit(model, task.train, recipe, seed=0, cache=False)
    return task, original


def test_training_runs_on_cuda(cuda_setup):
    task, original = cuda_setup
    assert ub.device.device_of(original).type == "cuda"
    assert ub.metrics.accuracy(*ub.metrics.predict(original, task.test)) > 80


@pytest.mark.parametrize("name", ub.methods.available())
def test_every_method_runs_on_cuda(cuda_setup, name, fast_hp):
    task, original = cuda_setup
    out = ub.methods.unlearn(name, original, task, **fast_hp(name))
    assert ub.device.device_of(out).type == "cuda"
    logits, _ = ub.metrics.predict(out, task.test)
    assert logits.device.type == "cpu" and torch.isfinite(logits).any()


@pytest.mark.parametrize("suite", ub.metrics.suites())
def test_every_metric_suite_runs_on_cuda(cuda_setup, suite):
    task, original = cuda_setup
    scores = ub.metrics.evaluate(original, task, suite=suite)
    assert scores and all(isinstance(v, float) for v in scores.values())


def test_fast_path_on_cuda(cuda_setup):
    """Issue 11: on CUDA the recipe's "auto" options train under bf16 autocast and channels-last
    (recorded in fit_info), and batches are cut and normalised on the device."""
    task, original = cuda_setup
    assert (original.fit_info.precision, original.fit_info.channels_last) == ("bf16", True)
    host = next(ub.data.batches(task.test, 64))
    placed = next(ub.data.batches(task.test, 64, device="cuda"))
    assert placed[0].device.type == "cuda" and torch.allclose(placed[0].cpu(), host[0])
    assert task.test.on("cuda") is task.test.on("cuda")  # moved once


def test_augmentation_on_cuda():
    """Crops and flips drawn on the GPU: each sample stays on the device and is its own shifted or
    mirrored copy (padding 0 leaves only the flip: every sample is itself or its mirror image)."""
    x = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32, device="cuda").reshape(4, 3, 8, 8)
    generator = torch.Generator(device="cuda").manual_seed(0)
    flipped = ub.train.augment(x, padding=0, flip=True, generator=generator)
    assert flipped.device.type == "cuda"
    for sample, out in zip(x, flipped):
        assert torch.equal(out, sample) or torch.equal(out, sample.flip(2))
    cropped = ub.train.augment(x, padding=2, flip=False, generator=generator)
    assert cropped.shape == x.shape and cropped.device.type == "cuda"
    assert not torch.equal(cropped, x)  # 4 samples x 25 offsets: all-zero shifts are unlikely
