"""The encoder contract: one encoder per modality kind (declared by the kind, :mod:`modalyze.kind`).

Every encoder maps a modality's batch tensors to ``EncoderOutput(pooled [B, D], tokens [B, T, D],
mask [B, T])`` where ``mask`` is True for real tokens. It is built from the fitted featurizer's
``spec_info`` (vocabulary size, image size, ...) plus options from the spec.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from modalyze.errors import ModalyzeError
from modalyze.layers import masked_mean  # noqa: F401 (re-exported: the encoders' pooling)
from modalyze.kind import ENCODERS
from modalyze.options import check_named, signature_types
from modalyze.settings import MODEL


class EncoderOutput(NamedTuple):
    pooled: torch.Tensor  # [B, D]
    tokens: torch.Tensor  # [B, T, D]
    mask: torch.Tensor  # bool [B, T], True = real token


def create_encoder(kind: str, info: dict[str, Any], dim: int = MODEL.dim, **options: Any) -> nn.Module:
    """Build the registered encoder for ``kind``; ``info`` comes from the fitted featurizer."""
    cls = ENCODERS.get(kind)
    try:
        return cls(info, dim=dim, **options)
    except TypeError as exc:
        raise ModalyzeError(f"encoder option for kind '{kind}': {exc}") from None


def check_encoder_options(kind: str, options: dict[str, Any], where: str) -> None:
    """Encoder options of a spec entry against the encoder's declared constructor parameters."""
    check_named(signature_types(ENCODERS.get(kind).__init__, skip=("info", "dim")), options, where, "encoder option")


def list_encoders() -> list[str]:
    return ENCODERS.names()


def mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with GELU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.GELU(), nn.Dropout(dropout)] if dropout else [nn.GELU()]
    return nn.Sequential(*layers)


def pooled_sequence(tokens: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
    """A sequence encoder's output: a row with no real token (an absent modality) still exposes its
    first one, and the pooled vector is the masked mean. tokens [B, T, D], mask bool [B, T]."""
    mask = mask.clone()
    mask[:, 0] |= ~mask.any(1)
    return EncoderOutput(masked_mean(tokens, mask), tokens, mask)


def downsample_mask(mask: torch.Tensor, length: int) -> torch.Tensor:
    """bool [B, T] -> [B, length]: a cell is real when any step it covers is."""
    return F.adaptive_max_pool1d(mask.float().unsqueeze(1), length).squeeze(1) > 0


def single_token(pooled: torch.Tensor) -> EncoderOutput:
    """Encoders without a natural sequence expose their pooled vector as one token."""
    return EncoderOutput(pooled, pooled.unsqueeze(1), torch.ones(len(pooled), 1, dtype=torch.bool, device=pooled.device))
