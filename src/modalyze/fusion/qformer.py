"""Q-Former fusion (BLIP-2): a few learned queries read every modality's tokens by cross-attention.

Each layer lets the queries attend to each other, then to the tokens of every modality (each token
marked with a learned embedding of the modality it came from), then passes them through a
feed-forward block; the queries' mean is the joint representation. The queries are a bottleneck: the
cost grows with the number of tokens only through the cross-attention.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, mlp
from modalyze.fusion.base import register_fusion


class QueryLayer(nn.Module):
    """Queries [B, K, D]: self-attention, cross-attention to the tokens, feed-forward (pre-norm, residual)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        heads = math.gcd(heads, dim)
        self.norm_self, self.norm_cross, self.norm_kv, self.norm_ff = (nn.LayerNorm(dim) for _ in range(4))
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.feed_forward = mlp([dim, 2 * dim, dim], dropout)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm_self(queries)
        queries = queries + self.self_attention(x, x, x, need_weights=False)[0]
        kv = self.norm_kv(tokens)  # [B, S, D]
        queries = queries + self.cross_attention(self.norm_cross(queries), kv, kv, key_padding_mask=~mask,
                                                 need_weights=False)[0]
        return queries + self.feed_forward(self.norm_ff(queries))  # [B, K, D]


@register_fusion("qformer")
class QFormerFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, queries: int = 8, layers: int = 2, heads: int = 4,
                 hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        self.queries = nn.Parameter(torch.randn(queries, dim) * 0.02)  # [K, D]
        self.source = nn.Parameter(torch.randn(len(self.modalities), dim) * 0.02)  # which modality a token is from
        self.layers = nn.ModuleList(QueryLayer(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.net = nn.Sequential(mlp([dim, hidden, hidden], dropout), nn.GELU())
        self.out_dim = hidden

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        tokens = torch.cat([outputs[m].tokens + self.source[i] for i, m in enumerate(self.modalities)], 1)  # [B, S, D]
        mask = torch.cat([outputs[m].mask for m in self.modalities], 1)  # [B, S]
        mask = mask | ~mask.any(1, keepdim=True)  # a row with no real token attends to all (never to none)
        queries = self.queries.expand(len(tokens), -1, -1)  # [B, K, D]
        for layer in self.layers:
            queries = layer(queries, tokens, mask)
        return self.net(self.norm(queries).mean(1))  # [B, hidden]
