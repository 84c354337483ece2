"""What a grid costs before it runs: training images per run and hours on this machine.

The unit is one training image: a forward and a backward pass of one image through the run's
architecture (an evaluation image counts a third of one). A run needs its original (once per
original that runs share, and not at all once trained), its retrained oracles, every method's
passes over its data and the scoring of every model. Hours follow from a short speed probe of
the architecture on this machine (:func:`images_per_second`, cached per machine, threads and
architecture), so the same plan reads differently on a slow and a fast CPU. The estimate is a
model, not a measurement: the reproduce page shows both.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from dataclasses import dataclass

from .data.sources import SHAPES

#: Test images per dataset (the sizes in :data:`~unlearnbook.data.sources.SHAPES` are training
#: images) and image shape (channels, side).
TEST_IMAGES = {"digits": 359, "digits5": 359, "cifar10": 10000, "cifar100": 10000,
               "cifar20": 10000}
IMAGE = {"digits": (1, 8), "digits5": (1, 8), "cifar10": (3, 32), "cifar100": (3, 32),
         "cifar20": (3, 32)}
#: An evaluation image (forward pass only) in training images.
EVAL = 1 / 3
#: Speeds probed by this process (a busy machine's are not written to disk, but not redone).
_PROBED: dict[str, float] = {}


@dataclass(frozen=True)
class Sizes:
    """A run's set sizes, from its parameters alone (no data is loaded)."""

    train: int
    retain: int
    forget: int
    val: int
    test: int


