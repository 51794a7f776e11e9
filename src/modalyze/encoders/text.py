"""Text encoder: token + position embeddings and a light transformer; pooled by masked mean."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, masked_mean, register_encoder
from modalyze.options import Count, Rate


@register_encoder("text")
class TextEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int = 64, layers: Count = 1, heads: Count = 4, dropout: Rate = 0.1):
        super().__init__()
        self.embed = nn.Embedding(int(info["vocab_size"]), dim, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(1, int(info["max_len"]), dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        ids = x["ids"]  # [B, T]
        mask = ids != 0  # [B, T]
        attend = mask.clone()
        attend[:, 0] = True  # an empty text still attends to one (padding) token: no all-masked rows
        tokens = self.embed(ids) + self.position[:, : ids.shape[1]]  # [B, T, D]
        tokens = self.norm(self.encoder(tokens, src_key_padding_mask=~attend))  # [B, T, D]
        return EncoderOutput(masked_mean(tokens, attend), tokens, attend)
