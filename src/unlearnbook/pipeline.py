"""What a paper notebook does, as functions: build the run's models, run methods, save results."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import pickle
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from . import methods as method_registry
from ._checks import UnlearnbookError, check_choice
from .data.tasks import Task, forget_summary, training_set
from .device import default_device
from .epochs import CURVE_METRICS, SELECTIONS, EpochTracker, epoch_scores, top_epochs
from .io import RESUME_ENV, atomic_write, write_text
from .metrics.core import embed, predict
from .metrics.suites import compare, evaluate, suites as metric_suites
from .models import build
from .prune import apply_masks, magnitude_masks
from .stats import binomial_se
from .train import Recipe, cache_dir, fit, machine, progress_enabled, set_aside, state_hash


@dataclass
class MethodSpec:
    """One method to run: registry ``name``, a table ``label`` and hyper-parameters ``hp``."""

    name: str
    label: str = ""
    hp: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.label = self.label or self.name


def method_specs(methods: list | None, method_hp: dict | None = None) -> list[MethodSpec]:
    """Parse a notebook's ``methods`` parameter (names or dicts; None: every registered method)
    and merge ``method_hp[name]``."""
    specs = []
    for entry in method_registry.available() if methods is None else methods:
        spec = MethodSpec(entry) if isinstance(entry, str) else MethodSpec(**entry)
        spec.hp = {**(method_hp or {}).get(spec.name, {}), **spec.hp}
        specs.append(spec)
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UnlearnbookError(f"method labels must be unique; got {labels}; allowed: give "
                               "repeated methods distinct 'label's")
    return specs


PRETRAIN_KEYS = ("dataset", "classes", "train_per_class", "recipe", "seed")


def pretrained_start(task: Task, arch: str, arch_kwargs: dict, pretrain: dict,
                     train_seed: int = 0, progress: bool | None = None,
                     root: str | os.PathLike | None = None) -> nn.Module:
    """The SCRUB protocol's starting point (AdaProb §5.2): ``arch`` pre-trained on another
    dataset (``pretrain``: ``dataset``, optional ``classes`` / ``train_per_class``, its
    ``recipe`` and ``seed``; cached like any training), then its head replaced by a fresh one
    for ``task`` (initialised with ``train_seed``). The result is saved as an initial-weights
    file named by its content, so :func:`~unlearnbook.models.rebuild` (the oracle's retraining,
    EU-k's reset) starts from exactly these weights."""
    unknown = sorted(set(pretrain) - set(PRETRAIN_KEYS))
    if unknown or "dataset" not in pretrain or "recipe" not in pretrain:
        raise UnlearnbookError(f"bad pretrain {pretrain!r}: unknown {unknown}; allowed keys: "
                               f"{', '.join(PRETRAIN_KEYS)} (dataset and recipe required)")
    source = training_set(pretrain["dataset"], classes=pretrain.get("classes"),
                          train_per_class=pretrain.get("train_per_class"), root=root)
    seed = int(pretrain.get("seed", 0))
    source_classes = int(source.labels.max()) + 1
    backbone = build(arch, source_classes, task.in_channels, seed=seed, **arch_kwargs)
    backbone = fit(backbone, source, Recipe.from_dict(pretrain["recipe"]), seed=seed,
                   progress=progress, desc="pre-train")
    start = build(arch, task.num_classes, task.in_channels, seed=train_seed, **arch_kwargs)
    start.load_state_dict({k: v for k, v in backbone.state_dict().items()
                           if not k.startswith("head.")}, strict=False)
    path = cache_dir() / "init" / f"{state_hash(start)}.pt"
    if path.exists() and not _intact(path):
        set_aside(path, "its weights do not hash to its name")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            torch.save(start.state_dict(), tmp)
    return build(arch, task.num_classes, task.in_channels, weights=path, **arch_kwargs)


def _intact(path: Path) -> bool:
    """Whether an initial-weights file (named by its content's :func:`state_hash`) loads and
    still hashes to its name."""
    try:
        return state_hash(torch.load(path, map_location="cpu", weights_only=True)) == path.stem
    except Exception:  # a cut or garbled file: any unpickling error
        return False


def original_model(task: Task, arch: str, arch_kwargs: dict, recipe: dict | Recipe,
                   train_seed: int = 0, progress: bool | None = None, sparsity: float = 0.0,
                   rewind_epoch: int = 8, pretrain: dict | None = None,
                   root: str | os.PathLike | None = None) -> nn.Module:
    """The model trained on ``task.train`` (from the checkpoint cache when it exists).

    With ``sparsity`` > 0: one-shot magnitude pruning with rewinding (Unlearn-Sparse OMP): train
    dense, prune that fraction of conv weights globally by magnitude, rewind the surviving weights
    to their values at ``rewind_epoch`` and train on from there with the masks fixed. With
    ``pretrain``: start from :func:`pretrained_start` instead of a random initialisation.
    """
    recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)
    if pretrain:
        model = pretrained_start(task, arch, arch_kwargs, pretrain, train_seed, progress, root)
    else:
        model = build(arch, task.num_classes, task.in_channels, seed=train_seed, **arch_kwargs)
    dense = fit(model, task.train, recipe, seed=train_seed, progress=progress, desc="original")
    if not sparsity:
        return dense
    if not 0 < rewind_epoch <= recipe.epochs:
        raise UnlearnbookError(f"rewind_epoch {rewind_epoch!r} is out of range for a "
                               f"{recipe.epochs}-epoch recipe; allowed: 1..{recipe.epochs}")
    rewound = fit(model, task.train, replace(recipe, stop_epoch=rewind_epoch), seed=train_seed,
                  progress=progress, desc="rewind point")
    start = apply_masks(copy.deepcopy(rewound), magnitude_masks(dense, sparsity))
    return fit(start, task.train, replace(recipe, start_epoch=rewind_epoch), seed=train_seed,
               progress=progress, desc="sparse original")


