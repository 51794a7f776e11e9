"""Low-rank multimodal fusion (Liu et al., 2018): the tensor-fusion interaction computed through
rank-r modality-specific factors, so its cost is linear in the number of modalities:
h = Σ_r Π_m (W_m^r [1; z_m]). Each factor starts near 1 (its constant slot) so the product of
many modalities neither vanishes nor explodes at initialisation."""

from __future__ import annotations

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, mlp
from modalyze.fusion.base import register_fusion


@register_fusion("low-rank")
class LowRankFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, rank: int = 8, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        self.norm = nn.ModuleDict({m: nn.LayerNorm(dim) for m in modalities})
        factors = torch.randn(len(modalities), rank, dim + 1, hidden) / (dim ** 0.5 * len(modalities))
        factors[:, :, 0, :] = 1.0  # the constant slot: every factor starts as 1 + a small term
        self.factors = nn.Parameter(factors)  # [M, r, D + 1, H]
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))  # [r]
        self.net = nn.Sequential(nn.LayerNorm(hidden), mlp([hidden, hidden], dropout), nn.GELU())
        self.out_dim = hidden

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        fused = None
        for i, m in enumerate(self.modalities):
            z = self.norm[m](outputs[m].pooled)  # [B, D]
            z1 = torch.cat([torch.ones_like(z[:, :1]), z], -1)  # [B, D + 1]
            h = torch.einsum("bd,rdh->brh", z1, self.factors[i])  # [B, r, H]
            fused = h if fused is None else fused * h
        return self.net(torch.einsum("brh,r->bh", fused, self.rank_weights))  # [B, H]
