"""Unlearning tasks: a dataset split into retain / forget / validation / test by a scenario.

Three seeds are kept apart: ``data_seed`` fixes the validation draw and any per-class subset (so the
original model can be shared across forget sets), ``seed`` (the split seed) draws the forget set.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .._checks import UnlearnbookError, check_choice, check_int, check_number, check_range
from .dataset import ArrayDataset
from .sources import DATASETS, RawData, load_raw

SCENARIOS = ("random", "class", "subclass", "partial", "canary", "scrambled", "confusion")
#: Scenarios whose split changes the training set itself (the original trains on it).
MODIFIES_TRAIN = ("canary", "scrambled", "confusion")


@dataclass
class Task:
    """Everything an unlearning method and a metric suite need.

    ``train`` = ``retain`` + ``forget`` (what the original model saw); ``forget_indices`` index
    ``train``. ``test_forget_mask`` marks the test images of the forgotten class (the forgotten
    fine class for ``subclass``); it is ``None`` for sample-level scenarios.
    """

    dataset: str
    scenario: str
    seed: int
    data_seed: int
    num_classes: int
    in_channels: int
    image_size: int
    class_names: tuple[str, ...]
    train: ArrayDataset
    retain: ArrayDataset
    forget: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset
    forget_indices: np.ndarray
    source: str
    train_origin: np.ndarray
    val_origin: np.ndarray
    forget_class: int | None = None
    forget_superclass: int | None = None
    test_forget_mask: np.ndarray | None = None
    forget_ood_mask: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    @property
    def test_forget(self) -> ArrayDataset | None:
        """Test images of the forgotten class, or ``None`` when no class is forgotten."""
        if self.test_forget_mask is None:
            return None
        return self.test.subset(np.flatnonzero(self.test_forget_mask))

    @property
    def test_retain(self) -> ArrayDataset:
        """Test images of the retained classes (the whole test set for sample-level scenarios)."""
        if self.test_forget_mask is None:
            return self.test
        return self.test.subset(np.flatnonzero(~self.test_forget_mask))

    def fingerprint(self) -> str:
        """A content hash of the task: its splits (images, labels, normalisation, augmentation),
        the forget indices and masks and its scenario fields; keys a stopped run's saved methods
        (:func:`~unlearnbook.pipeline.run_methods`)."""
        digest = hashlib.sha256()
        for part in (self.train, self.retain, self.forget, self.val, self.test):
            digest.update(f"{part.fingerprint}{part.augmentation}".encode())
        for array in (self.forget_indices, self.train_origin, self.val_origin,
                      self.test_forget_mask, self.forget_ood_mask):
            digest.update(b"none" if array is None else np.ascontiguousarray(array).tobytes())
        fields = (self.dataset, self.scenario, self.seed, self.data_seed, self.num_classes,
                  self.forget_class, self.forget_superclass, self.params)
        digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        target = "" if self.forget_class is None else f", forget class {self.forget_class}"
        return (f"{self.dataset} / {self.scenario}{target}: train {len(self.train)} = retain "
                f"{len(self.retain)} + forget {len(self.forget)}, val {len(self.val)}, "
                f"test {len(self.test)}, {self.num_classes} classes, split seed {self.seed}, "
                f"data from {self.source}")


def split_seed_matters(scenario: str, forget_class: object = None) -> bool:
    """Whether :func:`make_task`'s split seed changes the task: it draws the forget set (random,
    scrambled, partial, canary, confusion) or the class (``forget_class="random"``); a named
    class or fine class is one forget set under every seed (so a retrained oracle serves all)."""
    if scenario == "subclass":
        return False
    if scenario == "class":
        return forget_class == "random"
    return True


def check_task_arguments(dataset: str, scenario: str, *, forget_class=None, forget_size=None,
                         forget_fraction=None, seed=0, data_seed=0, val_fraction=0.1,
                         train_per_class=None, test_per_class=None, confusion_classes=(0, 1),
                         canary_count=None, **_ignored) -> tuple:
    """:func:`make_task`'s argument checks, without loading any data (the grid runs them at
    planning): one clear error naming the value and what is allowed. Returns the checked
    ``(seed, data_seed, forget_size, forget_fraction, forget_class, confusion_classes)``."""
    check_choice("dataset", dataset, DATASETS)
    check_choice("scenario", scenario, SCENARIOS)
    check_number("val_fraction", val_fraction, 0.0, 0.99)
    seed, data_seed = check_int("seed", seed, 0), check_int("data_seed", data_seed, 0)
    if forget_size is not None:
        forget_size = check_int("forget_size", forget_size, 1)
    if forget_fraction is not None:
        forget_fraction = check_number("forget_fraction", forget_fraction, 0.0, 1.0, open_low=True)
    if forget_class is not None and not isinstance(forget_class, str):
        forget_class = check_int("forget_class", forget_class, 0)
    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class),
                        ("canary_count", canary_count)):
        if value is not None:
            check_int(name, value, 1)
    if scenario == "confusion":
        if (not isinstance(confusion_classes, (list, tuple)) or len(confusion_classes) != 2
                or confusion_classes[0] == confusion_classes[1]):
            raise UnlearnbookError(f"confusion_classes {confusion_classes!r} are not two "
                                   "different classes; allowed: two distinct class ids")
        confusion_classes = tuple(check_int("confusion class", c, 0) for c in confusion_classes)
    if scenario == "subclass" and dataset not in ("cifar20", "digits5"):
        raise UnlearnbookError(f"scenario 'subclass' needs superclass labels; dataset {dataset!r} "
                               "has none; allowed datasets: 'cifar20', 'digits5'")
    return seed, data_seed, forget_size, forget_fraction, forget_class, confusion_classes


def make_task(
    dataset: str = "digits",
    scenario: str = "class",
    *,
    forget_class: int | str | None = None,
    forget_size: int | None = None,
    forget_fraction: float | None = None,
    seed: int = 0,
    data_seed: int = 0,
    val_fraction: float = 0.1,
    classes: int | Sequence[int] | None = None,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    confusion_classes: tuple[int, int] = (0, 1),
    canary_count: int | None = None,
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    unlearn_augment: bool = False,
) -> Task:
    """Build a :class:`Task`.

    Scenarios: ``random`` (``forget_size`` or ``forget_fraction`` of train), ``class`` (all of
    ``forget_class``; ``"random"`` draws the class from ``seed``, as DAU's "a randomly chosen
    class"), ``subclass`` (all of fine class ``forget_class`` inside its superclass;
    ``cifar20``/``digits5``), ``partial`` (``forget_size`` samples of ``forget_class``), ``canary``
    (``forget_size`` out-of-distribution noise images with random labels added to train, then
    forgotten), ``scrambled`` (SURE's canaries: ``forget_size`` random training samples of which
    ``canary_count`` have their pixels scrambled by a seeded permutation, keeping their labels;
    the original trains on the modified set), ``confusion`` (labels of ``forget_size`` samples of ``confusion_classes`` swapped;
    forget = those samples). ``classes``/``train_per_class``/``test_per_class`` build the small
    class-subset protocol (the first ``classes`` classes or a list of class ids, relabelled
    0..len-1; ``n`` images per class). ``unlearn_augment``: the methods see D_r and D_f with
    the training transform (random crop with padding 4 and flip on every shuffled pass), as the
    Unlearn-Sparse / SalUn code unlearns (DAU's protocol); evaluation always sees plain images.
    """
    (seed, data_seed, forget_size, forget_fraction, forget_class,
     confusion_classes) = check_task_arguments(
        dataset, scenario, forget_class=forget_class, forget_size=forget_size,
        forget_fraction=forget_fraction, seed=seed, data_seed=data_seed,
        val_fraction=val_fraction, train_per_class=train_per_class,
        test_per_class=test_per_class, confusion_classes=confusion_classes,
        canary_count=canary_count)
    raw = load_raw(dataset, root, download)
    raw = _restrict(raw, classes, train_per_class, test_per_class, data_seed)
    num_classes = len(raw.class_names)
    pool, val_index = _split_validation(raw, val_fraction, data_seed)
    val = (raw.train_images[val_index], raw.train_labels[val_index],
           None if raw.train_fine is None else raw.train_fine[val_index])
    mean, std = raw.mean, raw.std

    def make(images: np.ndarray, labels: np.ndarray, fine: np.ndarray | None) -> ArrayDataset:
        return ArrayDataset(torch.from_numpy(np.ascontiguousarray(images)),
                            torch.from_numpy(labels), mean, std,
                            None if fine is None else torch.from_numpy(fine))

    fine_train = raw.train_fine if raw.train_fine is not None else raw.train_labels
    fine_test = raw.test_fine if raw.test_fine is not None else raw.test_labels
    images, labels, fine = raw.train_images[pool], raw.train_labels[pool].copy(), fine_train[pool]
    origin = pool.copy()
    rng = np.random.RandomState(seed)
    test_mask = None
    superclass = None
    ood = None

    if scenario in ("random", "scrambled"):
        size = _forget_count(forget_size, forget_fraction, len(pool))
        forget = np.sort(rng.choice(len(pool), size, replace=False))
        if scenario == "scrambled":
            count = _required(canary_count, "canary_count", scenario)
            check_range("canary_count", count, 1, size)
            ood = np.zeros(size, dtype=bool)
            ood[rng.choice(size, count, replace=False)] = True
            images = images.copy()
            for index in forget[ood]:
                images[index] = scramble(images[index], rng)
    elif scenario in ("class", "partial"):
        if forget_class == "random":  # DAU: "a randomly chosen class", drawn from the split seed
            forget_class = int(np.random.RandomState([seed, 1]).randint(num_classes))
        if isinstance(_required(forget_class, "forget_class", scenario), str):
            raise UnlearnbookError(f"forget_class {forget_class!r} is not a class; allowed: "
                                   f"0..{num_classes - 1} or 'random'")
        check_range("forget_class", forget_class, 0, num_classes - 1)
        members = np.flatnonzero(labels == forget_class)
        if scenario == "class":
            forget = members
        else:
            size = _forget_count(forget_size, None, len(members), f"class {forget_class}")
            forget = np.sort(rng.choice(members, size, replace=False))
        test_mask = raw.test_labels == forget_class
    elif scenario == "subclass":
        fine_count = len(raw.fine_names or ())
        check_range("forget_class (fine class)", _required(forget_class, "forget_class", scenario),
                    0, fine_count - 1)
        forget = np.flatnonzero(fine == forget_class)
        if len(forget) == 0:
            raise UnlearnbookError(f"fine class {forget_class} has no training images in this task")
        superclass = int(labels[forget[0]])
        test_mask = fine_test == forget_class
    elif scenario == "confusion":
        first, second = confusion_classes
        for c in confusion_classes:
            check_range("confusion class", c, 0, num_classes - 1)
        size = _required(forget_size, "forget_size", scenario)
        half = size // 2
        picks = []
        for c in (first, second):
            members = np.flatnonzero(labels == c)
            picks.append(rng.choice(members, _forget_count(half, None, len(members), f"class {c}"),
                                    replace=False))
        labels[picks[0]], labels[picks[1]] = second, first
        forget = np.sort(np.concatenate(picks))
    else:  # canary
        size = _required(forget_size, "forget_size", scenario)
        if size <= 0:
            raise UnlearnbookError(f"forget_size {size!r} is out of range; allowed: >= 1")
        canaries = rng.randint(0, 256, size=(size, *images.shape[1:])).astype(np.uint8)
        canary_labels = rng.randint(0, num_classes, size=size).astype(np.int64)
        forget = np.arange(len(pool), len(pool) + size)
        ood = np.ones(size, dtype=bool)
        images = np.concatenate([images, canaries])
        labels = np.concatenate([labels, canary_labels])
        fine = np.concatenate([fine, canary_labels])
        origin = np.concatenate([origin, np.full(size, -1)])

    train = make(images, labels, fine)
    retain_index = np.setdiff1d(np.arange(len(train)), forget)
    retain_set, forget_set = train.subset(retain_index), train.subset(forget)
    if unlearn_augment:
        retain_set, forget_set = retain_set.with_augmentation(), forget_set.with_augmentation()
    if len(forget) == 0 or len(retain_index) == 0:
        empty = "forget" if len(forget) == 0 else "retain"
        raise UnlearnbookError(
            f"{scenario!r} on {dataset!r} leaves an empty {empty} set (forget {len(forget)}, "
            f"retain {len(retain_index)} of {len(train)}); allowed: settings that keep at least "
            "one sample on each side")
    return Task(
        dataset=dataset, scenario=scenario, seed=seed, data_seed=data_seed,
        num_classes=num_classes, in_channels=images.shape[1], image_size=images.shape[2],
        class_names=raw.class_names, train=train, retain=retain_set,
        forget=forget_set, val=make(*val),
        test=make(raw.test_images, raw.test_labels, fine_test),
        forget_indices=np.asarray(forget, dtype=np.int64), source=raw.source,
        train_origin=origin, val_origin=val_index,
        forget_class=forget_class if scenario in ("class", "partial", "subclass") else None,
        forget_superclass=superclass, test_forget_mask=test_mask, forget_ood_mask=ood,
        params=dict(forget_size=forget_size, forget_fraction=forget_fraction,
                    canary_count=canary_count, confusion_classes=tuple(confusion_classes),
                    val_fraction=val_fraction, classes=classes, train_per_class=train_per_class,
                    test_per_class=test_per_class, unlearn_augment=unlearn_augment),
    )


def scramble(image: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """An image with its pixel positions randomly permuted (all channels alike): same colour
    histogram, no structure ("completely scrambled", SURE §3.2)."""
    channels, height, width = image.shape
    order = rng.permutation(height * width)
    return image.reshape(channels, -1)[:, order].reshape(channels, height, width)


def _required(value, name: str, scenario: str):
    if value is None:
        raise UnlearnbookError(f"scenario {scenario!r} needs {name}; allowed: an integer")
    return value


def _forget_count(size: int | None, fraction: float | None, available: int,
                  where: str = "the training set") -> int:
    if (size is None) == (fraction is None):
        raise UnlearnbookError("give exactly one of forget_size or forget_fraction; "
                               f"got forget_size={size!r}, forget_fraction={fraction!r}")
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise UnlearnbookError(f"forget_fraction {fraction!r} is out of range; allowed: (0, 1)")
        size = int(round(fraction * available))
        if not 1 <= size <= available:
            raise UnlearnbookError(f"forget_fraction {fraction!r} of {available} is {size} "
                                   f"samples; allowed: a fraction giving 1..{available}")
    if not 1 <= size <= available:
        raise UnlearnbookError(f"forget_size {size!r} is out of range for {where}; "
                               f"allowed: 1..{available}")
    return int(size)


def _per_class(labels: np.ndarray, per_class: int, rng: np.random.RandomState) -> np.ndarray:
    picks = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise UnlearnbookError(f"{per_class} images per class requested but class {c} has "
                                   f"{len(members)}; allowed: 1..{len(members)}")
        picks.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picks))


def class_list(classes: int | Sequence[int] | None, available: int) -> list[int] | None:
    """``classes`` as a list of class ids: an int n means the first n classes."""
    if classes is None:
        return None
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        check_range("classes", int(classes), 2, available)
        return list(range(int(classes)))
    chosen = [int(c) for c in classes]
    for c in chosen:
        check_range("class in classes", c, 0, available - 1)
    if len(set(chosen)) != len(chosen) or len(chosen) < 2:
        raise UnlearnbookError(f"classes {list(classes)!r} must be at least 2 distinct class ids; "
                               f"allowed: ids in 0..{available - 1}")
    return chosen


def _restrict(raw: RawData, classes: int | Sequence[int] | None, train_per_class: int | None,
              test_per_class: int | None, data_seed: int) -> RawData:
    """Keep ``classes`` (the first n, or a list of ids relabelled 0..len-1 in list order) and a
    seeded per-class subset of train and test."""
    chosen = class_list(classes, len(raw.class_names))
    if chosen is None and train_per_class is None and test_per_class is None:
        return raw
    relabel = np.full(len(raw.class_names), -1, dtype=np.int64)
    relabel[chosen or list(range(len(raw.class_names)))] = np.arange(
        len(chosen or raw.class_names))
    rng = np.random.RandomState(10_000 + data_seed)
    arrays = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = getattr(raw, f"{split}_labels")
        keep = np.flatnonzero(relabel[labels] >= 0)
        if per_class is not None:
            keep = keep[_per_class(labels[keep], per_class, rng)]
        arrays[split] = keep
    fine = {s: None if getattr(raw, f"{s}_fine") is None else getattr(raw, f"{s}_fine")[arrays[s]]
            for s in ("train", "test")}
    names = raw.class_names if chosen is None else tuple(raw.class_names[c] for c in chosen)
    return RawData(raw.train_images[arrays["train"]], relabel[raw.train_labels[arrays["train"]]],
                   raw.test_images[arrays["test"]], relabel[raw.test_labels[arrays["test"]]],
                   names, raw.source, raw.mean, raw.std, fine["train"], fine["test"],
                   raw.fine_names)


def training_set(dataset: str, *, classes: int | Sequence[int] | None = None,
                 train_per_class: int | None = None, data_seed: int = 0,
                 root: str | os.PathLike | None = None, download: bool | None = None
                 ) -> ArrayDataset:
    """A whole (optionally class- and size-restricted) training split, e.g. for pre-training a
    backbone (the SCRUB protocol pre-trains on CIFAR-100); labels are 0..len(classes)-1."""
    check_choice("dataset", dataset, DATASETS)
    raw = _restrict(load_raw(dataset, root, download), classes, train_per_class, None, data_seed)
    return ArrayDataset(torch.from_numpy(np.ascontiguousarray(raw.train_images)),
                        torch.from_numpy(raw.train_labels), raw.mean, raw.std)


def _split_validation(raw: RawData, fraction: float, data_seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``fraction`` of every class of train as validation; return (pool, val) indices."""
    rng = np.random.RandomState(data_seed)
    val = []
    for c in np.unique(raw.train_labels):
        members = np.flatnonzero(raw.train_labels == c)
        val.append(rng.choice(members, int(round(fraction * len(members))), replace=False))
    val_index = np.sort(np.concatenate(val)).astype(np.int64)
    pool = np.setdiff1d(np.arange(len(raw.train_labels)), val_index)
    return pool, val_index


def forget_summary(task: Task) -> dict[str, object]:
    """Small JSON-able record of a task's forget set, saved with results."""
    return {"dataset": task.dataset, "scenario": task.scenario, "seed": task.seed,
            "data_seed": task.data_seed, "forget_class": task.forget_class,
            "forget_indices": task.forget_indices.tolist(), "source": task.source,
            "test_forget_count": (None if task.test_forget_mask is None
                                  else int(task.test_forget_mask.sum()))}


def class_index(task_or_names: Task | Sequence[str], name: str) -> int:
    """Class id of a class name (e.g. ``'lamp'``); raises naming the allowed names."""
    names = task_or_names.class_names if isinstance(task_or_names, Task) else task_or_names
    check_choice("class name", name, names)
    return list(names).index(name)
