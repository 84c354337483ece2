"""Building blocks that several unlearning methods share (not a method itself)."""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ..data.dataset import batches


def cycle(dataset, batch_size: int, generator: torch.Generator, device: torch.device
          ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches (a forget or validation loader paired with D_r batches)."""
    while True:
        yield from batches(dataset, batch_size, shuffle=True, generator=generator, device=device)


def kl_temperature(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                   temperature: float) -> torch.Tensor:
    """Hinton's distillation KL, KL_T(s, t) = T² Σ_k softmax(t/T)_k (log softmax(t/T)_k −
    log softmax(s/T)_k), summed over classes and averaged over the batch (SCRUB's DistillKL)."""
    log_s = torch.log_softmax(student_logits / temperature, dim=1)
    log_t = torch.log_softmax(teacher_logits / temperature, dim=1)
    return (log_t.exp() * (log_t - log_s)).sum(1).mean() * temperature ** 2


def proximal(model: nn.Module, start: list[torch.Tensor]) -> torch.Tensor:
    """½ Σ ‖θ − θ_start‖², the proximal pull of the SCRUB small-scale protocol."""
    return 0.5 * sum(((p - s) ** 2).sum() for p, s in zip(model.parameters(), start))


def step_lr(lr: float, epoch: int, milestones: tuple[int, ...], gamma: float = 0.1) -> float:
    """The learning rate of (1-based) ``epoch``: ``lr · gamma^{#(milestones < epoch)}``."""
    return lr * gamma ** sum(epoch > m for m in milestones)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimiser step on ``loss``; returns the loss, detached (no host sync)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """Training mode, or eval mode (BatchNorm statistics frozen) as the SCRUB small scale."""
    model.train(not freeze_bn)