def _epoch_rows(model: nn.Module, tracker: EpochTracker, reference: dict | None) -> list[dict]:
    """After an iterative method: restore its best epoch (unless it chose one itself, as
    SCRUB+R does), and return rows for the per-epoch curves (``curve_<m>`` with an ``epoch``),
    the selected ``best_epoch``, the top-5-epoch means ``<m>_top5`` and, with an oracle, their
    gaps ``d<m>_top5``. The tracker's evaluation time is taken out of the run time."""
    model.unlearn_seconds -= tracker.seconds
    curves = tracker.curves
    info = model.unlearn_info
    if "epoch" in info and "reference_error" in info:  # the method's own rule (SCRUB+R)
        order = (info["history"]["forget_error"] - info["reference_error"]).abs()
        order.index = curves.index
    else:
        info["epoch"] = tracker.restore_best(model)
        order = curves["score"]
    info["curves"] = curves
    top = top_epochs(curves, order)
    rows = [{"metric": "best_epoch", "value": float(info["epoch"])}]
    for metric in (m for m in CURVE_METRICS if m in curves):
        rows += [{"metric": f"curve_{metric}", "value": v, "epoch": e}
                 for e, v in zip(curves["epoch"], curves[metric])]
        rows.append({"metric": f"{metric}_top5", "value": float(top[metric].mean())})
        if reference is not None and metric in reference:
            rows.append({"metric": f"d{metric}_top5",
                         "value": abs(float(top[metric].mean()) - reference[metric])})
    return rows


