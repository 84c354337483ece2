"""Amnesiac unlearning, the relabel-and-train variant compared against by SSD and LFSSD."""
from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import ArrayDataset
from ..train import Recipe, fit
from .registry import register


def random_wrong_labels(task, generator: torch.Generator) -> torch.Tensor:
    """A random label for every forget sample that differs from what is being forgotten: the
    forget class (class / partial), the forget superclass (subclass), else the sample's label."""
    labels = task.forget.labels
    avoid = labels.clone()
    if task.forget_superclass is not None:
        avoid.fill_(task.forget_superclass)
    elif task.forget_class is not None:
        avoid.fill_(task.forget_class)
    shift = torch.randint(1, task.num_classes, labels.shape, generator=generator)
    return (avoid + shift) % task.num_classes


@register("amnesiac", needs=("labels",))
def amnesiac(model: nn.Module, task, *, epochs: int = 3, lr: float = 1e-4, batch_size: int = 128,
             seed: int = 0, progress: bool | None = None) -> nn.Module:
    """Train on D_r plus D_f relabelled at random (wrong labels); Adam, lr 1e-4, 3 epochs."""
    generator = torch.Generator().manual_seed(seed)
    relabelled = task.forget.relabel(random_wrong_labels(task, generator))
    data = ArrayDataset.concat([task.retain, relabelled])
    recipe = Recipe(epochs=epochs, lr=lr, batch_size=batch_size, optimizer="adam",
                    weight_decay=0.0, schedule="constant")
    return fit(model, data, recipe, seed, cache=False, progress=progress, desc="amnesiac")
