"""Intermediate fusion by gated cross-attention: each modality's tokens attend to the other
modalities' tokens. The attention and feed-forward updates pass through tanh gates initialised at 0
(as in Flamingo), so training starts from the unimodal path and opens the gates as it helps."""

from __future__ import annotations

import math

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, masked_mean, mlp
from modalyze.fusion.base import register_fusion


class GatedCrossAttention(nn.Module):
    """One modality's tokens updated by attention over the other modalities' tokens."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, math.gcd(heads, dim), dropout=dropout, batch_first=True)
        self.feed_forward = mlp([dim, 2 * dim, dim], dropout)
        self.attention_gate = nn.Parameter(torch.zeros(1))
        self.feed_forward_gate = nn.Parameter(torch.zeros(1))

    def forward(self, query: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(context)  # [B, S, D]
        attended, _ = self.attention(self.norm_q(query), kv, kv, key_padding_mask=~context_mask, need_weights=False)
        x = query + torch.tanh(self.attention_gate) * attended  # [B, T, D]
        return x + torch.tanh(self.feed_forward_gate) * self.feed_forward(self.norm_ff(x))


@register_fusion("cross-attention")
class CrossAttentionFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, heads: int = 4, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        self.blocks = nn.ModuleDict({m: GatedCrossAttention(dim, heads, dropout) for m in modalities})
        self.net = nn.Sequential(mlp([len(modalities) * dim, hidden, hidden], dropout), nn.GELU())
        self.out_dim = hidden

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        pooled = []
        for m in self.modalities:
            others = [o for o in self.modalities if o != m]
            context = torch.cat([outputs[o].tokens for o in others], 1)  # [B, S, D]
            context_mask = torch.cat([outputs[o].mask for o in others], 1)  # [B, S]
            updated = self.blocks[m](outputs[m].tokens, context, context_mask)  # [B, T_m, D]
            pooled.append(masked_mean(updated, outputs[m].mask))
        return self.net(torch.cat(pooled, -1))  # [B, hidden]
