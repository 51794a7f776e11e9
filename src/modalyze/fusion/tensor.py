"""Tensor fusion (Zadeh et al., 2017): the outer product of [1; z_m] across modalities keeps every
unimodal, bimodal, ... M-modal interaction term, then an MLP. Each z_m is a small projection of the
modality's pooled vector, sized so the product has at most ``max_features`` entries."""

from __future__ import annotations

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, mlp
from modalyze.fusion.base import register_fusion


@register_fusion("tensor")
class TensorFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, size: int | None = None, max_features: int = 4096,
                 hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        self.size = size or max(1, int(round(max_features ** (1 / len(modalities)), 6)) - 1)  # (size+1)^M ≤ max
        self.project = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, self.size))
                                      for m in modalities})
        features = (self.size + 1) ** len(modalities)
        self.net = nn.Sequential(mlp([features, hidden, hidden], dropout), nn.GELU())
        self.out_dim = hidden

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        product = None
        for m in self.modalities:
            z = self.project[m](outputs[m].pooled)  # [B, s]
            z1 = torch.cat([torch.ones_like(z[:, :1]), z], -1)  # [B, s + 1]
            product = z1 if product is None else (product.unsqueeze(-1) * z1.unsqueeze(1)).flatten(1)
        return self.net(product)  # [B, hidden]; product was [B, (s + 1)^M]
