"""Random Labelling as SalUn defines it for CIFAR-10 (Fan et al., ICLR'24): each epoch, one pass
over D_f with labels drawn uniformly from all classes, then one pass over D_r with true labels.
(Not ``amnesiac``, which relabels to a *wrong* class and trains on both sets at once.)"""
from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import batches
from ..device import device_of
from .common import OnEpoch, descend, optimizer_for, retain_pass, run_epochs
from .registry import register


def random_labels(size: int, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """Labels uniform over all ``num_classes`` (the true label included), redrawn per batch."""
    return torch.randint(0, num_classes, (size,), generator=generator)


@register("rl", needs=())
def rl(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.0671,
       forget_batch_size: int = 32, retain_batch_size: int = 128,
       decay_epochs: tuple[int, ...] = (14,), momentum: float = 0.9, weight_decay: float = 5e-4,
       seed: int = 0, progress: bool | None = None,
       on_epoch: OnEpoch | None = None) -> nn.Module:
    """SGD, one step per forget batch on CE(x_f, random labels), then a pass over D_r
    (defaults: SURE's Table 3, random forgetting: lr 0.0671, forget batch 32, decay at 14)."""
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = optimizer_for(model.parameters(), "sgd", lr, momentum, weight_decay)

    def one_epoch(epoch: int) -> torch.Tensor:
        total = torch.zeros((), device=device)
        for x_f, _ in batches(task.forget, forget_batch_size, shuffle=True, generator=generator,
                              device=device):
            y_random = random_labels(len(x_f), task.num_classes, generator).to(device)
            total += descend(optimizer, nn.functional.cross_entropy(model(x_f), y_random))
        return total + retain_pass(model, optimizer, task.retain, retain_batch_size, generator)

    history = run_epochs(model, one_epoch, optimizer, epochs=epochs, lr=lr,
                         decay_epochs=decay_epochs, desc="rl", progress=progress,
                         on_epoch=on_epoch)
    model.unlearn_info = {"history": history}
    return model.eval()
