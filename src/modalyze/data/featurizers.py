"""Featurizers turn a modality's columns into tensors. Fitted on the train split only; state is JSON.

Contract (scikit-learn style): ``__init__`` stores options, ``fit(frame)`` learns state (attributes
ending in ``_``) and returns self, ``transform(frame)`` returns :class:`Features`. ``state()`` /
``from_state()`` round-trip through JSON so a saved model never needs pickle.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from modalyze.errors import ModalyzeError
from modalyze.options import Count, check_named
from modalyze.registry import Registry

PAD, UNK = 0, 1  # text token ids; categorical ids use 0 = missing, 1 = unseen value
SEPARATOR = " ¦ "  # joins the columns of a text modality; one token of its own
_TOKEN = re.compile(r"\w+|[^\w\s]")


class Rows(ABC):
    """A modality's decoded rows, addressed by position: held in memory, or read on demand from
    files or the decoded-file cache (:mod:`modalyze.data.decoded`) so memory does not grow with the
    row count. Rows are pickled into DataLoader workers and study workers: keep them plain data."""

    lazy = True  # reading rows does work (decoding, disk reads): DataLoader workers help

    @abstractmethod
    def __len__(self) -> int:
        """Number of positions."""

    @abstractmethod
    def take(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tensors of the positions ``pos`` (long [B]), each with leading dim B."""


class TensorRows(Rows):
    """Rows held as tensors in memory (tables, text ids, cached pretrained features)."""

    lazy = False

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def take(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[pos] for k, v in self.tensors.items()}


