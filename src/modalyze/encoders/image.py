"""Image encoder: a patchify stem and strided conv blocks; the last feature map's cells are the tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, register_encoder
from modalyze.options import Count


def _block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2 if stride == 2 else 0,
                                   bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


@register_encoder("image")
class ImageEncoder(nn.Module):
    """uint8 pixels [B, 3, S, S] -> normalised -> a ``patch``x``patch`` stride-``patch`` stem (cheap on
    CPU: each patch is embedded once) -> stride-2 3x3 blocks until the map is at most 4x4."""

    def __init__(self, info: dict[str, Any], dim: int = 64, width: Count = 32, patch: Count = 4):
        super().__init__()
        self.register_buffer("mean", torch.tensor(info["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(info["std"]).view(1, 3, 1, 1))
        size = int(info["size"])
        patch = max(1, min(patch, size // 4))
        blocks, channels, size = [_block(3, width, patch, patch)], width, size // patch
        while size > 4:
            out = min(2 * channels, max(dim, width))
            blocks.append(_block(channels, out, 3, 2))
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
