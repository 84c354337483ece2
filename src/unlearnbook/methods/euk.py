"""EU-k, "exact unlearning of the last k layers" (Goel et al., 2022), as the SCRUB protocol runs
it (a baseline of AdaProb's tables): k = the last block, reset and retrained on D_r."""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice
from ..models import last_block, rebuild
from .common import OnEpoch, finetune_on_retain
from .registry import register

RESETS = ("init", "random")


@register("euk", needs=())
def euk(model: nn.Module, task, *, epochs: int = 25, lr: float = 0.01, batch_size: int = 128,
        momentum: float = 0.9, weight_decay: float = 5e-4, reset: str = "init",
        reset_head: bool = False, freeze_bn: bool = False, prox: float = 0.0, seed: int = 0,
        progress: bool | None = None, on_epoch: OnEpoch | None = None) -> nn.Module:
    """Reset :func:`~unlearnbook.models.last_block` and train it alone on D_r (the rest, head
    included, frozen). ``reset="init"``: back to the model's initial weights, which under the
    SCRUB protocol are the pre-trained backbone (its code reloads that checkpoint, so the block
    is not random); ``"random"``: a fresh random initialisation. Only the parameters are reset;
    BatchNorm running statistics are kept, as in the SCRUB code. ``reset_head``: the classifier
    head is reset too and trained with the block, as the SCRUB code does (its ALL-CNN head is
    part of the reset layers). Defaults: the protocol's large-scale training recipe (lr 0.01,
    momentum 0.9, weight decay 5e-4, 25 epochs; the small scale trains 30); the SCRUB code's
    EU-k itself uses momentum 0 and weight decay 0 (the paper profile sets them)."""
    check_choice("EU-k reset", reset, RESETS)
    fresh = rebuild(model, seed=seed, init=reset == "init")
    block = last_block(model)
    reset_parts = [(block, last_block(fresh))] + ([(model.head, fresh.head)] if reset_head else [])
    with torch.no_grad():
        for part, source in reset_parts:
            for mine, theirs in zip(part.parameters(), source.parameters()):
                mine.copy_(theirs.to(mine.device))
    if reset_head:
        block = nn.ModuleList([block, model.head])
    history = finetune_on_retain(
        model, task, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
        weight_decay=weight_decay, decay_epochs=(), freeze_bn=freeze_bn, prox=prox, seed=seed,
        progress=progress, on_epoch=on_epoch, desc="euk", trainable=block)
    model.unlearn_info = {"history": history}
    return model.eval()