@dataclass
class Features:
    """A modality's rows. ``present`` [N] is False where the modality is absent; ``index`` maps a
    row to its position in ``rows`` (image files are decoded once however many rows name them)."""

    rows: Rows | dict[str, torch.Tensor]  # a dict is held as :class:`TensorRows`
    present: torch.Tensor  # bool [N]
    index: torch.Tensor | None = None  # long [N]: row -> position in rows

    def __post_init__(self) -> None:
        if isinstance(self.rows, dict):
            self.rows = TensorRows(self.rows)

    def take(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        assert isinstance(self.rows, Rows)
        return self.rows.take(rows if self.index is None else self.index[rows])

    @property
    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors held in memory (one per position), or for rows read on demand every row read
        at once (for small data and inspection)."""
        if isinstance(self.rows, TensorRows):
            return self.rows.tensors
        return self.take(torch.arange(len(self)))

    def in_memory(self) -> Features:
        """The same rows with every position read into memory (a blank last, where absent rows point)."""
        if not self.rows.lazy:
            return self
        assert isinstance(self.rows, Rows)
        if self.index is None:
            return Features(self.rows.take(torch.arange(len(self.rows))), self.present)
        return Features(self.rows.take(torch.arange(-1, len(self.rows)).roll(-1)), self.present, self.index)

    def __len__(self) -> int:
        return len(self.present)


class Featurizer(ABC):
    """Base class; subclasses register themselves for one modality kind."""

    kind: str = ""
    option_types: dict[str, Any] = {}  # the spec's ``options:`` this kind takes, with their types and ranges
    spec_kind = True  # a kind a spec may declare (False for internal featurizers)

    def __init__(self, columns: list[str], base_dir: str | Path = ".", unreadable: str = "error", **options: Any):
        self.columns = list(columns)
        self.base_dir = Path(base_dir)
        self.unreadable = unreadable
        self.options = options

    def fit(self, frame: pd.DataFrame) -> Featurizer:
        return self

    @abstractmethod
    def transform(self, frame: pd.DataFrame) -> Features:
        """Rows -> tensors; must not change fitted state."""

    def state(self) -> dict[str, Any]:
        fitted = {k: v for k, v in vars(self).items() if k.endswith("_")}
        return {"kind": self.kind, "columns": self.columns, "options": self.options, "fitted": fitted}

    @classmethod
    def from_state(cls, state: dict[str, Any], base_dir: str | Path = ".", unreadable: str = "error") -> Featurizer:
        obj = FEATURIZERS.get(state["kind"])(state["columns"], base_dir, unreadable, **state["options"])
        for key, value in state["fitted"].items():
            if not (isinstance(key, str) and key.endswith("_") and key.isidentifier()):
                raise ModalyzeError(f"fitted state key {key!r} is not a fitted attribute (name_)")
            setattr(obj, key, value)
        return obj

    @property
    def spec_info(self) -> dict[str, Any]:
        """What an encoder needs to size itself (vocabulary size, number of columns, ...)."""
        return {}


FEATURIZERS: Registry[type[Featurizer]] = Registry("modality kind")


def register_featurizer(kind: str) -> Callable[[type[Featurizer]], type[Featurizer]]:
    def wrap(cls: type[Featurizer]) -> type[Featurizer]:
        cls.kind = kind
        return FEATURIZERS.register(kind)(cls)
    return wrap


def create_featurizer(kind: str, columns: list[str], **kwargs: Any) -> Featurizer:
    return FEATURIZERS.get(kind)(columns, **kwargs)


def check_featurizer_options(kind: str, options: dict[str, Any], where: str) -> None:
    """A spec entry's ``options:`` against the kind's declared option types (one-line error naming the key)."""
    check_named(FEATURIZERS.get(kind).option_types, options, where)


def _empty(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy(copy=True)


MISSING_NUMBERS = ("nan", "na", "n/a", "null", "none")  # written in a numeric column, these mean an empty cell


def _no_number(values: pd.Series) -> np.ndarray:
    """Cells of a numeric column that hold no number: empty, or one of :data:`MISSING_NUMBERS`."""
    words = values.astype(str).str.strip().str.lower()
    return _empty(values) | words.isin(MISSING_NUMBERS).to_numpy()


@register_featurizer("text")
class TextFeaturizer(Featurizer):
    """Lower-cased word tokens -> ids [N, T] from a vocabulary fitted on train (min_freq, max_len).

    Several columns (a title and a body) are read as one text, joined by the separator token
    :data:`SEPARATOR`; a row is missing when all of its text cells are empty.
    """

    option_types = {"min_freq": Count, "max_len": Annotated[int, Field(ge=1, le=100_000)]}

    def fit(self, frame: pd.DataFrame) -> TextFeaturizer:
        counts: dict[str, int] = {}
        lengths = [1]
        for text in self._texts(frame):
            tokens = _TOKEN.findall(text.lower())
            lengths.append(len(tokens))
            for tok in tokens:
                counts[tok] = counts.get(tok, 0) + 1
        min_freq = int(self.options.get("min_freq", 1))
        self.vocab_ = ["<pad>", "<unk>"] + sorted(t for t, c in counts.items() if c >= min_freq)
        self.max_len_ = int(min(max(lengths), self.options.get("max_len", 128)))
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab_), "max_len": self.max_len_}

    def _texts(self, frame: pd.DataFrame) -> list[str]:
        texts, missing = self._joined(frame)
        return [t for t, absent in zip(texts, missing) if not absent]

    def _joined(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Per row the non-empty cells of the modality's columns joined by the separator, and which rows have none."""
        empty = np.stack([_empty(frame[c]) for c in self.columns], axis=1)  # [N, columns]
        cells = zip(*(frame[c].tolist() for c in self.columns))
        texts = [SEPARATOR.join(str(v) for v, e in zip(row, blank) if not e) for row, blank in zip(cells, empty)]
        return texts, empty.all(axis=1)

    def transform(self, frame: pd.DataFrame) -> Features:
        lookup = {t: i for i, t in enumerate(self.vocab_)}
        texts, missing = self._joined(frame)
        ids = np.zeros((len(frame), self.max_len_), dtype=np.int64)
        for row, (text, absent) in enumerate(zip(texts, missing)):
            if not absent:
                tokens = [lookup.get(t, UNK) for t in _TOKEN.findall(text.lower())][: self.max_len_]
                ids[row, : len(tokens)] = tokens
        return Features({"ids": torch.from_numpy(ids)}, torch.from_numpy(~missing))


@register_featurizer("tabular")
class TabularFeaturizer(Featurizer):
    """Numeric columns standardised (+ missing indicators), categorical columns as ids (0 = missing)."""

    def fit(self, frame: pd.DataFrame) -> TabularFeaturizer:
        numeric = [c for c in self.columns if _is_numeric_column(frame[c])]
        self.numeric_ = numeric
        self.categorical_ = [c for c in self.columns if c not in numeric]
        values = _numeric(frame, numeric)  # [N, len(numeric)], NaN where empty
        self.mean_ = np.nan_to_num(np.nanmean(values, axis=0) if len(values) else np.zeros(len(numeric))).tolist()
        std = np.nanstd(values, axis=0) if len(values) else np.ones(len(numeric))
        self.std_ = np.where(np.nan_to_num(std) > 1e-8, np.nan_to_num(std), 1.0).tolist()
        self.categories_ = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in self.categorical_}
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"n_numeric": len(self.numeric_), "cardinalities": [len(self.categories_[c]) + 2 for c in self.categorical_]}

    def transform(self, frame: pd.DataFrame) -> Features:
        values = _numeric(frame, self.numeric_)
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


