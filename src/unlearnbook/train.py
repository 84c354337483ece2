"""Supervised training with a content-addressed checkpoint cache (``ub.train.fit``)."""
from __future__ import annotations

import copy
import glob
import hashlib
import json
import math
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from filelock import FileLock
from torch import nn
from tqdm import tqdm

from ._checks import UnlearnbookError, check_choice, check_int, check_number
from .data.dataset import augment_batch, batches, dataset_fingerprint
from .device import default_device, device_of, precision_for
from .io import atomic_write, cache_dir, write_text

#: Bump when a change to this module changes what training produces (invalidates the cache).
TRAIN_CODE_VERSION = "1"
SCHEDULES = ("constant", "multistep", "cosine", "onecycle")
OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("auto", "fp32", "bf16")
WEIGHT_PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class Recipe:
    """A training recipe: optimiser, schedule (per iteration), warm-up and augmentation.

    ``start_epoch`` / ``stop_epoch`` train only part of the schedule (epochs are still counted
    against ``epochs``): the first gives learning-rate rewinding after pruning, the second the
    early "rewind point" of a run. The SCRUB protocol (AdaProb's tables) adds ``l2_init``, a loss
    term l2_init/2·‖θ − θ_start‖² (with ``weight_decay`` 0), and ``freeze_bn`` (BatchNorm in eval
    mode while training).

    Speed options (they do not change what the recipe means): ``precision`` "bf16" trains under
    bfloat16 autocast, ``channels_last`` uses the channels-last memory layout, ``compile`` runs
    the forward pass through ``torch.compile``. "auto": bf16 on CUDA and on CPUs with native
    bf16 (:func:`~unlearnbook.device.cpu_bf16_native`), fp32 elsewhere; "bf16" on a CPU without
    it falls back to fp32 and says so (:func:`resolve`). ``channels_last`` None: on CUDA only.
    What was used is recorded in the checkpoint's metadata and in ``fit_info``.

    ``weights`` "fp16" rounds the trained weights to float16 once training ends (what the model
    is from then on): such a model is stored losslessly in half the bytes, which is how a
    profile commits its originals and oracles (:func:`model_store`).
    """

    epochs: int = 10
    lr: float = 0.1
    batch_size: int = 128
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "multistep"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    augment: bool = False
    crop_padding: int = 4
    flip: bool = True
    start_epoch: int = 0
    stop_epoch: int | None = None
    l2_init: float = 0.0
    freeze_bn: bool = False
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    weights: str = "fp32"

    def __post_init__(self) -> None:
        """Check every field's type and range (one message naming the field and the value)."""
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("weights", self.weights, WEIGHT_PRECISIONS)
        ints = {"epochs": 0, "batch_size": 1, "crop_padding": 0, "start_epoch": 0}
        numbers = {"momentum": 0.0, "weight_decay": 0.0, "gamma": 0.0, "warmup_epochs": 0.0,
                   "l2_init": 0.0}
        for name, low in ints.items():
            object.__setattr__(self, name, check_int(f"recipe {name}", getattr(self, name), low))
        for name, low in numbers.items():
            object.__setattr__(self, name, check_number(f"recipe {name}", getattr(self, name), low))
        object.__setattr__(self, "lr", check_number("recipe lr", self.lr, 0.0, open_low=True))
        for name in ("nesterov", "augment", "flip", "freeze_bn", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise UnlearnbookError(f"recipe {name} {getattr(self, name)!r} is not a bool; "
                                       "allowed: true or false")
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise UnlearnbookError(f"recipe channels_last {self.channels_last!r} is not "
                                   "allowed; allowed: true, false or null (automatic)")
        if not isinstance(self.milestones, (list, tuple)):
            raise UnlearnbookError(f"recipe milestones {self.milestones!r} is not a list; "
                                   "allowed: a list of epochs")
        object.__setattr__(self, "milestones", tuple(
            check_int("recipe milestone", m, 0) for m in self.milestones))
        check_int("recipe start_epoch", self.start_epoch, 0, self.epochs)
        if self.stop_epoch is not None:
            object.__setattr__(self, "stop_epoch", check_int(
                "recipe stop_epoch", self.stop_epoch, self.start_epoch, self.epochs))

    @classmethod
    def from_dict(cls, values: dict) -> "Recipe":
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise UnlearnbookError(f"unknown recipe field(s) {sorted(unknown)}; allowed: "
                                   f"{sorted(cls.__dataclass_fields__)}")
        return cls(**values)


def resolve(recipe: Recipe, device: torch.device) -> Recipe:
    """The recipe with its speed options decided for ``device``
    (:func:`~unlearnbook.device.precision_for`; channels-last on CUDA unless set)."""
    cuda = torch.device(device).type == "cuda"
    precision, _ = precision_for(device, recipe.precision)
    channels_last = cuda if recipe.channels_last is None else recipe.channels_last
    return replace(recipe, precision=precision, channels_last=channels_last)


def training_threads(device: torch.device) -> int | None:
    """The intra-op thread count a CPU training uses (its result depends on it: conv kernels
    split their sums by thread), so it enters :func:`cache_key`; None on a GPU."""
    return torch.get_num_threads() if torch.device(device).type == "cpu" else None


def state_hash(model: nn.Module | dict) -> str:
    """A hash of a model's (or a state dict's) tensor names and values."""
    state = model if isinstance(model, dict) else model.state_dict()
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def set_aside(path: Path, problem: str) -> None:
    """Move a damaged cached file aside (``<name>.bad-<time><suffix>``) with a warning naming it
    and what is wrong; the caller then rebuilds it. Only the newest copy set aside per file is
    kept (older ones would pile up in the cache, one per failure)."""
    for older in path.parent.glob(f"{glob.escape(path.stem)}.bad-*{glob.escape(path.suffix)}"):
        older.unlink(missing_ok=True)
    aside = path.with_name(f"{path.stem}.bad-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
    os.replace(path, aside)
    warnings.warn(f"cached file {str(path)!r} failed its integrity check ({problem}); moved to "
                  f"{str(aside)!r} and rebuilt", stacklevel=3)


def cache_key(model: nn.Module, dataset, recipe: Recipe, seed: int, *,
              portable: bool = False) -> str:
    """Hash of everything that determines a trained model: architecture, initial weights, data
    (content, so split and forget set are covered), recipe, seed and training-code version.

    The local cache's key also holds the torch version and the CPU thread count (the sums of a
    conv kernel depend on both). ``portable`` leaves them out: the key of a model committed to a
    :func:`model_store`, which any machine may load (its sidecar says where it was trained)."""
    fields = {
        "spec": _spec_key(model), "init": state_hash(model),
        "data": dataset_fingerprint(dataset),
        "recipe": recipe_key(resolve(recipe, default_device())), "seed": seed,
        "code": TRAIN_CODE_VERSION}
    if portable:  # the layout and compilation change no result beyond the summation order
        fields["recipe"] = {k: v for k, v in fields["recipe"].items()
                            if k not in ("channels_last", "compile")}
    else:
        fields.update({"torch": torch.__version__.split("+")[0],
                       "threads": training_threads(default_device())})
    blob = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def model_store() -> Path | None:
    """The folder of committed models (``$UNLEARNBOOK_MODELS``; the grid sets it to
    ``results/<profile>/models``), or None. It holds models trained with ``weights: fp16`` as
    ``<portable key>.pt`` (float16) beside a ``.json`` sidecar (sha256, recipe, seconds, machine,
    threads): :func:`fit` loads one from there before it looks in the cache, and puts every such
    model it trains there, so a clone with the committed store never retrains it."""
    folder = os.environ.get("UNLEARNBOOK_MODELS")
    return Path(folder) if folder else None


#: Recipe fields added after checkpoints were cached: in the key only when not at their default,
#: so existing checkpoints stay valid (the speed options as resolved: fp32 CPU runs keep theirs).
_LATE_FIELDS = {"l2_init": 0.0, "freeze_bn": False, "precision": "fp32", "channels_last": False,
                "compile": False, "weights": "fp32"}


def recipe_key(recipe: Recipe) -> dict:
    """The (resolved) recipe's fields as they enter :func:`cache_key`."""
    return {k: v for k, v in asdict(recipe).items()
            if k not in _LATE_FIELDS or v != _LATE_FIELDS[k]}


def _spec_key(model: nn.Module):
    """The architecture spec without the path of its initial weights (``init`` hashes them)."""
    spec = getattr(model, "spec", None)
    if spec is None:
        return type(model).__name__
    return {k: v for k, v in spec.items() if k != "weights"}


@dataclass
class FitInfo:
    """How a model was trained: cache key, wall seconds, whether it came from the cache, the
    per-epoch mean losses and the speed options used (:func:`resolve`)."""

    key: str | None
    seconds: float
    cached: bool
    losses: list[float] = field(default_factory=list)
    precision: str = "fp32"
    channels_last: bool = False
    compiled: bool = False


def fit(model: nn.Module, dataset, recipe: Recipe, seed: int = 0, *, cache: bool = True,
        progress: bool | None = None, desc: str = "train") -> nn.Module:
    """Train a copy of ``model`` on ``dataset`` on :func:`default_device`; the input model is
    untouched.

    With ``cache`` the result is stored under :func:`cache_dir` by :func:`cache_key`; a second
    call loads it, and a file lock makes concurrent callers train it once. The returned model
    carries ``recipe``, ``train_seed`` and ``fit_info``.
    """
    trained = copy.deepcopy(model).to(default_device())
    recipe_used = resolve(recipe, default_device())
    _, fallback = precision_for(default_device(), recipe.precision)
    if fallback:
        warnings.warn(fallback, stacklevel=2)
    if not cache:
        info = _train(trained, dataset, recipe_used, seed, progress, desc)
        return _tag(trained, recipe, seed, info)
    store = model_store() if recipe.weights == "fp16" else None
    if store is not None:
        stored = cache_key(model, dataset, recipe, seed, portable=True)
        meta = load_stored(trained, store / f"{stored}.pt")
        if meta is not None:
            info = FitInfo(stored, meta.get("seconds", 0.0), True, meta.get("losses", []),
                           meta.get("recipe", {}).get("precision", "fp32"))
            return _tag(trained, recipe, seed, info)
    key = cache_key(model, dataset, recipe, seed)
    path = cache_dir() / "checkpoints" / f"{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        meta = verified_checkpoint(path)
        if meta is not None:
            trained.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            used = meta.get("recipe", {})
            info = FitInfo(key, meta.get("seconds", 0.0), True, meta.get("losses", []),
                           used.get("precision", "fp32"), bool(used.get("channels_last")),
                           bool(used.get("compile")))
        else:
            partial = cache_dir() / "partial" / f"{key}.pt"
            info = _train(trained, dataset, recipe_used, seed, progress, desc, partial)
            info.key = key
            with atomic_write(path) as tmp:
                torch.save(trained.state_dict(), tmp)
            write_text(path.with_suffix(".json"), json.dumps(
                {"recipe": asdict(recipe_used), "seed": seed, "seconds": info.seconds,
                 "losses": info.losses, "spec": getattr(model, "spec", None),
                 "sha256": file_sha256(path)}, default=str))
            partial.unlink(missing_ok=True)
    if store is not None:
        save_stored(trained, store / f"{stored}.pt", {
            "recipe": asdict(recipe_used), "seed": seed, "seconds": info.seconds,
            "losses": info.losses, "spec": getattr(model, "spec", None),
            "threads": training_threads(default_device()), "torch": torch.__version__,
            "hardware": machine(), "trained": time.strftime("%Y-%m-%d %H:%M")})
    return _tag(trained, recipe, seed, info)


def machine() -> str:
    """The device a model trains on, in words: the GPU's name, or the CPU's model and cores."""
    device = default_device()
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {name} x{os.cpu_count()} cores"


def load_stored(model: nn.Module, path: Path) -> dict | None:
    """Load a committed float16 model into ``model`` and return its sidecar, or None when the
    store has none; a file whose bytes do not match its sha256 is refused (no silent use)."""
    if not path.exists():
        return None
    meta = verified_checkpoint(path)
    if meta is None:
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    reference = model.state_dict()
    model.load_state_dict({name: tensor.to(reference[name].dtype)
                           for name, tensor in state.items()})
    return meta


def save_stored(model: nn.Module, path: Path, meta: dict) -> None:
    """Commit a model trained with ``weights: fp16`` to the store: its floating tensors as
    float16 (lossless: they were rounded so), atomically, with a sidecar holding the sha256."""
    if path.exists() and verified_checkpoint(path) is not None:
        return
    half = {name: tensor.detach().cpu().half() if tensor.is_floating_point() else
            tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    with atomic_write(path) as tmp:
        torch.save(half, tmp)
    write_text(path.with_suffix(".json"), json.dumps(
        {**meta, "sha256": file_sha256(path)}, indent=1, default=str))


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_checkpoint(path: Path) -> dict | None:
    """The sidecar metadata of a cached checkpoint whose bytes match the sha256 it records, or
    None when there is none. A checkpoint that is cut, emptied, flipped or lacks its sidecar
    or hash is moved aside (``<name>.bad-<time>.pt``) with a warning naming it, and retrained."""
    if not path.exists():
        return None
    meta_path = path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
        problem = "" if meta.get("sha256") == file_sha256(path) else "its sha256 does not match"
    except (OSError, ValueError):
        meta, problem = {}, "its metadata file is missing or unreadable"
    if not problem:
        return meta
    set_aside(path, problem)
    return None


def _tag(model: nn.Module, recipe: Recipe, seed: int, info: FitInfo) -> nn.Module:
    model.recipe, model.train_seed, model.fit_info = recipe, seed, info
    model.eval()
    return model


augment = augment_batch  # the training transform (crops and flips on the batch)


def proximal(model: nn.Module, start: list[torch.Tensor]) -> torch.Tensor:
    """½ Σ ‖θ − θ_start‖²: the SCRUB protocol's L2 pull toward the starting weights."""
    return 0.5 * sum(((p - s) ** 2).sum() for p, s in zip(model.parameters(), start))


def make_optimizer(params, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)


def lr_factor(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at an iteration (warm-up, then the schedule)."""
    epoch = step / steps_per_epoch
    total = max(recipe.epochs * steps_per_epoch, 1)
    if recipe.warmup_epochs and epoch < recipe.warmup_epochs:
        return (step + 1) / (recipe.warmup_epochs * steps_per_epoch)
    if recipe.schedule == "multistep":
        return recipe.gamma ** sum(epoch >= m for m in recipe.milestones)
    if recipe.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / total))
    if recipe.schedule == "onecycle":
        peak = 0.25 * total
        return (step + 1) / peak if step < peak else max((total - step) / (total - peak), 0.0)
    return 1.0


def progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("UNLEARNBOOK_PROGRESS", "1") != "0"


def _train(model: nn.Module, dataset, recipe: Recipe, seed: int, progress: bool | None,
           desc: str, partial: Path | None = None) -> FitInfo:
    """The training loop of a resolved recipe: batches cut on the model's device, the epoch's
    loss summed there (one host sync per epoch), bf16 autocast / channels-last / compile as the
    recipe says, the weights rounded to float16 at the end for ``weights: fp16``.

    With ``partial`` (a path) the loop saves its whole state there after every epoch (weights,
    optimiser, schedule, random generators, losses) and, when that file exists, resumes from it:
    a killed training loses at most one epoch and ends with the same weights."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = device_of(model)
    layout = torch.channels_last if recipe.channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    optimizer = make_optimizer(model.parameters(), recipe)
    steps_per_epoch = max(math.ceil(len(dataset) / recipe.batch_size), 1)
    offset = recipe.start_epoch * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(recipe, step + offset, steps_per_epoch))
    losses: list[float] = []
    start_weights = [p.detach().clone() for p in model.parameters()] if recipe.l2_init else None
    # crops and flips are drawn where the batch is (a CPU generator would copy per step)
    crops = generator if device.type == "cpu" else torch.Generator(device).manual_seed(seed)
    first, spent = recipe.start_epoch, 0.0
    state = _load_partial(partial)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        crops.set_state(state["crops"].to(crops.device) if crops is not generator
                        else state["generator"])
        torch.set_rng_state(state["torch"])
        first, spent, losses = int(state["epoch"]), float(state["seconds"]), list(state["losses"])
    start = time.perf_counter() - spent
    forward = torch.compile(model) if recipe.compile else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=recipe.precision == "bf16")
    model.train(not recipe.freeze_bn)
    stop = recipe.epochs if recipe.stop_epoch is None else recipe.stop_epoch
    bar = tqdm(range(first, stop), desc=desc, disable=not progress_enabled(progress),
               leave=False)
    for epoch in bar:
        total = torch.zeros((), device=device)
        for x, y in batches(dataset, recipe.batch_size, shuffle=True, generator=generator,
                            device=device, augment=False):
            if recipe.augment:
                x = augment(x, recipe.crop_padding, recipe.flip, crops)
            with autocast:
                loss = nn.functional.cross_entropy(forward(x.contiguous(memory_format=layout)), y)
            if start_weights is not None:
                loss = loss + recipe.l2_init * proximal(model, start_weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach().float() * len(y)
        losses.append(float(total) / max(len(dataset), 1))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if partial is not None and epoch + 1 < stop:
            with atomic_write(partial) as tmp:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                            "crops": crops.get_state().cpu(), "torch": torch.get_rng_state(),
                            "epoch": epoch + 1, "seconds": time.perf_counter() - start,
                            "losses": losses}, tmp)
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    if recipe.weights == "fp16":
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(tensor.half())
    synchronize(device)
    return FitInfo(None, time.perf_counter() - start, False, losses, recipe.precision,
                   bool(recipe.channels_last), recipe.compile)


def _load_partial(path: Path | None) -> dict | None:
    """The state a killed training saved (:func:`_train`), or None; an unreadable file is
    removed (the training starts over)."""
    if path is None or not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a cut file: any unpickling error
        warnings.warn(f"partial training state {str(path)!r} is unreadable ({err}); starting "
                      "over", stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a wall time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
