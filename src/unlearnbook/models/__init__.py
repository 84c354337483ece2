"""Model registry: ``ub.models.build(name, num_classes, in_channels, **kw)``."""
from __future__ import annotations

import os
from typing import Callable

import torch

from .._checks import UnlearnbookError, check_choice
from .allcnn import AllCNN
from .base import Classifier
from .resnet import ResNet18
from .smallcnn import SmallCNN
from .vit import ViT

ARCHITECTURES: dict[str, Callable[..., Classifier]] = {
    "resnet18": ResNet18, "allcnn": AllCNN, "smallcnn": SmallCNN, "vit": ViT,
}


def build(name: str, num_classes: int, in_channels: int = 3, *, seed: int | None = None,
          weights: str | os.PathLike | None = None, **kwargs) -> Classifier:
    """Build an architecture by name. ``seed`` fixes the initial weights; ``weights`` loads a
    state dict saved with ``torch.save(model.state_dict(), path)`` (``weights_only`` loading)."""
    check_choice("architecture", name, ARCHITECTURES)
    if num_classes < 2:
        raise UnlearnbookError(f"num_classes {num_classes!r} is out of range; allowed: >= 2")
    if seed is not None:
        torch.manual_seed(seed)
    try:
        model = ARCHITECTURES[name](num_classes=num_classes, in_channels=in_channels, **kwargs)
    except TypeError as err:
        raise UnlearnbookError(f"bad option for architecture {name!r}: {err}") from None
    model.spec = dict(name=name, num_classes=num_classes, in_channels=in_channels, **kwargs)
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        model.spec["weights"] = str(weights)
    return model


def rebuild(model: Classifier, seed: int | None = None, *, init: bool = True) -> Classifier:
    """A freshly initialised model of the same architecture as ``model``. When ``model`` was
    built from initial weights (``spec["weights"]``, e.g. the SCRUB protocol's pre-trained
    backbone with a new head), the rebuild starts from them too, unless ``init`` is False (then
    it is a random initialisation, e.g. a "bad teacher")."""
    spec = dict(model.spec)
    if not init:
        spec.pop("weights", None)
    return build(**spec, seed=seed)


def last_block(model: Classifier) -> torch.nn.Module:
    """The last block before the head (CF-k / EU-k, Goel et al.): ResNet ``layer4``, ALL-CNN's
    last conv block, the small CNN's hidden layer, the ViT's last encoder layer."""
    if isinstance(model, ResNet18):
        return model.layer4
    if isinstance(model, (AllCNN, SmallCNN)):
        return [m for m in model.body if list(m.parameters())][-1]
    if isinstance(model, ViT):
        return model.encoder.layers[-1]
    raise UnlearnbookError(f"no last block defined for {type(model).__name__}; allowed: "
                           f"{', '.join(ARCHITECTURES)}")


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ARCHITECTURES", "Classifier", "build", "rebuild", "last_block", "count_parameters"]