@register_featurizer("vector")
class VectorFeaturizer(Featurizer):
    """Numeric columns forming one embedding per row, standardised; all-empty rows are missing."""

    def fit(self, frame: pd.DataFrame) -> VectorFeaturizer:
        values = _numeric(frame, self.columns)
        self.mean_ = np.nan_to_num(np.nanmean(values, axis=0)).tolist() if len(values) else [0.0] * len(self.columns)
        std = np.nan_to_num(np.nanstd(values, axis=0)) if len(values) else np.ones(len(self.columns))
        self.std_ = np.where(std > 1e-8, std, 1.0).tolist()
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"dim": len(self.columns)}

    def transform(self, frame: pd.DataFrame) -> Features:
        values = _numeric(frame, self.columns)
        isnan = np.isnan(values)
        partial = isnan.any(axis=1) & ~isnan.all(axis=1)
        if partial.any():
            row = int(np.flatnonzero(partial)[0])
            col = self.columns[int(np.flatnonzero(isnan[row])[0])]
            raise ModalyzeError(f"row {frame.index[row]}, column '{col}': empty cell inside a vector modality "
                                "(a vector row must be complete, or empty as a whole to mark it missing)")
        vec = np.where(isnan, 0.0, (values - np.array(self.mean_)) / np.array(self.std_))
        return Features({"x": torch.tensor(vec, dtype=torch.float32)}, torch.from_numpy(~isnan.all(axis=1)))


@register_featurizer("timeseries")
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
            values = _numeric(frame, self.columns)  # [N, T]
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


def _is_numeric_column(values: pd.Series, mostly: float = 0.5) -> bool:
    """Numeric when every non-empty cell parses as a number; a column where at least half do but not
    all is a data error (naming the row), never silently a categorical column."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    filled = ~_no_number(values)
    parsed = pd.to_numeric(values, errors="coerce").notna().to_numpy() & filled
    if filled.sum() and parsed.sum() >= mostly * filled.sum():
        _numeric(values.to_frame(), [values.name])  # raises for the first cell that is not a number
        return True
    return False


def _numeric(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Float [N, len(columns)] with NaN for empty cells; a clear error for a non-numeric cell."""
    out = np.empty((len(frame), len(columns)))
    for j, column in enumerate(columns):
        absent = _no_number(frame[column])
        converted = pd.to_numeric(frame[column].where(~absent), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(converted) & ~absent
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ModalyzeError(f"row {frame.index[row]}, column '{column}': {frame[column].iloc[row]!r} is not a number")
        _check_finite(converted, frame.index, column)
        out[:, j] = converted
    return out


def _check_finite(values: np.ndarray, index: pd.Index, column: str) -> None:
    """Infinite values are an error naming the cell (an empty cell is how to write a missing value)."""
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ModalyzeError(f"row {index[row]}, column '{column}': an infinite value is not a number modalyze "
                            "can learn from (leave the cell empty to mark it missing)")
