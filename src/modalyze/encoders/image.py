"""Image encoder: a small strided CNN; its last feature map's cells are the tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, register_encoder


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


@register_encoder("image")
class ImageEncoder(nn.Module):
    """uint8 pixels [B, 3, S, S] -> normalised -> strided conv blocks until the map is at most 4x4."""

    def __init__(self, info: dict[str, Any], dim: int = 64, width: int = 32):
        super().__init__()
        self.register_buffer("mean", torch.tensor(info["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(info["std"]).view(1, 3, 1, 1))
        blocks, channels, size = [], 3, int(info["size"])
        while size > 4:
            out = min(width * 2 ** len(blocks), dim)
            blocks.append(_block(channels, out))
            channels, size = out, (size + 1) // 2
        blocks.append(nn.Sequential(nn.Conv2d(channels, dim, 1), nn.ReLU()))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.Linear(2 * dim, dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        pixels = (x["pixels"].float() / 255 - self.mean) / self.std  # [B, 3, S, S]
        fmap = self.features(pixels)  # [B, D, h, w]
        tokens = fmap.flatten(2).transpose(1, 2)  # [B, h*w, D]
        pooled = self.pool(torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1))  # [B, D]
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(pooled, tokens, mask)
