"""The model interface every architecture follows: ``features(x)`` (penultimate) and ``head``."""
from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """A backbone producing penultimate features, then a linear ``head``.

    SURE, DAU and representation-space attacks read :meth:`features`; ``forward`` is
    ``head(features(x))``. ``spec`` records the arguments of :func:`unlearnbook.models.build`.
    """

    spec: dict

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
