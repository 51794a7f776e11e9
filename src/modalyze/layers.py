"""Tensor helpers shared by the data floor (pretrained features) and the encoder floor."""

from __future__ import annotations

import torch


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """tokens [B, T, D], mask bool [B, T] -> [B, D]: the mean over real tokens (0 for a row with none)."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)
