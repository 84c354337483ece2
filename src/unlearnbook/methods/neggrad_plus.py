"""NegGrad+ (Kurmanji et al., NeurIPS'23): descend on D_r while ascending on D_f.

Shared by SURE (its Tables 3-4 tune lr, α, the forget batch and the decay epoch) and AdaProb
(the SCRUB protocol's values). One epoch is one pass over D_r; each retain batch is paired with
the next batch of a cycled forget loader, as the SCRUB code's ``train_negrad``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..train import proximal
from .common import OnEpoch, paired_unlearning
from .registry import register


def neggrad_plus_loss(retain_logits: torch.Tensor, retain_labels: torch.Tensor,
                      forget_logits: torch.Tensor, forget_labels: torch.Tensor,
                      alpha: float) -> torch.Tensor:
    """α·CE(x_r, y_r) − (1 − α)·CE(x_f, y_f)."""
    return (alpha * nn.functional.cross_entropy(retain_logits, retain_labels)
            - (1 - alpha) * nn.functional.cross_entropy(forget_logits, forget_labels))


@register("neggrad_plus", needs=("labels",))
def neggrad_plus(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.0072,
                 alpha: float = 0.991, retain_batch_size: int = 128, forget_batch_size: int = 8,
                 decay_epochs: tuple[int, ...] = (18,), momentum: float = 0.9,
                 weight_decay: float = 5e-4, freeze_bn: bool = False, prox: float = 0.0,
                 seed: int = 0, progress: bool | None = None,
                 on_epoch: OnEpoch | None = None) -> nn.Module:
    """Minimise α·CE(D_r) − (1−α)·CE(D_f) with SGD (defaults: SURE's Table 3, random
    forgetting: lr 0.0072, α 0.991, forget batch 8, lr ×0.1 after epoch 18, 20 epochs).

    ``freeze_bn`` keeps BatchNorm in eval mode and ``prox`` adds prox·½‖θ − θ_start‖² to the
    retain term, inside its weight α, as SCRUB's notebook writes it:
    α·(CE(D_r) + prox·½‖θ − θ_start‖²) − (1−α)·CE(D_f) (the small-scale protocol: α 0.95,
    prox 0.1, momentum 0, wd 0, retain batch 128)."""
    start = [p.detach().clone() for p in model.parameters()]

    def loss(x_r, y_r, x_f, y_f):
        value = neggrad_plus_loss(model(x_r), y_r, model(x_f), y_f, alpha)
        return value + alpha * prox * proximal(model, start) if prox else value

    history = paired_unlearning(
        model, task, loss, epochs=epochs, lr=lr, retain_batch_size=retain_batch_size,
        forget_batch_size=forget_batch_size, decay_epochs=decay_epochs, momentum=momentum,
        weight_decay=weight_decay, freeze_bn=freeze_bn, seed=seed, progress=progress,
        on_epoch=on_epoch, desc="neggrad_plus")
    model.unlearn_info = {"history": history}
    return model.eval()
