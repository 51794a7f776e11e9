"""Vector encoder: an MLP over a precomputed embedding plus a linear path (so the encoder contains the
linear model a logistic regression fits); the pooled vector is the single token."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, mlp, register_encoder, single_token
from modalyze.options import Count, Rate


@register_encoder("vector")
class VectorEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int = 64, hidden: Count = 128, dropout: Rate = 0.1):
        super().__init__()
        self.net = mlp([int(info["dim"]), hidden, hidden, dim], dropout)
        self.linear = nn.Linear(int(info["dim"]), dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        return single_token(self.net(x["x"]) + self.linear(x["x"]))  # pooled [B, D]
