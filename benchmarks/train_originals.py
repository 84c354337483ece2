"""Train (into the checkpoint cache) the original models a profile's runs share, exactly as the
grid's ``original`` job does, and print each one's train / forget-set / test accuracy beside
the paper's: the regime check of issue 28, without running any method.

Usage: python benchmarks/train_originals.py --profile cpu --paper dau --runs c10-class-rn-s0
Run it with the thread count the grid's jobs use (``OMP_NUM_THREADS=1`` for 2 workers on 2
cores): the thread count is part of the cache key.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from unlearnbook.metrics.core import accuracy, predict
from unlearnbook.pipeline import original_model
from unlearnbook.runner import build_task, full_parameters, plan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--paper", required=True)
    parser.add_argument("--runs", required=True, help="comma-separated run ids")
    args = parser.parse_args()
    for run in plan(args.profile, [args.paper], args.runs.split(",")):
        params = full_parameters(run)
        task = build_task(params)
        start = time.perf_counter()
        model = original_model(task, params["arch"], params["arch_kwargs"], params["recipe"],
                               params.get("train_seed", 0), progress=True,
                               pretrain=params.get("pretrain"), root=params.get("data_root"))
        print(json.dumps({
            "run": run.run_id, "threads": torch.get_num_threads(),
            "seconds": round(time.perf_counter() - start, 1),
            "cached": model.fit_info.cached, "train_seconds": round(model.fit_info.seconds, 1),
            **{f"{name}_acc": round(accuracy(*predict(model, data)), 2)
               for name, data in (("train", task.train), ("forget", task.forget),
                                  ("test", task.test))}}), flush=True)


if __name__ == "__main__":
    main()
