"""The vector kind: numeric columns forming one embedding per row, an MLP with a linear path, and
Gaussian noise as its corruption."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from modalyze.data.featurizers import Featurizer, Features, numeric_cells
from modalyze.encoders.base import EncoderOutput, mlp, single_token
from modalyze.errors import ModalyzeError
from modalyze.kind import Corruption, Kind, register_kind
from modalyze.options import Count, Rate


class VectorFeaturizer(Featurizer):
    """Numeric columns forming one embedding per row, standardised; all-empty rows are missing."""

    def fit(self, frame: pd.DataFrame) -> VectorFeaturizer:
        values = numeric_cells(frame, self.columns)
        self.mean_ = np.nan_to_num(np.nanmean(values, axis=0)).tolist() if len(values) else [0.0] * len(self.columns)
        std = np.nan_to_num(np.nanstd(values, axis=0)) if len(values) else np.ones(len(self.columns))
        self.std_ = np.where(std > 1e-8, std, 1.0).tolist()
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"dim": len(self.columns)}

    def transform(self, frame: pd.DataFrame) -> Features:
        values = numeric_cells(frame, self.columns)
        isnan = np.isnan(values)
        partial = isnan.any(axis=1) & ~isnan.all(axis=1)
        if partial.any():
            row = int(np.flatnonzero(partial)[0])
            col = self.columns[int(np.flatnonzero(isnan[row])[0])]
            raise ModalyzeError(f"row {frame.index[row]}, column '{col}': empty cell inside a vector modality "
                                "(a vector row must be complete, or empty as a whole to mark it missing)")
        vec = np.where(isnan, 0.0, (values - np.array(self.mean_)) / np.array(self.std_))
        return Features({"x": torch.tensor(vec, dtype=torch.float32)}, torch.from_numpy(~isnan.all(axis=1)))


class VectorEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, hidden: Count = 128, dropout: Rate = 0.1):
        super().__init__()
        self.net = mlp([int(info["dim"]), hidden, hidden, dim], dropout)
        self.linear = nn.Linear(int(info["dim"]), dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        return single_token(self.net(x["x"]) + self.linear(x["x"]))  # pooled [B, D]


def _noise(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    feats = featurizer.transform(frame)
    x = feats.tensors["x"]  # [N, D], standardised on train
    noisy = x + torch.from_numpy(rng.normal(0.0, level, x.shape)).float() * feats.present.view(-1, 1)
    return Features({**feats.tensors, "x": noisy}, feats.present, feats.index)


VECTOR = register_kind(Kind(
    "vector", VectorFeaturizer, VectorEncoder,
    corruptions=(Corruption("gaussian-noise", "noise with the standard deviation of each feature", _noise),)))
