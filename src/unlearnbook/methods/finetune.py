"""Fine-tune on the retain set, relying on catastrophic forgetting of D_f.

Two protocols name this baseline: ``finetune`` (SSD / LFSSD tables) and ``ft`` (Unlearn-Sparse,
the DAU tables); they differ only in their defaults.
"""
from __future__ import annotations

from torch import nn

from ..train import Recipe, fit
from .registry import register


@register("finetune", needs=())
def finetune(model: nn.Module, task, *, epochs: int = 2, lr: float = 0.02,
             batch_size: int = 64, momentum: float = 0.9, weight_decay: float = 5e-4,
             seed: int = 0, progress: bool | None = None) -> nn.Module:
    """SGD on D_r. LFSSD's appendix: "finetuned for 2 epochs on D_r"; lr 0.02, momentum 0.9,
    weight decay 5e-4 and batch 64 as in the SSD protocol (whose code runs 5 epochs)."""
    recipe = Recipe(epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                    weight_decay=weight_decay, schedule="constant")
    return fit(model, task.retain, recipe, seed, cache=False, progress=progress, desc="finetune")


@register("ft", needs=())
def ft(model: nn.Module, task, *, epochs: int = 10, lr: float = 0.01, batch_size: int = 256,
       momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
       progress: bool | None = None) -> nn.Module:
    """Unlearn-Sparse FT: SGD on D_r for 10 epochs at lr 0.01, batch 256 (its README)."""
    return finetune(model, task, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                    weight_decay=weight_decay, seed=seed, progress=progress)
