"""Where images come from: scikit-learn's bundled digits, or CIFAR from an image folder / torchvision.

Every loader returns a :class:`RawData` of uint8 arrays (N, C, H, W). CIFAR is decoded once and
cached as ``<root>/cache/<name>-<source>.npz`` (written atomically).
"""
from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import DataMissing, UnlearnbookError
from ..io import atomic_write

DATASETS = ("digits", "digits5", "cifar10", "cifar100", "cifar20")
#: Per dataset: training images (before any validation hold-out), classes (the labels a model
#: predicts) and fine classes (the sub-classes of the ``subclass`` scenario), known without
#: loading the data (profiles are checked and runs sized at planning).
SHAPES = {"digits": (1438, 10, 10), "digits5": (1438, 5, 10), "cifar10": (50000, 10, 10),
          "cifar100": (50000, 100, 100), "cifar20": (50000, 20, 100)}

#: Official CIFAR-100 coarse (superclass) id of every fine class id 0..99.
CIFAR100_COARSE = np.array([
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15,
    3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4,
    2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
])
CIFAR20_NAMES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)

#: digits5: the ten digits grouped into five superclasses of visually confusable pairs, the
#: digits analogue of CIFAR-20 (used by the smoke profile's sub-class scenario).
DIGITS5_GROUPS = ((0, 6), (1, 7), (2, 5), (3, 8), (4, 9))
DIGITS5_COARSE = np.array([next(g for g, pair in enumerate(DIGITS5_GROUPS) if d in pair)
                           for d in range(10)])

NORMALISATION = {
    "digits": ((0.3054,), (0.3771,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
}


@dataclass
class RawData:
    """Decoded images of one dataset: ``train_*`` and ``test_*`` arrays, class names, provenance."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_fine: np.ndarray | None = None
    test_fine: np.ndarray | None = None
    fine_names: tuple[str, ...] | None = None


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The dataset root: ``root``, else ``$UNLEARNBOOK_DATA``, else ``./data``."""
    return Path(root or os.environ.get("UNLEARNBOOK_DATA", "data")).expanduser()


def downloads_allowed(download: bool | None) -> bool:
    """An explicit argument wins; otherwise ``UNLEARNBOOK_DOWNLOAD=1`` allows downloads."""
    if download is not None:
        return bool(download)
    return os.environ.get("UNLEARNBOOK_DOWNLOAD", "0").lower() in ("1", "true", "yes")


def load_raw(name: str, root: str | os.PathLike | None = None,
             download: bool | None = None) -> RawData:
    """Load one dataset by name (see :data:`DATASETS`)."""
    if name in ("digits", "digits5"):
        raw = _digits()
        if name == "digits5":
            raw = _with_superclasses(raw, DIGITS5_COARSE,
                                     tuple("/".join(map(str, g)) for g in DIGITS5_GROUPS))
        return raw
    if name == "cifar20":
        return _with_superclasses(_cifar("cifar100", root, download), CIFAR100_COARSE,
                                  CIFAR20_NAMES)
    if name in ("cifar10", "cifar100"):
        return _cifar(name, root, download)
    raise UnlearnbookError(f"unknown dataset {name!r}; allowed: {', '.join(map(repr, DATASETS))}")


def _with_superclasses(raw: RawData, coarse: np.ndarray, names: tuple[str, ...]) -> RawData:
    return RawData(
        raw.train_images, coarse[raw.train_labels], raw.test_images, coarse[raw.test_labels],
        names, raw.source, raw.mean, raw.std, raw.train_labels, raw.test_labels, raw.class_names,
    )


def _digits(test_fraction: float = 0.2) -> RawData:
    """scikit-learn's bundled 8x8 digits (1,797 images); a fixed stratified 20% test split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    rng = np.random.RandomState(0)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        members = np.flatnonzero(labels == c)
        test[rng.choice(members, int(round(test_fraction * len(members))), replace=False)] = True
    mean, std = NORMALISATION["digits"]
    return RawData(images[~test], labels[~test], images[test], labels[test],
                   tuple(str(d) for d in range(10)), "scikit-learn digits (bundled)", mean, std)


def _cifar(name: str, root: str | os.PathLike | None, download: bool | None) -> RawData:
    base = data_root(root)
    folder = base / name
    tarball = next((p for p in (base / f"{name}-jpg.tar.gz", base / f"{name}.tar.gz") if p.exists()),
                   None)
    if not (folder / "train").is_dir() and tarball is not None:
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            archive.extractall(folder, filter="data")
    if (folder / "train").is_dir():
        source = f"image folder {folder} (decoded once)"
        arrays = _cached(base / "cache" / f"{name}-folder.npz", lambda: _decode_folder(folder))
    elif downloads_allowed(download):
        source = "torchvision download (original CIFAR)"
        arrays = _cached(base / "cache" / f"{name}-torchvision.npz",
                         lambda: _torchvision(name, base / "torchvision"))
    else:
        raise DataMissing(
            f"dataset {name!r} not found: no image folder at {folder}/train and downloads are off; "
            f"allowed: place an image-folder copy (train/<class>/*, test/<class>/*) or "
            f"{name}-jpg.tar.gz under {base}, or allow downloads with download=True or "
            "UNLEARNBOOK_DOWNLOAD=1"
        )
    mean, std = NORMALISATION[name]
    names = tuple(str(n) for n in arrays["class_names"])
    return RawData(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                   arrays["test_labels"], names, source, mean, std)


def _cached(path: Path, build) -> dict[str, np.ndarray]:
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    arrays = build()
    with atomic_write(path) as tmp:
        np.savez(tmp, **arrays)
    return arrays


def _decode_folder(folder: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    arrays: dict[str, np.ndarray] = {"class_names": np.array(classes)}
    for split in ("train", "test"):
        images, labels = [], []
        for label, cls in enumerate(classes):
            for file in sorted((folder / split / cls).iterdir()):
                with Image.open(file) as img:
                    images.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
                labels.append(label)
        arrays[f"{split}_images"] = np.stack(images).transpose(0, 3, 1, 2).copy()
        arrays[f"{split}_labels"] = np.array(labels, dtype=np.int64)
    return arrays


def _torchvision(name: str, root: Path) -> dict[str, np.ndarray]:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    arrays: dict[str, np.ndarray] = {}
    for split, train in (("train", True), ("test", False)):
        ds = cls(str(root), train=train, download=True)
        arrays[f"{split}_images"] = ds.data.transpose(0, 3, 1, 2).copy()
        arrays[f"{split}_labels"] = np.array(ds.targets, dtype=np.int64)
        arrays["class_names"] = np.array(ds.classes)
    return arrays
