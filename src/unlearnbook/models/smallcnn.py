"""A small CNN for 8x8 digits: two conv blocks (16 and 32 filters by default) and one hidden layer
(a second per 10 epochs of digits on one CPU core)."""
from __future__ import annotations

import torch
from torch import nn

from .base import Classifier


class SmallCNN(Classifier):
    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 16,
                 hidden: int = 128) -> None:
        super().__init__(hidden, num_classes)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, hidden), nn.ReLU(),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
