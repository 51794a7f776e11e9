"""Tabular encoder: one token per column (numeric value or category embedding), then an MLP."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, mlp, register_encoder
from modalyze.options import Rate


@register_encoder("tabular")
class TabularEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int = 64, dropout: Rate = 0.1):
        super().__init__()
        n_num, cards = int(info["n_numeric"]), [int(c) for c in info["cardinalities"]]
        self.num_weight = nn.Parameter(torch.randn(n_num, dim) * 0.1)  # value * w_j + b_j
        self.num_bias = nn.Parameter(torch.zeros(n_num, dim))
        self.num_missing = nn.Parameter(torch.zeros(n_num, dim))  # added where the cell is empty
        self.cat_embed = nn.ModuleList(nn.Embedding(c, dim) for c in cards)
        self.head = mlp([(n_num + len(cards)) * dim, 2 * dim, dim], dropout)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        num, missing = x["num"], x["num_missing"]  # [B, n_num]
        tokens = [num.unsqueeze(-1) * self.num_weight + self.num_bias + missing.unsqueeze(-1) * self.num_missing]
        tokens += [emb(x["cat"][:, j]).unsqueeze(1) for j, emb in enumerate(self.cat_embed)]
        tokens_t = torch.cat(tokens, dim=1)  # [B, T, D], T = number of columns
        pooled = self.head(tokens_t.flatten(1))  # [B, D]
        mask = torch.ones(tokens_t.shape[:2], dtype=torch.bool, device=tokens_t.device)
        return EncoderOutput(pooled, tokens_t, mask)