def run_methods(original: nn.Module, task: Task, specs: list[MethodSpec],
                suite: str | list[str] | None, unlearn_seed: int = 0,
                progress: bool | None = None, select_epoch: str | None = None,
                oracle: str = "retrain", oracle_seed: int | None = None,
                resume: str | os.PathLike | None = None
                ) -> tuple[pd.DataFrame, dict[str, nn.Module]]:
    """Run every method on ``task`` and score it with one metric suite or several; return a tidy
    frame (one row per method x suite x metric, with run time, hyper-parameters and the training
    and unlearning seeds) and the unlearned models by label.

    ``suite`` None: every metric suite. ``unlearn_seed`` goes to every method that takes a seed
    unless its ``hp`` sets one, except the retrained oracles, which get ``oracle_seed`` or, when
    that is None, the original's training seed (recorded in their ``hp``; LFSSD's protocol holds
    the original fixed and varies the oracle's seed). The method labelled ``oracle`` runs first when present; suites
    with oracle comparisons (SURE's gaps, weight distance, RRT) then add them for every method.
    ``select_epoch`` (SURE's protocol; see :mod:`unlearnbook.epochs`): score iterative methods
    after every epoch, report their best epoch by that rule and add per-epoch curves and
    top-5-epoch means.

    ``resume`` (default ``$UNLEARNBOOK_RESUME``, which the grid runner sets per run; None: keep
    nothing): a folder where each finished method is saved (its rows, scores and model), named by
    a hash of everything they depend on (:func:`_method_key`), so a stopped run starts again at
    its first unfinished method and a changed input never reuses a saved one.
    """
    suites = metric_suites() if suite is None else [suite] if isinstance(suite, str) else suite
    if select_epoch is not None:
        check_choice("epoch selection", select_epoch, SELECTIONS)
        if select_epoch == "oracle" and oracle not in [s.label for s in specs]:
            raise UnlearnbookError(f"epoch selection 'oracle' needs the oracle {oracle!r} among "
                                   f"the methods; got {[s.label for s in specs]}; allowed: add "
                                   f"{oracle!r} or use select_epoch='val'")
    resume = resume if resume is not None else os.environ.get(RESUME_ENV) or None
    context = None if resume is None else {
        "original": state_hash(original), "task": task.fingerprint(), "suites": suites,
        "select_epoch": select_epoch, "oracle": oracle, "hardware": hardware(),
        "scoring_code": scoring_fingerprint(suites)}
    specs = sorted(specs, key=lambda s: s.label != oracle)  # the oracle first (stable)
    rows, models, resumed = [], {}, []
    oracle_model, oracle_scores, oracle_key, reference = None, {}, None, None
    for spec in tqdm(specs, desc="methods", disable=not progress_enabled(progress), leave=False):
        hp = dict(spec.hp)
        accepted = method_registry.hyperparameters(spec.name)
        if "seed" in accepted and "seed" not in hp:  # the oracle: the original's seed
            train = method_registry.info(spec.name).seed_axis == "train"
            own = getattr(original, "train_seed", 0) if oracle_seed is None else oracle_seed
            hp["seed"] = own if train else unlearn_seed
        saved_at = None
        if context is not None:
            key = _method_key(context, spec, hp, None if spec.label == oracle else oracle_key)
            saved_at = Path(resume) / f"{key}.pt"
        saved = _load_method(saved_at, original)
        if saved is not None:
            method_rows, scores, model = saved
            resumed.append(spec.label)
        else:
            method_rows, scores, model = _run_method(
                spec, hp, original, task, suites, progress, select_epoch, oracle, reference,
                oracle_model, oracle_scores)
            if saved_at is not None:
                _save_method(saved_at, method_rows, scores, model)
        models[spec.label] = model
        rows += method_rows
        if spec.label == oracle:
            oracle_model, oracle_scores = model, scores
            oracle_key = saved_at and saved_at.stem
            reference = epoch_scores(model, task) if select_epoch else None
    if resumed:
        print(f"run_methods: {', '.join(resumed)} as an earlier, stopped attempt at this run "
              "finished them (the same inputs and code; saved in the cache)", file=sys.stderr)
    fit_info = getattr(original, "fit_info", None)
    frame = pd.DataFrame(rows).assign(
        train_seed=getattr(original, "train_seed", None), unlearn_seed=unlearn_seed,
        oracle_seed=getattr(original, "train_seed", None) if oracle_seed is None else oracle_seed,
        train_precision=getattr(fit_info, "precision", None),
        train_channels_last=getattr(fit_info, "channels_last", None))
    return frame, models


