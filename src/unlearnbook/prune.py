"""One-shot magnitude pruning (OMP) with fixed masks, as in the Unlearn-Sparse protocol.

Masks are installed as a parametrization (``weight = original * mask``), so every optimiser step,
noise injection or parameter edit made by an unlearning method leaves pruned weights at exactly
zero, and pruned models still deep-copy and work with ``torch.func``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from ._checks import UnlearnbookError


class FixedMask(nn.Module):
    """The parametrization ``W -> W * mask`` with a fixed binary mask."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def _mask_of(module: nn.Module) -> torch.Tensor | None:
    if not parametrize.is_parametrized(module, "weight"):
        return None
    return next((p.mask for p in module.parametrizations.weight if isinstance(p, FixedMask)),
                None)


def prunable(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """The layers OMP prunes: every Conv2d (the head, BN and biases stay dense)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def is_pruned(model: nn.Module) -> bool:
    return any(_mask_of(m) is not None for _, m in prunable(model))


@torch.no_grad()
def magnitude_masks(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Global unstructured L1 magnitude masks over all conv weights: the ``sparsity`` fraction
    with the smallest absolute value is pruned (mask 0)."""
    if not 0.0 <= sparsity < 1.0:
        raise UnlearnbookError(f"sparsity {sparsity!r} is out of range; allowed: [0, 1)")
    layers = prunable(model)
    scores = torch.cat([m.weight.detach().abs().flatten() for _, m in layers])
    count = int(round(sparsity * scores.numel()))
    masks = {}
    order = scores.argsort()  # exactly `count` weights go, even with ties in magnitude
    keep = torch.ones_like(scores)
    keep[order[:count]] = 0.0
    offset = 0
    for name, m in layers:
        size = m.weight.numel()
        masks[name] = keep[offset:offset + size].view_as(m.weight).clone()
        offset += size
    return masks


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Install (or replace) fixed masks on the conv weights of ``model``, in place."""
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        module = modules[name]
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        mask = mask.to(module.weight.device, copy=True)
        parametrize.register_parametrization(module, "weight", FixedMask(mask))
    return model


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: _mask_of(m).clone() for name, m in prunable(model) if _mask_of(m) is not None}


def sparsity_of(model: nn.Module) -> float:
    """Fraction of exactly-zero conv weights (as the forward pass sees them)."""
    weights = [m.weight.detach() for _, m in prunable(model)]
    total = sum(w.numel() for w in weights)
    return float(sum((w == 0).sum().item() for w in weights) / max(total, 1))
