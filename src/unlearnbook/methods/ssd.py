"""SSD (Foster, Schoepf & Brintrup, AAAI'24): dampening with diagonal-Fisher importance."""
from __future__ import annotations

from torch import nn

from .dampening import cross_entropy, selective_synaptic_dampening
from .registry import register


@register("ssd", needs=("labels",), deterministic=True)
def ssd(model: nn.Module, task, *, alpha: float = 10.0, lam: float = 1.0,
        importance_mode: str = "batch_mean", batch_size: int = 64,
        forget_batch_size: int = 64) -> nn.Module:
    """LFSSD Eq. 1 with importance = diagonal Fisher, the squared gradient of the cross-entropy.

    The default ``batch_mean`` squares each batch's mean gradient, as the SSD reference code does
    (the numbers the LFSSD paper prints for SSD); ``per_sample`` is the textbook diagonal Fisher.
    """
    return selective_synaptic_dampening(model, task, cross_entropy, "square", alpha, lam,
                                        importance_mode, batch_size, forget_batch_size)
