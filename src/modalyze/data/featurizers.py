"""Featurizers turn a modality's columns into tensors. Fitted on the train split only; state is JSON.

Contract (scikit-learn style): ``__init__`` stores options, ``fit(frame)`` learns state (attributes
ending in ``_``) and returns self, ``transform(frame)`` returns :class:`Features`. ``state()`` /
``from_state()`` round-trip through JSON so a saved model never needs pickle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from modalyze.errors import ModalyzeError
from modalyze.kind import FEATURIZERS


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

    def subset(self, rows: Any) -> Features:
        """The features of rows ``rows`` (indices [N']), in that order: a view, nothing copied or read."""
        picked = torch.as_tensor(rows, dtype=torch.long)
        return Features(self.rows, self.present[picked], picked if self.index is None else self.index[picked])

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
    """Base class; a kind (:mod:`modalyze.kind`) names its featurizer, which takes the kind's name."""

    kind: str = ""
    option_types: dict[str, Any] = {}  # the spec's ``options:`` this kind takes, with their types and ranges

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


def create_featurizer(kind: str, columns: list[str], **kwargs: Any) -> Featurizer:
    """A new featurizer of a registered kind (or of the internal ``pretrained`` featurizer)."""
    return FEATURIZERS.get(kind)(columns, **kwargs)


def empty_cells(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy(copy=True)


MISSING_NUMBERS = ("nan", "na", "n/a", "null", "none")  # written in a numeric column, these mean an empty cell


def no_number(values: pd.Series) -> np.ndarray:
    """Cells of a numeric column that hold no number: empty, or one of :data:`MISSING_NUMBERS`."""
    words = values.astype(str).str.strip().str.lower()
    return empty_cells(values) | words.isin(MISSING_NUMBERS).to_numpy()


def is_numeric_column(values: pd.Series, mostly: float = 0.5) -> bool:
    """Numeric when every non-empty cell parses as a number; a column where at least half do but not
    all is a data error (naming the row), never silently a categorical column."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    filled = ~no_number(values)
    parsed = pd.to_numeric(values, errors="coerce").notna().to_numpy() & filled
    if filled.sum() and parsed.sum() >= mostly * filled.sum():
        numeric_cells(values.to_frame(), [values.name])  # raises for the first cell that is not a number
        return True
    return False


def numeric_cells(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Float [N, len(columns)] with NaN for empty cells; a clear error for a non-numeric cell."""
    out = np.empty((len(frame), len(columns)))
    for j, column in enumerate(columns):
        absent = no_number(frame[column])
        converted = pd.to_numeric(frame[column].where(~absent), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(converted) & ~absent
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ModalyzeError(f"row {frame.index[row]}, column '{column}': {frame[column].iloc[row]!r} is not a number")
        check_finite(converted, frame.index, column)
        out[:, j] = converted
    return out


def check_finite(values: np.ndarray, index: pd.Index, column: str) -> None:
    """Infinite values are an error naming the cell (an empty cell is how to write a missing value)."""
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ModalyzeError(f"row {index[row]}, column '{column}': an infinite value is not a number modalyze "
                            "can learn from (leave the cell empty to mark it missing)")
