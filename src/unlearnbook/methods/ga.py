"""Gradient ascent (GA / NegGrad): maximise the loss on the forget set."""
from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from ..data.dataset import batches
from ..device import device_of
from ..train import Recipe, make_optimizer, progress_enabled
from .registry import register


@register("ga", needs=("labels",))
def ga(model: nn.Module, task, *, epochs: int = 5, lr: float = 1e-4, batch_size: int = 256,
       momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
       progress: bool | None = None) -> nn.Module:
    """Minimise -CE on D_f with SGD (Unlearn-Sparse defaults: 5 epochs, lr 1e-4, batch 256)."""
    optimizer = make_optimizer(model.parameters(), Recipe(lr=lr, momentum=momentum,
                                                          weight_decay=weight_decay))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in tqdm(range(epochs), desc="ga", disable=not progress_enabled(progress), leave=False):
        for x, y in batches(task.forget, batch_size, shuffle=True, generator=generator,
                            device=device_of(model)):
            loss = -nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()
