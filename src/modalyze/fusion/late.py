"""Late fusion: concatenate the modalities' pooled vectors, then an MLP."""

from __future__ import annotations

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, mlp
from modalyze.fusion.base import register_fusion


@register_fusion("late")
class LateFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        self.net = nn.Sequential(mlp([len(modalities) * dim, hidden, hidden], dropout), nn.GELU())
        self.out_dim = hidden

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        joint = torch.cat([outputs[m].pooled for m in self.modalities], dim=-1)  # [B, M*D]
        return self.net(joint)  # [B, hidden]
