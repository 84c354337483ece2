"""In-memory image datasets stored as uint8 tensors, normalised on the fly, batched by slicing."""
from __future__ import annotations

import hashlib
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class ArrayDataset(Dataset):
    """Images (N, C, H, W, uint8) and integer labels; items are ``(x, y)`` with ``x`` normalised float.

    ``fine_labels`` keeps the sub-class label where the dataset has one (CIFAR-20, digits5).
    Batching through :func:`batches` slices whole tensors, which is far faster than per-item loading.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        fine_labels: torch.Tensor | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        self.images = images
        self.labels = labels.long()
        self.fine_labels = self.labels if fine_labels is None else fine_labels.long()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self._fingerprint: str | None = None
        self._resident: dict[str, ArrayDataset] = {}
        #: (crop padding, flip) applied to the shuffled (training) passes of :func:`batches`;
        #: None: plain images. Set by :meth:`with_augmentation` (unlearning on D_r / D_f with
        #: the training transform, as the Unlearn-Sparse code does); never to evaluation.
        self.augmentation: tuple[int, bool] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.batch(torch.tensor([index]))
        return x[0], int(y[0])

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float tensors ready for the model."""
        return (images.float() / 255.0 - self.mean) / self.std

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalise(self.images[index]), self.labels[index]

    def on(self, device: torch.device | str) -> "ArrayDataset":
        """This dataset with its uint8 images, labels and statistics resident on ``device``
        (moved once and kept), so that batches are sliced and normalised there: no host-side
        float conversion and no host-to-device copy per batch. The CPU gives ``self``."""
        device, here = torch.device(device), self.images.device
        if device.type == here.type and device.index in (None, here.index):
            return self
        key = str(device)
        if key not in self._resident:
            moved = ArrayDataset(self.images.to(device), self.labels.to(device),
                                 self.mean.flatten().tolist(), self.std.flatten().tolist(),
                                 self.fine_labels.to(device))
            moved.mean, moved.std = self.mean.to(device), self.std.to(device)
            moved._fingerprint = self.fingerprint
            moved.augmentation = self.augmentation
            self._resident[key] = moved
        return self._resident[key]

    def subset(self, index: np.ndarray | torch.Tensor) -> "ArrayDataset":
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return ArrayDataset(
            self.images[index], self.labels[index], self.mean.flatten().tolist(),
            self.std.flatten().tolist(), self.fine_labels[index],
        )

    def with_augmentation(self, padding: int = 4, flip: bool = True) -> "ArrayDataset":
        """The same samples, with random crops (``padding``) and flips on every shuffled pass
        of :func:`batches` (the training transform while unlearning); evaluation, which never
        shuffles, still sees plain images."""
        out = ArrayDataset(self.images, self.labels, self.mean.flatten().tolist(),
                           self.std.flatten().tolist(), self.fine_labels)
        out._fingerprint, out.augmentation = self._fingerprint, (int(padding), bool(flip))
        return out

    def relabel(self, labels: torch.Tensor) -> "ArrayDataset":
        """The same images with other labels (fine labels kept)."""
        return ArrayDataset(
            self.images, labels, self.mean.flatten().tolist(), self.std.flatten().tolist(),
            self.fine_labels,
        )

    @staticmethod
    def concat(parts: Sequence["ArrayDataset"]) -> "ArrayDataset":
        first = parts[0]
        return ArrayDataset(
            torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
            first.mean.flatten().tolist(), first.std.flatten().tolist(),
            torch.cat([p.fine_labels for p in parts]),
        )

    @property
    def fingerprint(self) -> str:
        """Content hash of images, labels and normalisation (used in checkpoint cache keys)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for tensor in (self.images, self.labels, self.mean, self.std):
                digest.update(tensor.contiguous().numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint


def dataset_fingerprint(dataset: Dataset) -> str:
    """Content hash of any map-style dataset (fast path for :class:`ArrayDataset`)."""
    if isinstance(dataset, ArrayDataset):
        return dataset.fingerprint
    digest = hashlib.sha256()
    for x, y in batches(dataset, 512):
        digest.update(x.numpy().tobytes())
        digest.update(y.numpy().tobytes())
    return digest.hexdigest()[:16]


def stratified_order(labels: np.ndarray | torch.Tensor, seed: int = 0,
                     content: np.ndarray | None = None) -> np.ndarray:
    """A seeded order of ``range(len(labels))`` in which every prefix is class-stratified.

    Each class is shuffled (seeded), its i-th member gets the key (i + 1/2) / n_class, and the
    samples are sorted by key, then by label: a prefix is a stratified sample, and the label
    sequence depends only on the class counts. ``content`` (e.g. :func:`sample_digests`) puts
    each class in a canonical order before its shuffle, so the whole order is the same however
    the source listed the samples (an image-folder copy is sorted by class, the torchvision
    download is not)."""
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if content is not None:
            members = members[np.argsort(content[members], kind="stable")]
        keys[members] = (rng.permutation(len(members)) + 0.5) / len(members)
    return np.lexsort((labels, keys))


def sample_digests(dataset: Dataset) -> np.ndarray:
    """A content hash per sample (its input and label), to order samples canonically."""
    def digest(x: torch.Tensor, y) -> str:
        return hashlib.sha1(x.contiguous().numpy().tobytes() + str(int(y)).encode()).hexdigest()
    if isinstance(dataset, ArrayDataset):
        return np.array([digest(x, y) for x, y in zip(dataset.images, dataset.labels)])
    return np.array([digest(torch.as_tensor(x), y) for x, y in dataset])


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """The labels of a map-style dataset, in order."""
    if isinstance(dataset, ArrayDataset):
        return dataset.labels.numpy()
    return np.array([int(y) for _, y in dataset])


def stratified_sample(labels: np.ndarray | torch.Tensor, count: int, seed: int = 0) -> np.ndarray:
    """``count`` indices drawn without replacement, each class in proportion to its size."""
    return stratified_order(labels, seed)[:count]


def batches(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: torch.device | str | None = None,
    augment: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` mini-batches (on ``device`` when given); shuffling is reproducible
    through ``generator`` (a CPU generator). An :class:`ArrayDataset` is made resident on
    ``device`` (:meth:`ArrayDataset.on`), so its batches are cut and normalised there. A shuffled
    pass over a dataset with an ``augmentation`` crops and flips each batch (draws from
    ``generator``) unless ``augment`` is False (a training loop that augments by its recipe)."""
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if not isinstance(dataset, ArrayDataset):
        loader = DataLoader(torch.utils.data.Subset(dataset, order.tolist()), batch_size=batch_size,
                            drop_last=drop_last)
        for x, y in loader:
            yield _to(x, torch.as_tensor(y), device)
        return
    if device is not None:
        dataset = dataset.on(device)
        order = order.to(dataset.images.device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    transform = dataset.augmentation if shuffle and augment else None
    draws = generator if generator is not None else torch.Generator().manual_seed(0)
    for start in range(0, stop, batch_size):
        x, y = dataset.batch(order[start:start + batch_size])
        if transform is not None:
            x = augment_batch(x, *transform, generator=draws)
        yield x, y


def augment_batch(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator
                  ) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, per sample, on a batch tensor
    (the draws come from ``generator``, on its device)."""
    n, c, h, w = x.shape
    where = generator.device
    if padding:
        padded = torch.nn.functional.pad(x, (padding,) * 4)
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=where)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=where)
        rows = (oy[:, None] + torch.arange(h, device=where))[:, None, :, None].to(x.device)
        cols = (ox[:, None] + torch.arange(w, device=where))[:, None, None, :].to(x.device)
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if flip:
        mask = (torch.rand(n, generator=generator, device=where) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def _to(x: torch.Tensor, y: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    if device is None:
        return x, y
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
