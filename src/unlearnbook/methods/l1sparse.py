"""L1Sparse (Jia et al., "Model sparsity can simplify machine unlearning", NeurIPS'23): fine-tune
on D_r with an ℓ1 penalty on all weights that decays linearly over the epochs."""
from __future__ import annotations

import torch
from torch import nn

from .common import OnEpoch, optimizer_for, retain_pass, run_epochs
from .registry import register


def l1_weight(gamma: float, epoch: int, epochs: int) -> float:
    """γ_e = γ (1 − (e − 1)/E) for the (1-based) epoch e: γ at the first epoch, falling
    linearly (the reference code's ``alpha * (1 - epoch / unlearn_epochs)``, 0-based)."""
    return gamma * (1 - (epoch - 1) / epochs)


def l1_norm(model: nn.Module) -> torch.Tensor:
    """‖θ‖₁ over every parameter."""
    return sum(p.abs().sum() for p in model.parameters())


@register("l1sparse", needs=())
def l1sparse(model: nn.Module, task, *, epochs: int = 20, lr: float = 0.0045,
             gamma: float = 0.00044, batch_size: int = 32, decay_epochs: tuple[int, ...] = (10,),
             momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
             progress: bool | None = None, on_epoch: OnEpoch | None = None) -> nn.Module:
    """Minimise CE(D_r) + γ_e ‖θ‖₁ with SGD (defaults: SURE's Table 3, random forgetting: lr
    0.0045, γ 0.00044 (the table's α column), batch 32 (its "forget batch": L1Sparse never reads
    D_f), lr × 0.1 after epoch 10, 20 epochs)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = optimizer_for(model.parameters(), "sgd", lr, momentum, weight_decay)

    def one_epoch(epoch: int) -> torch.Tensor:
        weight = l1_weight(gamma, epoch, epochs)
        return retain_pass(model, optimizer, task.retain, batch_size, generator,
                           penalty=lambda: weight * l1_norm(model))

    history = run_epochs(model, one_epoch, optimizer, epochs=epochs, lr=lr,
                         decay_epochs=decay_epochs, desc="l1sparse", progress=progress,
                         on_epoch=on_epoch)
    model.unlearn_info = {"history": history}
    return model.eval()
