"""Time-series encoder: a strided 1-D CNN (default, fast on a CPU) or a GRU over standardised steps, with the
step mask as an extra input channel; pooled by masked mean over the real steps."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, downsample_mask, pooled_sequence, register_encoder
from modalyze.errors import ModalyzeError
from modalyze.options import Count, Rate


@register_encoder("timeseries")
class TimeSeriesEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int = 64, arch: Literal["cnn", "gru"] = "cnn", layers: Count = 1,
                 dropout: Rate = 0.1):
        super().__init__()
        if arch not in ("gru", "cnn"):
            raise ModalyzeError(f"timeseries encoder option arch={arch!r}: use 'gru' or 'cnn'")
        channels = int(info["channels"]) + 1  # + the step mask
        self.arch = arch
        if arch == "gru":
            self.net = nn.GRU(channels, dim, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        else:
            self.net = nn.Sequential(
                nn.Conv1d(channels, dim, 5, padding=2), nn.GELU(),
                nn.Conv1d(dim, dim, 5, stride=2, padding=2), nn.GELU(),
                nn.Conv1d(dim, dim, 5, stride=2, padding=2), nn.GELU(),
            )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        steps = x["steps"]  # bool [B, T]
        inputs = torch.cat([x["values"], steps.unsqueeze(-1).float()], -1)  # [B, T, C + 1]
        if self.arch == "gru":
            tokens, _ = self.net(inputs)  # [B, T, D]; causal, so trailing padding cannot reach real steps
            mask = steps
        else:
            tokens = self.net(inputs.transpose(1, 2)).transpose(1, 2)  # [B, T', D], T' ≈ T / 4
            mask = downsample_mask(steps, tokens.shape[1])  # [B, T']
        return pooled_sequence(self.norm(tokens), mask)
