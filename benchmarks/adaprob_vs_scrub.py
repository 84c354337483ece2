"""Benchmark (not a test): AdaProb's unlearning time against SCRUB's, both with their registry
defaults, on a digits class-wise task (the claim "less than half of SCRUB's time", ADA-F4).

Usage: python benchmarks/adaprob_vs_scrub.py [--repeats 5] [--forget-class 3]
Prints each method's wall times, their means and the ratio AdaProb / SCRUB, plus the errors
after unlearning so that the times belong to runs that did what they should.
"""
from __future__ import annotations

import argparse
import statistics

import unlearnbook as ub
from unlearnbook.metrics.core import accuracy, predict


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--forget-class", type=int, default=3)
    args = parser.parse_args()
    task = ub.data.make_task("digits", "class", forget_class=args.forget_class)
    original = ub.pipeline.original_model(
        task, "smallcnn", {}, {"epochs": 12, "lr": 0.05, "batch_size": 64, "schedule": "cosine"},
        progress=False)
    means = {}
    for name in ("scrub", "adaprob"):
        ub.methods.unlearn(name, original, task, progress=False)  # warm-up, not timed
        times = []
        for repeat in range(args.repeats):
            model = ub.methods.unlearn(name, original, task, seed=repeat, progress=False)
            times.append(model.unlearn_seconds)
        errors = {part: 100.0 - accuracy(*predict(model, getattr(task, part)))
                  for part in ("retain", "forget")}
        means[name] = statistics.mean(times)
        print(f"{name:8s} times {', '.join(f'{t:.3f}' for t in times)} s; mean "
              f"{means[name]:.3f} s; retain error {errors['retain']:.1f}%, forget error "
              f"{errors['forget']:.1f}%")
    print(f"AdaProb / SCRUB time ratio: {means['adaprob'] / means['scrub']:.2f}")


if __name__ == "__main__":
    main()
