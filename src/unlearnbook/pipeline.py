"""What a paper notebook does, as functions: build the run's models, run methods, save results."""
from __future__ import annotations

import copy
import json
import os
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from . import methods as method_registry
from ._checks import UnlearnbookError
from .data.tasks import Task, forget_summary
from .device import default_device
from .io import atomic_write, write_text
from .metrics.suites import evaluate
from .models import build
from .prune import apply_masks, magnitude_masks
from .train import Recipe, fit, progress_enabled


@dataclass
class MethodSpec:
    """One method to run: registry ``name``, a table ``label`` and hyper-parameters ``hp``."""

    name: str
    label: str = ""
    hp: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.label = self.label or self.name


def method_specs(methods: list, method_hp: dict | None = None) -> list[MethodSpec]:
    """Parse a notebook's ``methods`` parameter (names or dicts) and merge ``method_hp[name]``."""
    specs = []
    for entry in methods:
        spec = MethodSpec(entry) if isinstance(entry, str) else MethodSpec(**entry)
        spec.hp = {**(method_hp or {}).get(spec.name, {}), **spec.hp}
        specs.append(spec)
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UnlearnbookError(f"method labels must be unique; got {labels}; allowed: give "
                               "repeated methods distinct 'label's")
    return specs


def original_model(task: Task, arch: str, arch_kwargs: dict, recipe: dict | Recipe,
                   train_seed: int = 0, progress: bool | None = None, sparsity: float = 0.0,
                   rewind_epoch: int = 8) -> nn.Module:
    """The model trained on ``task.train`` (from the checkpoint cache when it exists).

    With ``sparsity`` > 0: one-shot magnitude pruning with rewinding (Unlearn-Sparse OMP): train
    dense, prune that fraction of conv weights globally by magnitude, rewind the surviving weights
    to their values at ``rewind_epoch`` and train on from there with the masks fixed.
    """
    recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)
    model = build(arch, task.num_classes, task.in_channels, seed=train_seed, **arch_kwargs)
    dense = fit(model, task.train, recipe, seed=train_seed, progress=progress, desc="original")
    if not sparsity:
        return dense
    rewound = fit(model, task.train, replace(recipe, stop_epoch=rewind_epoch), seed=train_seed,
                  progress=progress, desc="rewind point")
    start = apply_masks(copy.deepcopy(rewound), magnitude_masks(dense, sparsity))
    return fit(start, task.train, replace(recipe, start_epoch=rewind_epoch), seed=train_seed,
               progress=progress, desc="sparse original")


def run_methods(original: nn.Module, task: Task, specs: list[MethodSpec], suite: str,
                seed: int = 0, progress: bool | None = None
                ) -> tuple[pd.DataFrame, dict[str, nn.Module]]:
    """Run every method on ``task`` and score it; return a tidy frame (one row per method x
    metric, with run time and hyper-parameters) and the unlearned models by label.

    ``seed`` is the unlearning seed, given to every method that takes one unless its ``hp`` sets it.
    """
    rows, models = [], {}
    for spec in tqdm(specs, desc="methods", disable=not progress_enabled(progress), leave=False):
        hp = dict(spec.hp)
        accepted = method_registry.hyperparameters(spec.name)
        if "seed" in accepted and "seed" not in hp:
            hp["seed"] = seed
        if "progress" in accepted:
            hp["progress"] = progress
        model = method_registry.unlearn(spec.name, original, task, **hp)
        models[spec.label] = model
        scores = evaluate(model, task, suite=suite)
        hp.pop("progress", None)
        recorded = json.dumps(hp, sort_keys=True, default=str)
        for metric, value in scores.items():
            rows.append({"method": spec.name, "label": spec.label, "metric": metric,
                         "value": value, "seconds": model.unlearn_seconds, "hp": recorded})
    return pd.DataFrame(rows), models


def hardware() -> str:
    """A one-line description of the machine, for result provenance."""
    device = default_device()
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()} threads"


def save_results(frame: pd.DataFrame, output_dir: str | os.PathLike, params: dict,
                 task: Task) -> Path:
    """Write ``results.csv`` (the frame with every run parameter as a column) and the forget set,
    atomically, into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tidy = frame.copy()
    for key, value in {**params, "data_source": task.source, "hardware": hardware()}.items():
        tidy[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
    write_text(out / "forget_set.json", json.dumps(forget_summary(task)))
    with atomic_write(out / "results.csv") as tmp:
        tidy.to_csv(tmp, index=False)
    return out / "results.csv"


def run_sparsities(task: Task, arch: str, arch_kwargs: dict, recipe: dict | Recipe,
                   train_seed: int, sparsities: list[float], rewind_epoch: int,
                   specs: list[MethodSpec], suite: str, seed: int = 0,
                   progress: bool | None = None
                   ) -> tuple[pd.DataFrame, dict[tuple[float, str], nn.Module]]:
    """:func:`run_methods` on the dense model and on each pruned variant of it; the frame gets
    a ``sparsity`` column and the models are keyed by (sparsity, label)."""
    frames, models = [], {}
    for sparsity in sparsities:
        original = original_model(task, arch, arch_kwargs, recipe, train_seed, progress,
                                  sparsity=sparsity, rewind_epoch=rewind_epoch)
        frame, unlearned = run_methods(original, task, specs, suite, seed, progress)
        frames.append(frame.assign(sparsity=sparsity))
        models.update({(sparsity, label): model for label, model in unlearned.items()})
    return pd.concat(frames, ignore_index=True), models