def _run_method(spec: MethodSpec, hp: dict, original: nn.Module, task: Task, suites: list[str],
                progress: bool | None, select_epoch: str | None, oracle: str,
                reference: dict | None, oracle_model: nn.Module | None,
                oracle_scores: dict[str, dict]) -> tuple[list[dict], dict[str, dict], nn.Module]:
    """One method of :func:`run_methods`: unlearn, score with every suite (against the oracle
    once it ran) and return its rows, its own scores per suite and its model."""
    hp = dict(hp)
    accepted = method_registry.hyperparameters(spec.name)
    if "progress" in accepted:
        hp["progress"] = progress
    tracker = None
    if select_epoch is not None and "on_epoch" in accepted and spec.label != oracle:
        tracker = EpochTracker(task, select_epoch, reference)
        hp["on_epoch"] = tracker
    model = method_registry.unlearn(spec.name, original, task, **hp)
    extra = _epoch_rows(model, tracker, reference) if tracker is not None else []
    for key in ("progress", "on_epoch"):
        hp.pop(key, None)
    hp.update(getattr(model, "unlearn_info", {}).get("chosen", {}))  # e.g. IU's tuned α
    if spec.label == oracle:
        oracle_model = model
    trains = method_registry.info(spec.name).seed_axis == "train"  # a retrained oracle
    base = {"method": spec.name, "label": spec.label, "seconds": model.unlearn_seconds,
            "hp": json.dumps(hp, sort_keys=True, default=str),
            "unlearn_precision": getattr(getattr(model, "fit_info", None), "precision",
                                         "fp32") if trains else "fp32"}
    rows, own = [], {}
    for name in suites:
        scores = own[name] = evaluate(model, task, suite=name)
        if oracle_model is not None:
            reference_scores = scores if spec.label == oracle else oracle_scores[name]
            scores = {**scores, **compare(name, model, oracle_model, scores, reference_scores,
                                          task)}
        rows += [{**base, "suite": name, "metric": k, "value": v} for k, v in scores.items()]
    rows += [{**base, "suite": suites[0], **row} for row in extra]
    report = getattr(model, "unlearn_info", {}).get("report", {})  # a method's diagnostics
    rows += [{**base, "suite": suites[0], "metric": k, "value": float(v)}
             for k, v in report.items()]
    return rows, own, model


