"""Audio encoder: a small 2-D CNN over the log-mel spectrogram; the mel axis is averaged away so the
tokens follow time, and the pooled vector is the masked mean over real frames."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, downsample_mask, pooled_sequence, register_encoder
from modalyze.options import Count, Rate


@register_encoder("audio")
class AudioEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int = 64, width: Count = 32, dropout: Rate = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * width, dim, 3, stride=2, padding=1), nn.GELU(), nn.Dropout(dropout),
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        frames = x["frames"]  # bool [B, T]
        maps = self.net(x["mel"].unsqueeze(1))  # [B, D, n_mels / 8, T / 8]
        tokens = self.norm(maps.mean(2).transpose(1, 2))  # [B, T', D]
        return pooled_sequence(tokens, downsample_mask(frames, tokens.shape[1]))
