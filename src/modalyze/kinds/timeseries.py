"""The time-series kind: numeric sequences (one column of arrays, or one column per step) with a step
mask, a strided 1-D CNN or a GRU, and dropped steps as its corruption."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from modalyze.data.corruptions import shuffled_places
from modalyze.data.featurizers import Featurizer, Features, numeric_cells
from modalyze.encoders.base import EncoderOutput, downsample_mask, pooled_sequence
from modalyze.errors import ModalyzeError
from modalyze.kind import Corruption, Kind, register_kind
from modalyze.options import Count, Rate


class TimeSeriesFeaturizer(Featurizer):
    """Numeric sequences -> values [N, T, C] standardised per channel, and a step mask [N, T].

    One column of arrays (a list, a NumPy array, or text such as "0.1 0.4 0.2" or "[[1, 2], [3, 4]]"
    for C channels), or one column per step (trailing empty cells make a row shorter). An empty
    step inside a sequence is masked; a row with no steps is missing. T is the longest sequence of
    the rows transformed together: nothing is truncated.
    """

    def fit(self, frame: pd.DataFrame) -> TimeSeriesFeaturizer:
        sequences = [s for s in self._sequences(frame) if s is not None]
        channels = {s.shape[1] for s in sequences}
        if len(channels) > 1:
            raise ModalyzeError(f"column '{self.columns[0]}': sequences have different channel counts {sorted(channels)}")
        steps = np.concatenate(sequences) if sequences else np.zeros((0, 1))
        self.channels_ = int(steps.shape[1]) if sequences else 1
        self.mean_ = np.nan_to_num(np.nanmean(steps, axis=0)).tolist() if len(steps) else [0.0] * self.channels_
        std = np.nan_to_num(np.nanstd(steps, axis=0)) if len(steps) else np.ones(self.channels_)
        self.std_ = np.where(std > 1e-8, std, 1.0).tolist()
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"channels": self.channels_}

    def _sequences(self, frame: pd.DataFrame) -> list[np.ndarray | None]:
        """Per row a float array [T, C] (NaN = empty step), or None when the row has no steps."""
        if len(self.columns) > 1:
            values = numeric_cells(frame, self.columns)  # [N, T]
            out = []
            for row in values:
                filled = np.flatnonzero(~np.isnan(row))
                out.append(row[: filled[-1] + 1, None] if len(filled) else None)
            return out
        column = self.columns[0]
        return [_parse_sequence(v, frame.index[i], column) for i, v in enumerate(frame[column].tolist())]

    def transform(self, frame: pd.DataFrame) -> Features:
        sequences = self._sequences(frame)
        length = max([len(s) for s in sequences if s is not None] or [1])
        values = np.zeros((len(frame), length, self.channels_), dtype=np.float32)
        steps = np.zeros((len(frame), length), dtype=bool)
        for i, seq in enumerate(sequences):
            if seq is None:
                continue
            if seq.shape[1] != self.channels_:
                raise ModalyzeError(f"row {frame.index[i]}, column '{self.columns[0]}': a sequence with "
                                    f"{seq.shape[1]} channels (the training rows have {self.channels_})")
            filled = ~np.isnan(seq).any(axis=1)
            values[i, : len(seq)] = np.where(filled[:, None], (seq - self.mean_) / self.std_, 0.0)
            steps[i, : len(seq)] = filled
        return Features({"values": torch.from_numpy(values), "steps": torch.from_numpy(steps)},
                        torch.from_numpy(steps.any(axis=1)))


_SEPARATORS = re.compile(r"[\s,;]+")


def _parse_sequence(value: Any, row: Any, column: str) -> np.ndarray | None:
    """A cell -> float [T, C], or None for an empty cell; a clear error for anything else."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = json.loads(text) if text.startswith("[") else [float(v) for v in _SEPARATORS.split(text) if v]
        except ValueError:
            raise ModalyzeError(f"row {row}, column '{column}': {value[:40]!r} is not a numeric sequence") from None
    elif value is None or (np.isscalar(value) and pd.isna(value)):
        return None
    try:
        seq = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModalyzeError(f"row {row}, column '{column}': not a numeric sequence") from None
    if seq.ndim == 0 or seq.ndim > 2:
        raise ModalyzeError(f"row {row}, column '{column}': a sequence must be 1-D (steps) or 2-D (steps × channels)")
    seq = seq.reshape(len(seq), -1)
    if np.isinf(seq).any():
        raise ModalyzeError(f"row {row}, column '{column}': the sequence holds an infinite value "
                            "(leave a step empty to mark it missing)")
    return seq if len(seq) and not np.isnan(seq).all() else None


class TimeSeriesEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, arch: Literal["cnn", "gru"] = "cnn", layers: Count = 1,
                 dropout: Rate = 0.1):
        super().__init__()
        if arch not in ("gru", "cnn"):
            raise ModalyzeError(f"timeseries encoder option arch={arch!r}: use 'gru' or 'cnn'")
        channels = int(info["channels"]) + 1  # + the step mask
        self.arch = arch
        if arch == "gru":
            self.net = nn.GRU(channels, dim, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        else:
            self.net = nn.Sequential(
                nn.Conv1d(channels, dim, 5, padding=2), nn.GELU(),
                nn.Conv1d(dim, dim, 5, stride=2, padding=2), nn.GELU(),
                nn.Conv1d(dim, dim, 5, stride=2, padding=2), nn.GELU(),
            )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        steps = x["steps"]  # bool [B, T]
        inputs = torch.cat([x["values"], steps.unsqueeze(-1).float()], -1)  # [B, T, C + 1]
        if self.arch == "gru":
            tokens, _ = self.net(inputs)  # [B, T, D]; causal, so trailing padding cannot reach real steps
            mask = steps
        else:
            tokens = self.net(inputs.transpose(1, 2)).transpose(1, 2)  # [B, T', D], T' ≈ T / 4
            mask = downsample_mask(steps, tokens.shape[1])  # [B, T']
        return pooled_sequence(self.norm(tokens), mask)


def _dropped_steps(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    feats = featurizer.transform(frame)
    steps = feats.tensors["steps"] & torch.from_numpy(rng.random(tuple(feats.tensors["steps"].shape)) >= level)
    values = feats.tensors["values"] * steps.unsqueeze(-1)  # [N, T, C], dropped steps read as padding
    return Features({"values": values, "steps": steps}, steps.any(1), feats.index)


def _shuffled_steps(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    """A ``level`` share of each row's present steps trade places (level 1: the order is gone, every
    value kept): the temporal-order condition."""
    feats = featurizer.transform(frame)
    values, steps = feats.tensors["values"].clone(), feats.tensors["steps"]  # [N, T, C], [N, T]
    for row in range(len(values)):
        present = torch.nonzero(steps[row]).flatten().numpy()
        values[row, present] = values[row, present[shuffled_places(len(present), level, rng)]]
    return Features({"values": values, "steps": steps}, feats.present, feats.index)


def _reordered_series(cells: pd.DataFrame, base_dir: Path, out: Path, seed: int) -> pd.DataFrame:
    """Probe's order condition: each row's steps in a random order (one column per step: the row's
    filled cells trade places; one column of sequences: each rewritten as JSON text)."""
    rng = np.random.default_rng(seed)
    if cells.shape[1] > 1:
        values = cells.to_numpy(dtype=object).copy()  # [N, T]
        for row in values:
            filled = np.flatnonzero(~pd.isna(row))
            row[filled] = row[filled[shuffled_places(len(filled), 1.0, rng)]]
        return pd.DataFrame(values, index=cells.index, columns=cells.columns)
    column = cells.columns[0]
    out_cells = []
    for row, value in cells[column].items():
        seq = _parse_sequence(value, row, column)  # [T, C] or None
        if seq is None:
            out_cells.append(value)
            continue
        seq = seq[shuffled_places(len(seq), 1.0, rng)]
        out_cells.append(json.dumps(seq[:, 0].tolist() if seq.shape[1] == 1 else seq.tolist()))
    return pd.DataFrame({column: out_cells}, index=cells.index)


def _sequences(cells: pd.Series) -> bool:
    """List or array cells (a Python list, a NumPy array, or text starting with ``[``)."""
    return all(isinstance(v, (list, tuple, np.ndarray)) for v in cells.head(50)) or \
        cells.astype(str).str.strip().str.startswith("[").all()


TIMESERIES = register_kind(Kind(
    "timeseries", TimeSeriesFeaturizer, TimeSeriesEncoder, recognise=_sequences, order="step-order",
    reorder=_reordered_series,
    corruptions=(Corruption("dropped-steps", "every step dropped: the modality is absent", _dropped_steps),
                 Corruption("step-order", "every step in a random place: the series' order is gone", _shuffled_steps))))
