"""Small data: repeated stratified k-fold cross-validation instead of one held-out split.

Below ``CV_BELOW_ROWS`` labelled rows a single test split holds a handful of rows, too few for a
score or an interval to mean anything. The study then trains its experts once per fold: every row
is a test row once per repeat, and the scores are over all rows (out of fold). Each fold's training
rows give up a stratified validation part for early stopping, as the single split does.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold

from modalyze.data.table import SPLIT_COLUMN, Table, stratified_split
from modalyze.errors import ModalyzeError
from modalyze.spec import Spec

CV_BELOW_ROWS = 1000  # fewer labelled rows than this: cross-validate (unless the spec names its splits)
VAL_FRACTION = 0.15  # of each fold's training rows, for early stopping


def use_cross_validation(spec: Spec, table: Table) -> bool:
    """True for a small table whose splits modalyze chooses (a user's split column is respected)."""
    return spec.split.column is None and len(table.frame) < CV_BELOW_ROWS


def folds(spec: Spec, table: Table, repeats: int, seed: int, n_folds: int) -> Iterator[tuple[int, int, Table]]:
    """(repeat, fold, table with this fold's train/val/test split) for every fold of every repeat
    (``n_folds``: the budget's; fewer where the rarest class has fewer rows)."""
    labels = table.frame[spec.target].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    if counts.min() < 2:
        single = int((counts < 2).sum())
        raise ModalyzeError(f"{spec.name}: class {counts.idxmin()!r} of '{spec.target}' has a single row"
                            f"{f' ({single} classes have one)' if single > 1 else ''}; cross-validation "
                            "needs at least two rows per class (merge such classes or give them more rows)")
    n_folds = int(min(n_folds, counts.min()))
    splitter = RepeatedStratifiedKFold(n_splits=n_folds, n_repeats=repeats, random_state=seed)
    for i, (rest, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        train, val = stratified_split(rest, labels[rest], VAL_FRACTION, seed + i)
        frame = table.frame.copy()
        split = np.empty(len(frame), dtype=object)
        split[train], split[val], split[test] = "train", "val", "test"
        frame[SPLIT_COLUMN] = split
        yield i // n_folds, i % n_folds, Table(frame, table.columns, table.base_dir)


def place(parts: list[tuple[np.ndarray, np.ndarray]], n_rows: int, axis: int) -> np.ndarray:
    """Out-of-fold assembly: ``(rows, values)`` per fold, rows along ``axis`` -> one array over all rows."""
    first = parts[0][1]
    shape = list(first.shape)
    shape[axis] = n_rows
    out = np.zeros(shape, dtype=first.dtype)
    for rows, values in parts:
        index = [slice(None)] * out.ndim
        index[axis] = rows
        out[tuple(index)] = values
    return out
