"""CF-k, "catastrophic forgetting of the last k layers" (Goel et al., 2022), as the SCRUB
protocol runs it (a baseline of AdaProb's tables): k = the last block."""
from __future__ import annotations

from torch import nn

from ..models import last_block
from .common import OnEpoch, finetune_on_retain
from .registry import register


@register("cfk", needs=())
def cfk(model: nn.Module, task, *, epochs: int = 10, lr: float = 0.01, batch_size: int = 128,
        momentum: float = 0.0, weight_decay: float = 0.0, freeze_bn: bool = False,
        prox: float = 0.0, seed: int = 0, progress: bool | None = None,
        on_epoch: OnEpoch | None = None) -> nn.Module:
    """Freeze everything but :func:`~unlearnbook.models.last_block` (the head too) and fine-tune
    that block on D_r with SGD (the SCRUB code: lr 0.01, momentum 0, 10 epochs; at small scale
    BatchNorm frozen and a proximal term, ``freeze_bn`` / ``prox``)."""
    history = finetune_on_retain(
        model, task, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
        weight_decay=weight_decay, decay_epochs=(), freeze_bn=freeze_bn, prox=prox, seed=seed,
        progress=progress, on_epoch=on_epoch, desc="cfk", trainable=last_block(model))
    model.unlearn_info = {"history": history}
    return model.eval()