def sizes(params: dict) -> Sizes:
    """The sizes of the task the run's notebook builds (``make_task``'s arithmetic)."""
    dataset = params["dataset"]
    total, num_classes, _ = SHAPES[dataset]
    kwargs = {**params, **(params.get("task_kwargs") or {})}
    classes = kwargs.get("classes")
    kept = len(classes) if isinstance(classes, (list, tuple)) else classes or num_classes
    per_class = kwargs.get("train_per_class")
    pool = per_class * kept if per_class else total * kept // num_classes
    val = kept * int(round(pool / kept * float(kwargs.get("val_fraction") or 0.0)))  # per class
    train = pool - val
    test = (kwargs["test_per_class"] * kept if kwargs.get("test_per_class")
            else TEST_IMAGES[dataset] * kept // num_classes)
    scenario = kwargs.get("scenario", "class")
    if scenario == "class":
        forget = train // kept
    elif scenario == "subclass":
        forget = train // 100 if dataset == "cifar20" else train // (2 * kept)
    elif kwargs.get("forget_size"):
        forget = int(kwargs["forget_size"])
    else:
        forget = int(round(train * float(kwargs.get("forget_fraction") or 0.1)))
    if scenario == "canary":
        train += forget
    return Sizes(train, max(train - forget, 0), forget, val, test)


def method_images(name: str, hp: dict, size: Sizes, recipe: dict, select_epoch: bool) -> float:
    """Training images one method needs on a task of ``size``: a retrained oracle its recipe's
    epochs over D_r; a one-shot method (importance, Fisher, influence, NTK) one pass over D; an
    iterative one its epochs over D_r and D_f (scored after every epoch when ``select_epoch``)."""
    from . import methods as registry

    info = registry.info(name)
    resolved = {**registry.hyperparameters(name), **hp}
    if name == "original":
        return 0.0
    if info.seed_axis == "train":
        return float(recipe.get("epochs", 10)) * size.retain
    epochs = resolved.get("epochs")
    if info.deterministic or not isinstance(epochs, (int, float)):
        return float(size.train)
    images = float(epochs) * (size.retain + size.forget)
    if select_epoch:
        images += float(epochs) * EVAL * (size.retain + size.forget + size.val + size.test)
    return images


def oracle_key(params: dict, name: str, hp: dict) -> str:
    """What a retrained oracle depends on: the run's task (:func:`~unlearnbook.runner.task_key`),
    the method, its hyper-parameters and the seed it trains with (its ``hp`` seed, else the
    run's oracle seed, else the training seed, as :func:`~unlearnbook.pipeline.run_methods`).
    Runs with equal keys share one trained oracle (the training cache finds it)."""
    from .runner import task_key

    seed = hp.get("seed", params.get("oracle_seed"))
    seed = params.get("train_seed", 0) if seed is None else seed
    rest = {k: v for k, v in hp.items() if k != "seed"}
    return json.dumps([task_key(params), name, rest, seed], sort_keys=True, default=str)


def run_images(params: dict) -> dict:
    """A run's training images by part: ``original`` (its own training, pre-training included),
    ``oracles`` (retrained oracles by :func:`oracle_key`, which runs may share), ``methods``
    (every other method) and ``scoring`` (every model on D and the test set)."""
    from . import methods as registry
    from .pipeline import method_specs

    size = sizes(params)
    recipe = params.get("recipe") or {}
    original = float(recipe.get("epochs", 10)) * size.train
    pretrain = params.get("pretrain") or {}
    if pretrain:
        source = {"dataset": pretrain["dataset"], "classes": pretrain.get("classes"),
                  "train_per_class": pretrain.get("train_per_class"), "val_fraction": 0.0}
        original += float(pretrain["recipe"].get("epochs", 10)) * sizes(source).train
    sparsities = params.get("sparsities") or [0.0]
    original *= 1 + 2 * sum(1 for s in sparsities if s)  # dense, rewind point, sparse
    specs = method_specs(params.get("methods"), params.get("method_hp"))
    sensitivity = params.get("sensitivity") or {}
    grid = len(sensitivity.get("factors") or []) ** 2
    selecting = bool(params.get("select_epoch"))
    oracles: dict[str, float] = {}
    work = 0.0
    for spec in specs:
        images = method_images(spec.name, spec.hp, size, recipe, selecting)
        if registry.info(spec.name).seed_axis == "train":  # one per sparsity, as the methods
            oracles[oracle_key(params, spec.name, spec.hp)] = images * len(sparsities)
        else:
            work += images
    if grid:
        work += grid * method_images(sensitivity["method"], {}, size, recipe, selecting)
    models = (len(specs) + grid) * len(sparsities)
    scoring = models * EVAL * (size.train + size.test)
    return {"original": original, "oracles": oracles, "methods": work * len(sparsities),
            "scoring": scoring}


def speed_key(arch: str, arch_kwargs: dict, dataset: str, threads: int,
               batch_size: int = 256) -> str:
    """The key a probed speed is kept under: machine, threads, architecture, input shape,
    classes, batch size and torch version."""
    import torch

    from .train import machine

    channels, side = IMAGE[dataset]
    return json.dumps([machine(), threads, arch, arch_kwargs, channels, side,
                       SHAPES[dataset][1], batch_size, torch.__version__], sort_keys=True)


def images_per_second(arch: str, arch_kwargs: dict, dataset: str, threads: int,
                      batch_size: int = 256, steps: int = 4) -> float:
    """Training images per second of ``arch`` on this machine with ``threads`` CPU threads (or
    the GPU), fp32, channels-last, at ``batch_size``: a probe of ``steps`` SGD steps after one
    warm-up step, cached in ``<cache>/speed.json`` per machine, threads and architecture."""
    import torch

    from .device import default_device
    from .io import write_text
    from .models import build
    from .train import cache_dir

    num_classes = SHAPES[dataset][1]
    channels, side = IMAGE[dataset]
    key = speed_key(arch, arch_kwargs, dataset, threads, batch_size)
    path = cache_dir() / "speed.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key in known or key in _PROBED:
        return float(known.get(key, _PROBED.get(key)))
    device = default_device()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build(arch, num_classes, channels, seed=0, **arch_kwargs).to(device)
        model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(batch_size, channels, side, side, device=device).contiguous(
            memory_format=torch.channels_last)
        y = torch.randint(num_classes, (batch_size,), device=device)
        for step in range(steps + 1):
            if step == 1:
                start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        speed = steps * batch_size / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    _PROBED[key] = speed
    if not busy():  # a probe beside other work reads low: not kept on disk
        known[key] = round(speed, 1)
        write_text(path, json.dumps(known, indent=1))
    return speed


def busy() -> bool:
    """Whether other work holds more than half of this machine's cores now: the processes
    running besides this one (``/proc/loadavg``'s count of runnable tasks; elsewhere the
    1-minute load average, which lags)."""
    cores = os.cpu_count() or 1
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        try:
            running = os.getloadavg()[0]
        except OSError:
            return False
    return running > 0.5 * cores


@dataclass(frozen=True)
class PaperCost:
    """One paper's share of a plan: runs, training images and hours (all, and still to do)."""

    paper: str
    runs: int
    left: int
    images: float
    images_left: float
    hours: float
    hours_left: float


def grid_cost(runs: list, done: set[str], trained: set[str],
              threads: int) -> list[PaperCost]:
    """Per paper: the plan's training images and projected hours, with the runs in ``done``
    (``paper/run_id``) and the models in ``trained`` (original keys and :func:`oracle_key`
    values) left out of the "left" columns. An original or an oracle that several runs share
    counts once, with the first of them. Hours are run time on one job's threads
    (:func:`cost_table` gives the wall clock)."""
    from .runner import full_parameters, original_key

    counted: set[str] = set()
    totals: dict[str, list[float]] = {}
    for run in runs:
        params = full_parameters(run)
        parts = run_images(params)
        finished = f"{run.paper}/{run.run_id}" in done
        shared = {original_key(params): parts["original"], **parts["oracles"]}
        images = left = parts["methods"] + parts["scoring"]
        for key, amount in shared.items():
            if key in counted:
                continue
            counted.add(key)
            images += amount
            left += 0.0 if key in trained else amount
        left = 0.0 if finished else left
        speed = images_per_second(params["arch"], params.get("arch_kwargs") or {},
                                  params["dataset"], threads)
        row = totals.setdefault(run.paper, [0, 0, 0.0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += 0 if finished else 1
        row[2] += images
        row[3] += left
        row[4] += images / speed / 3600
        row[5] += left / speed / 3600
    return [PaperCost(paper, int(r[0]), int(r[1]), r[2], r[3], r[4], r[5])
            for paper, r in totals.items()]


def total(costs: list[PaperCost], name: str = "total") -> PaperCost:
    """The sum of several papers' costs, as one row named ``name``."""
    return PaperCost(name, sum(c.runs for c in costs), sum(c.left for c in costs),
                     sum(c.images for c in costs), sum(c.images_left for c in costs),
                     sum(c.hours for c in costs), sum(c.hours_left for c in costs))


def cost_table(costs: list[PaperCost], workers: int, threads: int,
               headline: PaperCost | None = None) -> str:
    """The dry run's cost summary: one line per paper, a total and (``headline``) the runs of
    the headline claims alone, in millions of training images and hours of run time on this
    machine (and the wall clock with ``workers`` jobs)."""
    from .train import machine

    lines = [f"cost on {machine()}, {threads} thread(s) per job, {workers} job(s) at once "
             "(1 training image = one forward and backward pass; evaluation counts 1/3):",
             f"  {'paper':8s} {'runs':>9s} {'M images':>9s} {'left':>7s} {'hours':>7s} "
             f"{'left':>7s}"]
    for c in costs + [total(costs)] + ([headline] if headline else []):
        lines.append(f"  {c.paper:8s} {f'{c.left}/{c.runs}':>9s} {c.images / 1e6:9.1f} "
                     f"{c.images_left / 1e6:7.1f} {c.hours:7.1f} {c.hours_left:7.1f}")
    total_left = sum(c.hours_left for c in costs)
    lines.append(f"  wall clock left with {workers} job(s): about "
                 f"{total_left / max(workers, 1):.1f} h (run time / jobs; the probe's speed is "
                 "cached in the checkpoint cache's speed.json)")
    if busy():
        lines.append("  (this machine is busy: a speed probed now reads low, so these hours are "
                     "too high, and it is not cached)")
    return "\n".join(lines)
