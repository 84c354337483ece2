"""ALL-CNN (Springenberg et al.) as used by SCRUB/AdaProb; ``filters`` scales 96/192 channels."""
from __future__ import annotations

import torch
from torch import nn

from .base import Classifier


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class AllCNN(Classifier):
    def __init__(self, num_classes: int, in_channels: int = 3, filters: float = 1.0) -> None:
        n1, n2 = int(96 * filters), int(192 * filters)
        super().__init__(n2, num_classes)
        self.body = nn.Sequential(
            _conv(in_channels, n1), _conv(n1, n1), _conv(n1, n2, stride=2),
            _conv(n2, n2), _conv(n2, n2), _conv(n2, n2, stride=2),
            _conv(n2, n2), _conv(n2, n2, kernel=1),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1)
