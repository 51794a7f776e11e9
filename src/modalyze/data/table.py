"""Tables: read a spec's source files, resolve column patterns, validate, and split deterministically."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from modalyze.errors import ModalyzeError
from modalyze.spec import Spec

SPLIT_COLUMN = "__split__"
SPLITS = ("train", "val", "test")
_READERS = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".jsonl": lambda p: pd.read_json(p, lines=True),
}


@dataclass
class Table:
    """Validated rows with a split column, and each modality's resolved column names."""

    frame: pd.DataFrame
    columns: dict[str, list[str]]  # modality name -> concrete column names
    base_dir: Path

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame[SPLIT_COLUMN] == split]


def read_source(path: str | Path) -> pd.DataFrame:
    """Read one .csv, .parquet or .jsonl file; a clear error if it is missing, unreadable or empty."""
    path = Path(path)
    if not path.exists():
        raise ModalyzeError(f"{path}: source file does not exist")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ModalyzeError(f"{path}: unsupported source format '{path.suffix}' (use .csv, .parquet or .jsonl)")
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except Exception as exc:  # the readers raise many types; all mean "not a valid file"
        raise ModalyzeError(f"{path}: cannot read as {path.suffix[1:]}: {str(exc).splitlines()[0]}") from None
    if len(frame) == 0:
        raise ModalyzeError(f"{path}: source has no rows")
    return frame


def resolve_columns(spec: Spec, available: list[str], origin: str) -> dict[str, list[str]]:
    """Expand each modality's column names and glob patterns against the table's columns."""
    resolved: dict[str, list[str]] = {}
    for name, modality in spec.modalities.items():
        cols: list[str] = []
        for pattern in modality.columns:
            hits = [c for c in available if fnmatch.fnmatchcase(c, pattern)] if _is_glob(pattern) else (
                [pattern] if pattern in available else [])
            if not hits:
                raise ModalyzeError(f"{origin}: modality '{name}' names column '{pattern}', which does not exist "
                                    f"(columns: {_preview(available)})")
            cols += [c for c in hits if c not in cols]
        resolved[name] = cols
    for column in [spec.target, *spec.slices]:
        if column not in available:
            raise ModalyzeError(f"{origin}: column '{column}' does not exist (columns: {_preview(available)})")
    return resolved


def load_table(spec: Spec, frame: pd.DataFrame | None = None) -> Table:
    """Load (or take) the rows of a spec, validate them and assign train/val/test deterministically."""
    base = Path(spec.base_dir)
    origin = spec.name
    if frame is None:
        frame, origin = _read_sources(spec, base)
    frame = frame.reset_index(drop=True)
    columns = resolve_columns(spec, list(frame.columns), origin)
    target = frame[spec.target]
    if target.isna().any():
        row = int(np.flatnonzero(target.isna().to_numpy())[0])
        raise ModalyzeError(f"{origin}: row {row}: target column '{spec.target}' is empty")
    if target.nunique() < 2:
        raise ModalyzeError(f"{origin}: target column '{spec.target}' has only one class ({target.iloc[0]!r}); "
                            "classification needs at least two")
    if SPLIT_COLUMN not in frame.columns:
        frame[SPLIT_COLUMN] = assign_splits(frame, spec, origin)
    return Table(frame=frame, columns=columns, base_dir=base)


def assign_splits(frame: pd.DataFrame, spec: Spec, origin: str) -> np.ndarray:
    """Split names per row: from ``split.column`` or stratified fractions with ``split.seed``."""
    if spec.split.column is not None:
        if spec.split.column not in frame.columns:
            raise ModalyzeError(f"{origin}: split column '{spec.split.column}' does not exist")
        values = frame[spec.split.column].astype(str).str.lower().to_numpy()
        bad = ~np.isin(values, SPLITS)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ModalyzeError(f"{origin}: row {row}: split column '{spec.split.column}' has "
                                f"'{values[row]}' (expected train, val or test)")
        return values
    split = spec.split
    labels = frame[spec.target].astype(str).to_numpy()
    index = np.arange(len(frame))
    rest, test = stratified_split(index, labels, split.test, split.seed)
    train, val = stratified_split(rest, labels[rest], split.val / (1 - split.test), split.seed + 1)
    out = np.empty(len(frame), dtype=object)
    out[train], out[val], out[test] = "train", "val", "test"
    return out


def stratified_split(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    counts = pd.Series(labels).value_counts()
    stratify = labels if counts.min() >= 2 and round(fraction * len(index)) >= len(counts) else None
    return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)


def _read_sources(spec: Spec, base: Path) -> tuple[pd.DataFrame, str]:
    if isinstance(spec.source, dict):
        parts = []
        for split, rel in spec.source.items():
            part = read_source(base / rel)
            part[SPLIT_COLUMN] = split
            parts.append(part)
        if "val" not in spec.source:  # carve val from train, stratified
            frame = pd.concat(parts, ignore_index=True)
            train = np.flatnonzero(frame[SPLIT_COLUMN].to_numpy() == "train")
            _, val = stratified_split(train, frame[spec.target].astype(str).to_numpy()[train], spec.split.val, spec.split.seed)
            frame.loc[val, SPLIT_COLUMN] = "val"
            return frame, str(base / next(iter(spec.source.values())))
        return pd.concat(parts, ignore_index=True), str(base / next(iter(spec.source.values())))
    if spec.source is None:
        raise ModalyzeError(f"{spec.name}: spec has no source")
    path = base / spec.source
    return read_source(path), str(path)


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _preview(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")