def scoring_fingerprint(suites: list[str]) -> str:
    """A hash of the code a method's rows come from besides the method itself: each of
    ``suites``' code (:func:`~unlearnbook.metrics.suite_fingerprint`), the epoch selection and the
    two functions here that build the rows. A saved method is reused, and a finished run stays
    current, only while it holds (another suite's edit, or other edits here, do not count)."""
    from . import epochs
    from .codehash import function_fingerprint, source_tree
    from .metrics import suite_fingerprint

    text = json.dumps({"suites": {name: suite_fingerprint(name) for name in sorted(suites)},
                       "epochs": source_tree(epochs),
                       "rows": function_fingerprint([_run_method, _epoch_rows], __name__)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _method_key(context: dict, spec: MethodSpec, hp: dict, oracle_key: str | None) -> str:
    """The name of a method's saved state in a run: a hash of the run's ``context`` (original's
    weights, task, suites, epoch selection, hardware, scoring code), the method's name, label,
    hyper-parameters and code (:func:`~unlearnbook.methods.code_fingerprint`) and, for every
    method after the oracle, the oracle's own key (its comparisons read the oracle)."""
    text = json.dumps({**context, "name": spec.name, "label": spec.label, "hp": hp,
                       "code": method_registry.code_fingerprint(spec.name),
                       "oracle_key": oracle_key}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _attributes(model: nn.Module) -> dict:
    """What a method hangs on its model besides weights (``unlearn_info``, ``unlearn_seconds``,
    ``fit_info``, ``spec``, ...): the public entries of its ``__dict__``."""
    return {k: v for k, v in vars(model).items() if not k.startswith("_") and k != "training"}


def _save_method(path: Path, rows: list[dict], scores: dict[str, dict], model: nn.Module) -> None:
    """Keep a finished method of a run (atomically); a model whose diagnostics cannot be
    pickled is not kept (the run then redoes that method if it is stopped), with a warning."""
    try:
        with atomic_write(path) as tmp:
            torch.save({"rows": rows, "scores": scores, "state": model.state_dict(),
                        "attributes": _attributes(model)}, tmp)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        warnings.warn(f"method {rows[0]['label'] if rows else '?'!r} was not saved for "
                      f"resuming ({err}); a stopped run redoes it")


def _load_method(path: Path | None, original: nn.Module
                 ) -> tuple[list[dict], dict[str, dict], nn.Module] | None:
    """A method saved by :func:`_save_method` at ``path`` (rows, scores and its model: a copy of
    ``original`` with the saved weights and attributes), or None when there is none or it does
    not load (then it is set aside with a warning and the method runs again)."""
    if path is None or not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        model = copy.deepcopy(original)
        model.load_state_dict(saved["state"])
        for name in set(_attributes(model)) - set(saved["attributes"]):
            delattr(model, name)
        for name, value in saved["attributes"].items():
            setattr(model, name, value)
        return saved["rows"], saved["scores"], model
    except Exception as err:  # a cut or garbled file, or a model of another shape
        set_aside(path, f"it does not load ({type(err).__name__}: {err})")
        return None


def wide(results: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One run's tidy results as a table: methods as rows (per sparsity when there are several),
    ``metrics`` and the run time in seconds as columns."""
    index = ["sparsity", "label"] if "sparsity" in results else ["label"]
    data = results[results["metric"].isin(metrics)]
    table = data.pivot_table(index=index, columns="metric", values="value", sort=False)
    table = table[[m for m in metrics if m in table.columns]]
    table["seconds"] = results.groupby(index, sort=False)["seconds"].first()
    return table.round(2)


#: The set each outcome metric is a proportion over (its binomial error's n): ``Df`` and ``CTA``
#: read the forgotten class's test images where a class is forgotten, else D_f (as the LFSSD
#: suite); an attack's rate is over D_f.
METRIC_SETS = {"UA": "forget", "RA": "retain", "TA": "test", "Utility": "test",
               "CTA": "test_forget", "Dr": "test_retain", "Df": "test_forget",
               "forget_err": "forget", "retain_err": "retain", "test_err": "test",
               "MIA": "forget", "MIA_I": "forget", "MIA_efficacy": "forget"}


def sample_counts(task: Task) -> dict[str, int]:
    """How many images each metric of :data:`METRIC_SETS` is measured on in ``task``."""
    test_forget = task.test_forget
    sizes = {"forget": len(task.forget), "retain": len(task.retain), "test": len(task.test),
             "test_retain": len(task.test_retain),
             "test_forget": len(task.forget) if test_forget is None else len(test_forget)}
    return {metric: sizes[part] for metric, part in METRIC_SETS.items()}


def outcome(results: pd.DataFrame, method: str, metrics: list[str],
            references: tuple[str, ...] = ("original", "retrain"),
            samples: dict[str, int] | None = None) -> str:
    """What one run showed, in a sentence per metric: ``method`` beside the reference methods
    present in ``results`` (the original model and the retrained oracle), for a notebook's end.
    ``samples`` (:func:`sample_counts`): each metric's image count, so every number carries its
    binomial error (:func:`~unlearnbook.stats.binomial_se`) and the reading names the metrics
    on which the method and the oracle lie within two of them."""
    first = results
    if "sparsity" in results:  # the dense model when a run has several sparsities
        first = results[results["sparsity"] == results["sparsity"].min()]
    values = first.pivot_table(index="label", columns="metric", values="value", aggfunc="first")
    if method not in values.index:
        return f"`{method}` did not run in this notebook."
    samples = samples or {}

    def number(label: str, metric: str) -> str:
        value = values.loc[label, metric]
        n = samples.get(metric)
        return f"{value:.1f}" + (f" ± {binomial_se(value, n):.1f}" if n else "")

    lines = []
    for metric in metrics:
        if metric not in values:
            continue
        refs = [f"{ref} {number(ref, metric)}" for ref in references if ref in values.index]
        lines.append(f"- **{metric}**: `{method}` {number(method, metric)}"
                     + (f" ({', '.join(refs)})" if refs else "")
                     + (f", on {samples[metric]:,} images" if samples.get(metric) else ""))
    seconds = first[first["label"] == method]["seconds"].iloc[0]
    lines.append(f"- **run time**: `{method}` {seconds:.1f} s")
    if samples:
        lines.append("\n± is the binomial error of a proportion over that many images (one run; "
                     "no spread over seeds).")
    return "\n".join(lines) + "\n\n" + _reading(values, method, metrics, samples)


def _reading(values: pd.DataFrame, method: str, metrics: list[str],
             samples: dict[str, int]) -> str:
    """One sentence of interpretation: did the method move the model towards the oracle, and on
    which metrics do the two lie within two binomial errors (the forget set cannot tell)?"""
    shown = [m for m in metrics if m in values]
    if not {"original", "retrain"} <= set(values.index) or not shown:
        return "Without both the original and the oracle in this run, there is no yardstick."
    row, original, oracle = (values.loc[name, shown] for name in (method, "original", "retrain"))
    if ((row - original).abs() < 0.05).all():
        return (f"**Reading:** `{method}` left every metric where the original model had it: "
                "it changed nothing at this setting.")
    closer = [m for m in shown if abs(row[m] - oracle[m]) < abs(original[m] - oracle[m])]
    farther = [m for m in shown if abs(row[m] - oracle[m]) > abs(original[m] - oracle[m])]
    text = (f"**Reading:** `{method}` moved closer to the oracle than the original model on "
            f"{len(closer)} of {len(shown)} metrics ({', '.join(closer) or 'none'})")
    text += f" and away from it on {', '.join(farther)}." if farther else "."
    tied = [m for m in shown if samples.get(m) and abs(row[m] - oracle[m]) <= 2 * math.hypot(
        binomial_se(row[m], samples[m]), binomial_se(oracle[m], samples[m]))]
    if tied:
        text += (f" On {', '.join(tied)} it lies within two binomial errors of the oracle: at "
                 "these sample sizes the two cannot be told apart.")
    return text


def sensitivity_specs(method: str, factors: list[float], base_hp: dict | None = None
                      ) -> list[MethodSpec]:
    """SURE-F16: ``method`` on the grid lr × α, each a factor of its base value (``base_hp`` or
    the registry default); labels ``<method>@lr=<factor>,alpha=<factor>``."""
    base = {**method_registry.hyperparameters(method), **(base_hp or {})}
    return [MethodSpec(method, f"{method}@lr={lr_factor:g},alpha={alpha_factor:g}",
                       {**(base_hp or {}), "lr": base["lr"] * lr_factor,
                        "alpha": min(1.0, base["alpha"] * alpha_factor)})
            for lr_factor in factors for alpha_factor in factors]


def tsne(points: np.ndarray, seed: int) -> np.ndarray:
    """A 2-D t-SNE as the papers draw theirs: perplexity 30 (n − 1 for fewer points), PCA init,
    seeded."""
    from sklearn.manifold import TSNE  # imported on use: scikit-learn's TSNE is slow to load

    return TSNE(perplexity=min(30.0, len(points) - 1), init="pca",
                random_state=seed).fit_transform(points)


def embedding_map(models: dict[str, nn.Module], task: Task, seed: int = 0,
                  max_other: int = 5000) -> pd.DataFrame:
    """SURE-F6: a 2-D :func:`tsne` of each model's penultimate embeddings of the training set;
    ``group`` is ``forget`` (D_f), ``forget class`` (retained samples of D_f's classes) or
    ``other`` (the rest of D_r, at most ``max_other`` of them)."""
    classes = torch.unique(task.forget.labels)
    same = torch.isin(task.retain.labels, classes).numpy()
    rng = np.random.RandomState(seed)
    other = np.flatnonzero(~same)
    other = np.sort(rng.choice(other, min(max_other, len(other)), replace=False))
    keep = np.concatenate([np.flatnonzero(same), other])
    groups = np.array(["forget"] * len(task.forget) + ["forget class"] * int(same.sum())
                      + ["other"] * len(other))
    frames = []
    for label, model in models.items():
        points = torch.cat([embed(model, task.forget), embed(model, task.retain.subset(keep))])
        xy = tsne(points.numpy(), seed)
        frames.append(pd.DataFrame({"label": label, "x": xy[:, 0], "y": xy[:, 1],
                                    "group": groups}))
    return pd.concat(frames, ignore_index=True)


def output_map(models: dict[str, nn.Module], task: Task, seed: int = 0) -> pd.DataFrame:
    """AdaProb-F2/F3: a 2-D t-SNE of the models' softmax outputs, fitted jointly on all models'
    outputs (so they share coordinates), once on the test set (``inputs`` = ``test``) and once
    on D_f (``forget``), each with :func:`tsne`."""
    frames = []
    for inputs, data in (("test", task.test), ("forget", task.forget)):
        outputs = [torch.softmax(predict(model, data)[0], 1) for model in models.values()]
        stacked = torch.cat(outputs).numpy()
        xy = tsne(stacked, seed)
        labels = np.repeat(list(models), [len(o) for o in outputs])
        frames.append(pd.DataFrame({"label": labels, "x": xy[:, 0], "y": xy[:, 1],
                                    "inputs": inputs}))
    return pd.concat(frames, ignore_index=True)


def hardware() -> str:
    """A one-line description of the machine and the threads a CPU run uses, for provenance."""
    if default_device().type == "cuda":
        return machine()
    return f"{machine()}, {torch.get_num_threads()} thread(s)"


def save_results(frame: pd.DataFrame, output_dir: str | os.PathLike, task: Task,
                 extras: dict[str, pd.DataFrame | None] | None = None) -> Path:
    """Write ``results.csv`` (the frame plus the split seed, data source and hardware) and the
    forget set, atomically, into ``output_dir``. The grid runner adds the run's parameters.
    ``extras``: further tables a figure needs (e.g. t-SNE coordinates), written as
    ``extra_<name>.csv`` (None values are skipped); the book gathers them across runs."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, extra in (extras or {}).items():
        if extra is not None:
            with atomic_write(out / f"extra_{name}.csv") as tmp:
                extra.to_csv(tmp, index=False)
    tidy = frame.assign(split_seed=task.seed, data_seed=task.data_seed, data_source=task.source,
                        hardware=hardware())
    write_text(out / "forget_set.json", json.dumps(forget_summary(task)))
    with atomic_write(out / "results.csv") as tmp:
        tidy.to_csv(tmp, index=False)
    return out / "results.csv"


def run_sparsities(task: Task, arch: str, arch_kwargs: dict, recipe: dict | Recipe,
                   train_seed: int, sparsities: list[float], rewind_epoch: int,
                   specs: list[MethodSpec], suite: str, unlearn_seed: int = 0,
                   progress: bool | None = None, oracle_seed: int | None = None
                   ) -> tuple[pd.DataFrame, dict[tuple[float, str], nn.Module]]:
    """:func:`run_methods` on the dense model and on each pruned variant of it; the frame gets
    a ``sparsity`` column and the models are keyed by (sparsity, label). ``oracle_seed``: the
    retrained oracles' seed (None: the original's training seed)."""
    frames, models = [], {}
    for sparsity in sparsities:
        original = original_model(task, arch, arch_kwargs, recipe, train_seed, progress,
                                  sparsity=sparsity, rewind_epoch=rewind_epoch)
        frame, unlearned = run_methods(original, task, specs, suite, unlearn_seed, progress,
                                       oracle_seed=oracle_seed)
        frames.append(frame.assign(sparsity=sparsity))
        models.update({(sparsity, label): model for label, model in unlearned.items()})
    return pd.concat(frames, ignore_index=True), models
