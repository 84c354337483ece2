"""Benchmark (not a test): the training fast path against the plain fp32 loop, and the projected
device-hours of each paper's `paper` profile (issue 11).

Usage: python benchmarks/fast_path.py [--arch resnet18 --width 64] [--batch-size 128]
       [--images 5120] [--accuracy-epochs 5] [--precision auto] [--compile]

1. Throughput: one model, the same CIFAR-shaped images and the same number of steps, trained by
   the plain loop (fp32, batches normalised on the host and copied per step, ``loss.item()`` per
   step: the package's loop before the fast path) and by ``ub.train.fit`` with the recipe's speed
   options resolved for this device (bf16 autocast and channels-last on CUDA; on a CPU, bf16 only
   where it is native (AVX-512 BF16, AMX), channels-last with `--channels-last on`).
2. Accuracy: a short recipe trained both ways from the same seed must reach the same test
   accuracy, to within 0.5 points or the gap between two seeds of the plain loop, whichever is
   larger (bf16 may move the trajectory no more than a new seed does; CIFAR-10 subset when a copy
   is under $UNLEARNBOOK_DATA, else digits).
3. Projection: every training of the `paper` profile (pre-training, originals shared across runs,
   each run's oracle and head-only retrain, and each method's ``epochs`` over D_r), counted in
   images, divided by the measured fast-path images/s. An estimate: it assumes every model trains
   at the benchmark model's speed, and methods that do more than one pass per epoch cost more.
"""
from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

import unlearnbook as ub
from unlearnbook.data.dataset import ArrayDataset, batches
from unlearnbook.device import cpu_bf16_native, precision_for
from unlearnbook.device import default_device
from unlearnbook.train import synchronize

#: training images per class and number of classes of each dataset (before the validation split)
DATASETS = {"cifar10": (5000, 10), "cifar100": (500, 100), "cifar20": (2500, 20),
            "cinic10": (9000, 10), "digits": (180, 10), "digits5": (180, 10)}


def plain_fit(model: nn.Module, dataset: ArrayDataset, recipe: ub.train.Recipe, seed: int
              ) -> float:
    """The plain fp32 loop: host-side batches copied to the device, a sync per step. Seconds."""
    device = default_device()
    model.to(device).train()
    optimizer = ub.train.make_optimizer(model.parameters(), recipe)
    steps_per_epoch = max(math.ceil(len(dataset) / recipe.batch_size), 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: ub.train.lr_factor(recipe, step, steps_per_epoch))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(recipe.epochs):
        for x, y in batches(dataset, recipe.batch_size, shuffle=True, generator=generator):
            x, y = x.to(device), y.to(device)
            if recipe.augment:
                x = ub.train.augment(x, recipe.crop_padding, recipe.flip, generator)
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss.item()
    synchronize(device)
    return time.perf_counter() - start


