"""Shuffles: a modality's values permuted across rows, every other modality left in place."""

from __future__ import annotations

import numpy as np
import torch

from modalyze.data.batching import EncodedDataset
from modalyze.data.featurizers import Features


def permute_modality(data: EncodedDataset, modality: str, perm: np.ndarray) -> EncodedDataset:
    """A view of ``data`` where row i sees modality ``modality`` of row ``perm[i]`` (no copying)."""
    feats = data.features[modality]
    perm_t = torch.as_tensor(perm, dtype=torch.long)
    index = perm_t if feats.index is None else feats.index[perm_t]
    moved = Features(feats.tensors, feats.present[perm_t], index)
    return EncodedDataset({**data.features, modality: moved}, data.targets)
