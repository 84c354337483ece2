"""Fine-tune on the retain set, relying on catastrophic forgetting of D_f.

Three protocols name this baseline: ``finetune`` (SSD / LFSSD tables; SURE's FineTune with its
decay epoch) and ``ft`` (Unlearn-Sparse, the DAU tables); they differ only in their defaults.
"""
from __future__ import annotations

from torch import nn

from .common import OnEpoch, finetune_on_retain
from .registry import register


@register("finetune", needs=())
def finetune(model: nn.Module, task, *, epochs: int = 2, lr: float = 0.02,
             batch_size: int = 64, momentum: float = 0.9, weight_decay: float = 5e-4,
             decay_epochs: tuple[int, ...] = (), freeze_bn: bool = False, prox: float = 0.0,
             seed: int = 0, progress: bool | None = None,
             on_epoch: OnEpoch | None = None) -> nn.Module:
    """SGD on D_r, lr × 0.1 after each epoch in ``decay_epochs``. LFSSD's appendix: "finetuned
    for 2 epochs on D_r"; lr 0.02, momentum 0.9, weight decay 5e-4 and batch 64 as in the SSD
    protocol (whose code runs 5 epochs). SURE's Tables 3-4 tune lr, batch and decay epoch. The
    SCRUB protocol (AdaProb) uses momentum 0, weight decay 0, 10 epochs at lr 0.01 and, at small
    scale, ``freeze_bn`` and ``prox`` 0.1 (a pull ½‖θ − θ_start‖² toward the original)."""
    history = finetune_on_retain(
        model, task, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
        weight_decay=weight_decay, decay_epochs=decay_epochs, freeze_bn=freeze_bn, prox=prox,
        seed=seed, progress=progress, on_epoch=on_epoch, desc="finetune")
    model.unlearn_info = {"history": history}
    return model.eval()


@register("ft", needs=())
def ft(model: nn.Module, task, *, epochs: int = 10, lr: float = 0.01, batch_size: int = 256,
       momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
       progress: bool | None = None) -> nn.Module:
    """Unlearn-Sparse FT: SGD on D_r for 10 epochs at lr 0.01, batch 256 (its README)."""
    return finetune(model, task, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                    weight_decay=weight_decay, seed=seed, progress=progress)
