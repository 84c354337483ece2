"""The original model itself ("baseline" in the SSD/LFSSD tables): no unlearning."""
from __future__ import annotations

from torch import nn

from .registry import register


@register("original", needs=(), deterministic=True)
def original(model: nn.Module, task) -> nn.Module:
    """Return the (copied) original model unchanged, so it is scored like every method."""
    return model
