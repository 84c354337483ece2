"""Benchmark (not a test): the time one SURE run of a profile takes on this device, measured on
shortened copies of the run and projected to its full length.

Usage: python benchmarks/sure_run_time.py [--profile paper] [--run partial-100-rn-s0]
       [--train-epochs 2] [--full]

The run keeps its data, model, hyper-parameters, metric suite and per-epoch scoring
(``select_epoch``); only the epoch counts are cut. Stages and projection:

- the original trains ``--train-epochs`` epochs: seconds per epoch x the recipe's epochs;
- the methods run for 1 and for 2 epochs each (learning-rate decay points dropped, which does not
  change an epoch's cost). The difference of the two wall times is one epoch of every method
  with its scoring: x (the methods' epochs - 1). The oracle (retrain, ``--train-epochs`` long in
  both) and the final evaluations are in the 1-epoch time once; the retrain's share is scaled to
  the recipe's epochs.

An upper estimate: the second epoch stands for every later one, and some are cheaper (SCRUB's
max steps end after ``max_steps`` epochs). On an H100 the cpu profile's class run was projected
at 2.0-2.2 min and measured at 1.5-1.6 min (plus 0.8 min decoding the JPEGs on a fresh machine).
At paper scale (width 64, 10,000 test images) the final scoring costs about 20 s per method on
top, measured here on one CPU core: 14 s for the Git Re-Basin alignment of the weight distance,
7 s for an RBF SVC on 20,000 confidence values.

``--full`` also runs the whole run as the profile has it (same code path, no notebook) and prints
the measured time beside the projection, to check the projection on this device.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import unlearnbook as ub
from unlearnbook.device import default_device
from unlearnbook.runner import plan
from unlearnbook.train import Recipe, synchronize

SCHEDULE_KEYS = ("decay_epochs", "milestones")


def timed(function, *args, **kwargs):
    synchronize(default_device())
    start = time.perf_counter()
    result = function(*args, **kwargs)
    synchronize(default_device())
    return result, time.perf_counter() - start


def run_methods(p: dict, task, original, specs) -> tuple[float, float]:
    """Wall seconds of the run's methods on ``original``, and the oracle's share of them."""
    (frame, _), seconds = timed(ub.pipeline.run_methods, original, task, specs, suite="sure",
                                unlearn_seed=p["unlearn_seed"], progress=False,
                                select_epoch=p.get("select_epoch"))
    return seconds, float(frame.loc[frame.label == "retrain", "seconds"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--run", default="partial-100-rn-s0")
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    p = plan(args.profile, ["sure"], [args.run])[0].parameters
    recipe = Recipe.from_dict(p["recipe"])
    specs = ub.pipeline.method_specs(p["methods"], p.get("method_hp"))
    method_epochs = {s.label: s.hp.get("epochs") for s in specs if s.name != "retrain"}
    if len(set(method_epochs.values())) != 1 or None in method_epochs.values():
        raise SystemExit(f"every method needs the same 'epochs' to project; got {method_epochs}")
    epochs = next(iter(method_epochs.values()))
    print(f"device: {ub.pipeline.hardware()}; profile {args.profile}, run {args.run}: "
          f"{p['arch']} {p['arch_kwargs']}, original {recipe.epochs} epochs, "
          f"{len(method_epochs)} methods x {epochs} epochs")

    task, task_s = timed(ub.data.make_task, p["dataset"], p["scenario"],
                         forget_class=p.get("forget_class"), forget_size=p.get("forget_size"),
                         seed=p["split_seed"], val_fraction=p["val_fraction"],
                         **(p.get("task_kwargs") or {}))
    short = replace(recipe, epochs=args.train_epochs, milestones=())
    model = ub.models.build(p["arch"], task.num_classes, task.in_channels, seed=p["train_seed"],
                            **p["arch_kwargs"])
    warmup = replace(short, epochs=1)  # first-call costs (kernel selection, lazy init) untimed
    ub.train.fit(model, task.train.subset(list(range(256))), warmup, cache=False, progress=False)
    original, train_s = timed(ub.train.fit, model, task.train, short, seed=p["train_seed"],
                              cache=False, progress=False)

    print(f"data {task_s:.1f} s, original {train_s:.1f} s for {args.train_epochs} epochs",
          flush=True)

    def shortened(method_epochs: int) -> list:
        return [replace(s, hp={**{k: v for k, v in s.hp.items() if k not in SCHEDULE_KEYS},
                               "epochs": method_epochs}) if s.name != "retrain" else s
                for s in specs]

    one_s, oracle_s = run_methods(p, task, original, shortened(1))
    print(f"methods for 1 epoch: {one_s:.1f} s", flush=True)
    two_s, _ = run_methods(p, task, original, shortened(2))
    per_method_epoch = two_s - one_s
    projected = {
        "data": task_s,
        "original": train_s / args.train_epochs * recipe.epochs,
        "oracle": oracle_s / args.train_epochs * recipe.epochs,
        "methods": (one_s - oracle_s) + per_method_epoch * (epochs - 1),
    }
    print(f"measured: data {task_s:.1f} s; original {train_s / args.train_epochs:.2f} s/epoch; "
          f"oracle {oracle_s / args.train_epochs:.2f} s/epoch; all methods, 1 epoch "
          f"{one_s - oracle_s:.1f} s, each further epoch {per_method_epoch:.1f} s")
    print("projected: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in projected.items())
          + f"; run {sum(projected.values()) / 60:.1f} min")
    if args.full:
        start = time.perf_counter()
        model = ub.models.build(p["arch"], task.num_classes, task.in_channels,
                                seed=p["train_seed"], **p["arch_kwargs"])
        original = ub.train.fit(model, task.train, recipe, seed=p["train_seed"], cache=False,
                                progress=False)
        run_methods(p, task, original, specs)
        print(f"full run measured: {(time.perf_counter() - start + task_s) / 60:.1f} min")


if __name__ == "__main__":
    main()
