"""Projector fusion (LLaVA's connector): every other modality's tokens, mapped by a two-layer MLP into
the language modality's token space, are prepended to its tokens, and a transformer reads the joint
sequence. The language modality is the ``language`` option, else the first text modality, else the
last modality; the transformer is trained from scratch."""

from __future__ import annotations

import math

import torch
from torch import nn

from modalyze.encoders.base import EncoderOutput, masked_mean, mlp
from modalyze.errors import ModalyzeError
from modalyze.fusion.base import register_fusion


@register_fusion("projector")
class ProjectorFusion(nn.Module):
    def __init__(self, modalities: list[str], dim: int, kinds: dict[str, str] | None = None,
                 language: str | None = None, layers: int = 2, heads: int = 4, hidden: int = 256,
                 dropout: float = 0.1):
        super().__init__()
        self.modalities = list(modalities)
        texts = [m for m in self.modalities if (kinds or {}).get(m) == "text"]
        self.language = language or (texts[0] if texts else self.modalities[-1])
        if self.language not in self.modalities:
            raise ModalyzeError(f"fusion projector: option language '{self.language}' is not a modality "
                                f"({', '.join(self.modalities)})")
        self.order = [m for m in self.modalities if m != self.language] + [self.language]  # prefixes, then text
        self.projectors = nn.ModuleDict({m: mlp([dim, 2 * dim, dim], dropout) for m in self.order[:-1]})
        self.segment = nn.Parameter(torch.randn(len(self.order), dim) * 0.02)  # which part a position belongs to
        layer = nn.TransformerEncoderLayer(dim, math.gcd(heads, dim), 2 * dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.net = nn.Sequential(mlp([dim, hidden, hidden], dropout), nn.GELU())
        self.out_dim = hidden

    def forward(self, outputs: dict[str, EncoderOutput]) -> torch.Tensor:
        parts = [(self.projectors[m](outputs[m].tokens) if m in self.projectors else outputs[m].tokens) + self.segment[i]
                 for i, m in enumerate(self.order)]
        sequence = torch.cat(parts, 1)  # [B, S, D]: projected prefixes, then the language tokens
        mask = torch.cat([outputs[m].mask for m in self.order], 1)  # [B, S]
        mask = mask | ~mask.any(1, keepdim=True)  # a row with no real token reads all (never none)
        return self.net(masked_mean(self.transformer(sequence, src_key_padding_mask=~mask), mask))  # [B, hidden]
