"""Benchmark (not a test): training seconds per epoch and peak memory for each model.

Usage: python benchmarks/train_speed.py [--cifar-per-class 100] [--epochs 1]
Each (model, dataset) runs in its own process so that peak resident memory is its own.
CIFAR-10 rows need a copy under data/ (see data/README.md); they are skipped otherwise.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

MODELS = {
    "smallcnn": {},
    "resnet18-w16": dict(name="resnet18", width=16),
    "resnet18-w64": dict(name="resnet18", width=64),
    "allcnn": dict(name="allcnn", filters=1.0),
    "vit": dict(name="vit", dim=192, depth=6, heads=3),
}


def one(model_key: str, dataset: str, per_class: int, epochs: int) -> dict:
    import torch

    import unlearnbook as ub

    kwargs = dict(MODELS[model_key])
    name = kwargs.pop("name", model_key)
    task = ub.data.make_task(dataset, scenario="class", forget_class=0, val_fraction=0.0,
                             train_per_class=per_class if dataset != "digits" else None)
    if name == "vit":
        kwargs.update(image_size=task.image_size, patch_size=4 if task.image_size % 4 == 0 else 2)
    model = ub.models.build(name, task.num_classes, task.in_channels, seed=0, **kwargs)
    recipe = ub.train.Recipe(epochs=epochs, lr=0.05, batch_size=128, augment=dataset != "digits")
    warmup = ub.train.Recipe(epochs=1, lr=0.05, batch_size=128)
    ub.train.fit(model, task.train.subset(list(range(256))), warmup, cache=False, progress=False)
    start = time.perf_counter()
    ub.train.fit(model, task.train, recipe, seed=0, cache=False, progress=False)
    seconds = (time.perf_counter() - start) / epochs
    return {"model": model_key, "dataset": dataset, "train_images": len(task.train),
            "params_M": round(ub.models.count_parameters(model) / 1e6, 2),
            "s_per_epoch": round(seconds, 2),
            "s_per_1k_images": round(1000 * seconds / len(task.train), 3),
            "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cifar-per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.cifar_per_class, args.epochs)))
        return
    import pandas as pd

    rows = []
    for dataset in ("digits", "cifar10"):
        for model in args.models:
            proc = subprocess.run([sys.executable, __file__, "--one", model, dataset,
                                   "--cifar-per-class", str(args.cifar_per_class),
                                   "--epochs", str(args.epochs)], capture_output=True, text=True)
            if proc.returncode:
                print(f"skip {model} on {dataset}: {proc.stderr.strip().splitlines()[-1]}")
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(rows[-1])
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
