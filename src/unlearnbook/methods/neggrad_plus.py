"""NegGrad+ (Kurmanji et al., NeurIPS'23): descend on D_r while ascending on D_f.

Shared by SURE (its Tables 3-4 tune lr, α, the forget batch and the decay epoch) and AdaProb
(the SCRUB protocol's values). One epoch is one pass over D_r; each retain batch is paired with
the next batch of a cycled forget loader, as the SCRUB code's ``train_negrad``.
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from ..data.dataset import batches
from ..device import device_of
from ..train import progress_enabled
from .common import cycle, descend, proximal, set_lr, step_lr, train_mode
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
                 seed: int = 0, progress: bool | None = None) -> nn.Module:
    """Minimise α·CE(D_r) − (1−α)·CE(D_f) with SGD (defaults: SURE's Table 3, random
    forgetting: lr 0.0072, α 0.991, forget batch 8, lr ×0.1 after epoch 18, 20 epochs).

    ``freeze_bn`` keeps BatchNorm in eval mode and ``prox`` adds prox·½‖θ − θ_start‖² to the
    retain term: the SCRUB small-scale protocol (α 0.95, prox 0.1, momentum 0, wd 0)."""
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                weight_decay=weight_decay)
    start = [p.detach().clone() for p in model.parameters()]
    forget_batches = cycle(task.forget, forget_batch_size, generator, device)
    history = []
    for epoch in tqdm(range(1, epochs + 1), desc="neggrad_plus",
                      disable=not progress_enabled(progress), leave=False):
        set_lr(optimizer, step_lr(lr, epoch, tuple(decay_epochs)))
        train_mode(model, freeze_bn)
        total = torch.zeros((), device=device)
        for x_r, y_r in batches(task.retain, retain_batch_size, shuffle=True,
                                generator=generator, device=device):
            x_f, y_f = next(forget_batches)
            loss = neggrad_plus_loss(model(x_r), y_r, model(x_f), y_f, alpha)
            if prox:
                loss = loss + prox * proximal(model, start)
            total += descend(optimizer, loss)
        history.append({"epoch": epoch, "loss": total.item()})
    model.unlearn_info = {"history": pd.DataFrame(history)}
    return model.eval()
