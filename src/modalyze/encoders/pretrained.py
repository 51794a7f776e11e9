"""The encoder of a pretrained modality (see :mod:`modalyze.data.pretrained`).

Frozen: the featurizer already holds the tower's pooled features [B, H]; an MLP projects them to the
shared width. Trainable: the tower runs on the prepared inputs and is fine-tuned; its last hidden
state, projected to the shared width, gives the tokens, pooled by masked mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalyze.data.pretrained import load_tower, pooled_output
from modalyze.encoders.base import EncoderOutput, masked_mean, mlp, single_token
from modalyze.kind import ENCODERS
from modalyze.options import Rate


@ENCODERS.register("pretrained")
class PretrainedEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, dropout: Rate = 0.1):
        super().__init__()
        hidden = int(info["hidden"])
        self.frozen = bool(info["freeze"])
        self.tower = None if self.frozen else load_tower(Path(info["hf"]), str(info["source_kind"]))
        self.project = mlp([hidden, 2 * dim, dim], dropout) if self.frozen else nn.Linear(hidden, dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        if self.tower is None:
            return single_token(self.project(x["x"]))  # [B, D]
        tokens, mask = pooled_output(self.tower, x)  # [B, T, H], [B, T]
        tokens = self.project(tokens)  # [B, T, D]
        return EncoderOutput(masked_mean(tokens, mask), tokens, mask)
