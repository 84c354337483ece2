"""Train (into the checkpoint cache and the profile's model store, ``results/<profile>/models``)
the original models a profile's runs share, exactly as the grid's ``original`` job does, and
with ``--oracles`` each run's retrained oracle as its notebook would (same seed, same recipe):
print each model's train / forget-set / test accuracy, without running any unlearning method.

Usage: python benchmarks/train_originals.py --profile cpu --paper dau --runs c10-class-rn-s0 \
           [--oracles] [--out results/cpu/originals.csv]
Run it with the thread count the grid's jobs use (``OMP_NUM_THREADS=1`` for 2 workers on 2
cores): the thread count is part of the cache key. ``--out`` adds (or replaces) one row per
original in a CSV the book's regime table reads (written atomically).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from unlearnbook.io import atomic_write
from unlearnbook.methods import unlearn
from unlearnbook.metrics.core import accuracy, predict
from unlearnbook.pipeline import hardware, original_model
from unlearnbook.profiles import load
from unlearnbook.runner import build_task, commit, full_parameters, plan, use_model_store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--paper", required=True)
    parser.add_argument("--runs", required=True, help="comma-separated run ids")
    parser.add_argument("--out", default=None, help="a CSV to add the rows to")
    parser.add_argument("--results", default="results")
    parser.add_argument("--oracles", action="store_true", help="also each run's oracle")
    args = parser.parse_args()
    rows = []
    for run in plan(args.profile, [args.paper], args.runs.split(",")):
        params = full_parameters(run)
        use_model_store(args.results, load(args.profile)["name"])
        task = build_task(params)
        model = original_model(task, params["arch"], params["arch_kwargs"], params["recipe"],
                               params.get("train_seed", 0), progress=True,
                               pretrain=params.get("pretrain"), root=params.get("data_root"))
        models = {"original": model}
        if args.oracles:
            seed = params.get("oracle_seed")
            oracle = unlearn("retrain", model, task, progress=True,
                             seed=params.get("train_seed", 0) if seed is None else seed)
            models["retrain"] = oracle
        for kind, trained in models.items():
            row = {
                "paper": args.paper, "run": run.run_id, "model": kind,
                "dataset": params["dataset"],
                "arch": f"{params['arch']} {json.dumps(params['arch_kwargs'])}",
                "train_images": len(task.train if kind == "original" else task.retain),
                "epochs": params["recipe"]["epochs"], "threads": torch.get_num_threads(),
                "train_seconds": round(trained.fit_info.seconds, 1),
                "cached": trained.fit_info.cached, "hardware": hardware(), "commit": commit(),
                "data_source": task.source.split(" /")[0],
                **{f"{name}_acc": round(accuracy(*predict(trained, data)), 2)
                   for name, data in (("train", task.train), ("forget", task.forget),
                                      ("test", task.test))}}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        out = Path(args.out)
        old = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["run", "model"])
        if "model" not in old:
            old["model"] = "original"
        done = {(r["run"], r["model"]) for r in rows}
        kept = old[[(run, kind) not in done for run, kind in zip(old["run"], old["model"])]]
        frame = pd.concat([kept, pd.DataFrame(rows)])
        with atomic_write(out) as tmp:
            frame.to_csv(tmp, index=False)


if __name__ == "__main__":
    main()
