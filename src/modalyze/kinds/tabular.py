"""The tabular kind: numeric columns standardised with missing indicators and categorical columns as
ids, one token per column; cells emptied or swapped across rows as corruptions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from modalyze.data.featurizers import Featurizer, Features, is_numeric_column, numeric_cells
from modalyze.encoders.base import EncoderOutput, mlp
from modalyze.kind import Corruption, Kind, register_kind
from modalyze.options import Rate


class TabularFeaturizer(Featurizer):
    """Numeric columns standardised (+ missing indicators), categorical columns as ids (0 = missing)."""

    def fit(self, frame: pd.DataFrame) -> TabularFeaturizer:
        numeric = [c for c in self.columns if is_numeric_column(frame[c])]
        self.numeric_ = numeric
        self.categorical_ = [c for c in self.columns if c not in numeric]
        values = numeric_cells(frame, numeric)  # [N, len(numeric)], NaN where empty
        self.mean_ = np.nan_to_num(np.nanmean(values, axis=0) if len(values) else np.zeros(len(numeric))).tolist()
        std = np.nanstd(values, axis=0) if len(values) else np.ones(len(numeric))
        self.std_ = np.where(np.nan_to_num(std) > 1e-8, np.nan_to_num(std), 1.0).tolist()
        self.categories_ = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in self.categorical_}
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"n_numeric": len(self.numeric_), "cardinalities": [len(self.categories_[c]) + 2 for c in self.categorical_]}

    def transform(self, frame: pd.DataFrame) -> Features:
        values = numeric_cells(frame, self.numeric_)
        isnan = np.isnan(values)
        num = np.where(isnan, 0.0, (values - np.array(self.mean_)) / np.array(self.std_))
        cat = np.zeros((len(frame), len(self.categorical_)), dtype=np.int64)
        cat_missing = np.zeros_like(cat, dtype=bool)
        for j, column in enumerate(self.categorical_):
            lookup = {v: i + 2 for i, v in enumerate(self.categories_[column])}
            col = frame[column]
            cat_missing[:, j] = col.isna().to_numpy()
            cat[:, j] = [0 if m else lookup.get(str(v), 1) for v, m in zip(col.tolist(), cat_missing[:, j])]
        present = ~np.concatenate([isnan, cat_missing], axis=1).all(axis=1)
        return Features({"num": torch.tensor(num, dtype=torch.float32),
                         "num_missing": torch.from_numpy(isnan.astype(np.float32)),
                         "cat": torch.from_numpy(cat)}, torch.from_numpy(present))


class TabularEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, dropout: Rate = 0.1):
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


def _cells_missing(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    edited = frame.copy()
    for column in featurizer.columns:
        hit = rng.random(len(frame)) < level
        edited[column] = edited[column].astype(object).mask(hit, None)
    return featurizer.transform(edited)


def _row_swap(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    edited = frame.copy()
    for column in featurizer.columns:
        rows = np.flatnonzero(rng.random(len(frame)) < level)  # these cells take another chosen row's value
        values = edited[column].to_numpy(copy=True)
        values[rows] = values[rng.permutation(rows)]
        edited[column] = values
    return featurizer.transform(edited)


TABULAR = register_kind(Kind(
    "tabular", TabularFeaturizer, TabularEncoder, grouped=True,
    corruptions=(Corruption("cells-missing", "every cell empty: the modality is absent", _cells_missing),
                 Corruption("row-swap", "every column's values permuted across rows, independently per column",
                            _row_swap))))
