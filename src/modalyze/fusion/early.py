"""Early fusion: every modality's tokens, tagged with a learned modality-type embedding, form one
sequence (after a learned summary token) for a shared transformer encoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput
from modalyze.fusion.base import register_fusion


@register_fusion("early")
class EarlyFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, layers: int = 1, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        self.type_embedding = nn.Parameter(torch.randn(len(modalities), dim) * 0.02)  # [M, D]
        self.summary = nn.Parameter(torch.randn(1, 1, dim) * 0.02)  # [1, 1, D]
        layer = nn.TransformerEncoderLayer(dim, math.gcd(heads, dim), 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        first = outputs[self.modalities[0]].tokens
        batch = first.shape[0]
        tokens = [self.summary.expand(batch, -1, -1)]
        masks = [torch.ones(batch, 1, dtype=torch.bool, device=first.device)]
        for i, m in enumerate(self.modalities):
            tokens.append(outputs[m].tokens + self.type_embedding[i])  # [B, T_m, D]
            masks.append(outputs[m].mask)  # [B, T_m]
        sequence = self.encoder(torch.cat(tokens, 1), src_key_padding_mask=~torch.cat(masks, 1))  # [B, 1 + ΣT, D]
        return self.norm(sequence[:, 0])  # [B, D]: the summary token
