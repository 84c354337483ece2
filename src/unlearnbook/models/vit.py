"""A small Vision Transformer trainable from scratch (patch embedding, CLS token, pre-norm blocks).

The paper-scale ViT-B/16 of SSD/LFSSD starts from ImageNet weights; load such weights with
``build(..., weights=path)`` when you have them (see the book's "how to reproduce" page).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Classifier


class ViT(Classifier):
    def __init__(self, num_classes: int, in_channels: int = 3, image_size: int = 32,
                 patch_size: int = 4, dim: int = 192, depth: int = 6, heads: int = 3,
                 mlp_ratio: float = 2.0) -> None:
        super().__init__(dim, num_classes)
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        tokens = (image_size // patch_size) ** 2
        self.patch = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos
        return self.norm(self.encoder(x)[:, 0])
