"""Where tensors live: the GPU when there is one (or ``$UNLEARNBOOK_DEVICE``), else the CPU."""
from __future__ import annotations

import os

import torch
from torch import nn


def default_device() -> torch.device:
    """``$UNLEARNBOOK_DEVICE`` if set (e.g. ``cpu``, ``cuda:1``), else CUDA when available."""
    name = os.environ.get("UNLEARNBOOK_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of a model's parameters (CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device