def throughput(args, recipe: ub.train.Recipe) -> dict[str, float]:
    """Images per second of the plain loop and the fast path on random CIFAR-shaped images."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8,
                           generator=generator)
    labels = torch.randint(0, 10, (args.images,), generator=generator)
    data = ArrayDataset(images, labels, [0.5] * 3, [0.25] * 3)
    model = ub.models.build(args.arch, 10, 3, seed=0, **args.arch_kwargs)
    ub.train.fit(model, data.subset(range(2 * recipe.batch_size)), recipe, cache=False,
                 progress=False)  # warm-up (kernels, autotuning, compilation)
    fast = ub.train.fit(model, data, recipe, cache=False, progress=False).fit_info.seconds
    plain = plain_fit(ub.models.build(args.arch, 10, 3, seed=0, **args.arch_kwargs), data, recipe, 0)
    return {"plain": recipe.epochs * args.images / plain,
            "fast": recipe.epochs * args.images / fast}


def accuracy_check(args) -> tuple[float, float, float, str]:
    """Test accuracy of a short recipe: plain loop (seeds 0 and 1) and fast path (seed 0)."""
    try:
        task = ub.data.make_task("cifar10", "random", forget_size=10, train_per_class=500,
                                 test_per_class=200, val_fraction=0.0, download=False)
        arch, kwargs = args.arch, args.arch_kwargs
    except ub.UnlearnbookError:
        task = ub.data.make_task("digits", "random", forget_size=10, val_fraction=0.0)
        arch, kwargs = "smallcnn", {}
    recipe = ub.train.Recipe(epochs=args.accuracy_epochs, lr=0.05, batch_size=64,
                             schedule="cosine", precision=args.precision,
                             channels_last=args.layout)
    results = []
    for fast, seed in ((False, 0), (False, 1), (True, 0)):
        model = ub.models.build(arch, task.num_classes, task.in_channels, seed=seed, **kwargs)
        if fast:
            model = ub.train.fit(model, task.train, recipe, seed=seed, cache=False, progress=False)
        else:
            plain_fit(model, task.train, recipe, seed)
        results.append(ub.metrics.accuracy(*ub.metrics.predict(model.eval(), task.test)))
    return (*results, f"{task.dataset} ({arch})")


def training_images(profile: str = "paper") -> dict[str, float]:
    """Images passed through training per paper of ``profile`` (see the module docstring)."""
    spec = ub.profiles.load(profile)
    totals = {}
    for paper in ub.profiles.papers_in(spec):
        shared, images = set(), 0.0
        for run in ub.profiles.expand(spec, paper):
            p = run.parameters
            per_class, classes = DATASETS.get(p.get("dataset", "cifar10"), (5000, 10))
            task_kwargs = p.get("task_kwargs", {}) or {}
            per_class = p.get("train_per_class") or task_kwargs.get("train_per_class") or per_class
            classes = p.get("classes") or classes
            classes = len(classes) if isinstance(classes, list) else classes
            train = per_class * classes * (1 - (p.get("val_fraction") or 0.0))
            forget = train / classes if p.get("scenario") == "class" else (p.get("forget_size") or 0)
            retain = train - forget
            recipe = p.get("recipe", {})
            model = (p.get("arch"), str(p.get("arch_kwargs")))
            original = (*model, p.get("dataset"), str(recipe), p.get("train_seed"), per_class,
                        classes, str(p.get("sparsities")))
            epochs = recipe.get("epochs", 10)
            if original not in shared:  # one original per model, data, recipe and seed
                shared.add(original)
                images += epochs * train * (2 if p.get("sparsities") and max(p["sparsities"]) else 1)
            pretrain = (*model, str(p.get("pretrain")))
            if p.get("pretrain") and pretrain not in shared:  # CIFAR-100, once per model
                shared.add(pretrain)
                images += p["pretrain"].get("recipe", {}).get("epochs", 10) * 50000
            for method in p.get("methods", []):
                name = method if isinstance(method, str) else method["name"]
                hp = {**(p.get("method_hp", {}) or {}).get(name, {}),
                      **({} if isinstance(method, str) else method.get("hp", {}))}
                if name in ("retrain", "retrain_head"):
                    images += epochs * retain
                elif name in ub.methods.available():
                    default = ub.methods.hyperparameters(name).get("epochs")
                    method_epochs = hp.get("epochs", default)
                    if isinstance(method_epochs, (int, float)):
                        images += method_epochs * retain
        totals[paper] = images
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=5120)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--accuracy-epochs", type=int, default=5)
    parser.add_argument("--precision", default="auto", choices=ub.train.PRECISIONS)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="auto: on CUDA only; on a CPU, 'on' is the CPU fast path's layout")
    args = parser.parse_args()
    args.arch_kwargs = {"width": args.width} if args.arch == "resnet18" else {}
    args.layout = {"auto": None, "on": True, "off": False}[args.channels_last]
    device = default_device()
    layout = {"auto": None, "on": True, "off": False}[args.channels_last]
    recipe = ub.train.Recipe(epochs=args.epochs, lr=0.05, batch_size=args.batch_size,
                             augment=True, precision=args.precision, compile=args.compile,
                             channels_last=layout)
    used = ub.train.resolve(recipe, device)
    _, fallback = precision_for(device, args.precision)
    print(f"device: {ub.pipeline.hardware()}; model: {args.arch} {args.arch_kwargs}; batch "
          f"{args.batch_size}; fast path: {used.precision}, channels_last={used.channels_last}, "
          f"compile={used.compile}; CPU native bf16: {cpu_bf16_native()}"
          + (f" ({fallback})" if fallback else ""))
    speed = throughput(args, recipe)
    print(f"images/s  plain fp32 loop: {speed['plain']:.0f}   fast path: {speed['fast']:.0f}   "
          f"speed-up: {speed['fast'] / speed['plain']:.2f}x")
    plain_acc, plain_seed1_acc, fast_acc, data = accuracy_check(args)
    tolerance = max(0.5, abs(plain_acc - plain_seed1_acc))
    verdict = "PASS" if abs(plain_acc - fast_acc) <= tolerance else "FAIL"
    print(f"accuracy after {args.accuracy_epochs} epochs on {data}: plain {plain_acc:.2f} "
          f"(seed 1: {plain_seed1_acc:.2f}), fast {fast_acc:.2f} ({verdict}: |fast - plain| <= "
          f"{tolerance:.2f}, the larger of 0.5 and the seed gap)")
    print("projected device-hours of the `paper` profile at the fast path's speed "
          "(training images / images per second):")
    for paper, images in training_images("paper").items():
        hours = images / speed["fast"] / 3600
        print(f"  {paper:8s} {images / 1e6:9.1f} M images  {hours:9.1f} h"
              f"  ({math.ceil(hours / 24)} day(s) on this device)")


if __name__ == "__main__":
    main()
