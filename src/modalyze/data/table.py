"""Tables: read a spec's source files, resolve column patterns, validate, and split deterministically."""

from __future__ import annotations

import csv
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from modalyze.data.shards import expand_braces, read_shard
from modalyze.data.stored import arrow_frame, is_saved_dataset, read_saved_dataset
from modalyze.errors import ModalyzeError, reading
from modalyze.spec import Spec

SPLIT_COLUMN = "__split__"
SPLITS = ("train", "val", "test")
EMPTY_SLICE = "(empty)"  # the slice of rows whose slice cell is empty


@dataclass
class Table:
    """Validated rows with a split column, and each modality's resolved column names."""

    frame: pd.DataFrame
    columns: dict[str, list[str]]  # modality name -> concrete column names
    base_dir: Path

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame[SPLIT_COLUMN] == split]


Pick = Callable[[list[str]], list[str]]  # a file's column names -> the ones to read


def read_source(path: str | Path, pick: Pick | None = None) -> pd.DataFrame:
    """Read a .csv, .parquet or .jsonl file, a folder of parquet files (a pyarrow dataset, hive
    partitions included), a folder saved by Hugging Face ``datasets`` (:mod:`modalyze.data.stored`:
    bytes cells become stored files, class labels their names) or a glob of files of one format
    (``parts/*.csv``) with explicit rules; a
    one-line error naming the file for anything else (missing, unreadable, empty, duplicate or
    reserved column names). ``pick`` chooses the columns to read from the names in the file:
    parquet and CSV read only those (a wide table costs the columns a spec names).

    Rules: every cell keeps its written value — a CSV is read as text (``01`` stays ``01``; the
    featurizers parse numbers where a modality needs them), only an empty cell is missing; parquet
    and JSON cells keep their stored types. Two columns with one name are an error, never renamed.
    """
    path = Path(path)
    if any(ch in path.name for ch in "*?[{"):
        return _read_glob(path, pick)
    if is_saved_dataset(path):
        reader, what = _read_saved, "saved Hugging Face dataset"
    elif path.is_dir():
        reader, what = _read_parquet_dataset, "parquet dataset"
    elif not path.exists():
        raise ModalyzeError(f"{path}: source file does not exist")
    elif path.suffix.lower() not in _READERS:
        raise ModalyzeError(f"{path}: unsupported source format '{path.suffix}' (use .csv, .parquet, .jsonl, or .tar WebDataset shards)")
    else:
        reader, what = _READERS[path.suffix.lower()], f"{path.suffix[1:].lower()} file"
    with reading(path, what):
        names, frame = reader(path, pick)
    duplicates = sorted({str(n) for n in names if names.count(n) > 1})
    if duplicates:
        raise ModalyzeError(f"{path}: column '{duplicates[0]}' appears more than once; give each column its own name")
    if len(frame) == 0:
        raise ModalyzeError(f"{path}: source has no rows")
    return frame


def _read_glob(pattern: Path, pick: Pick | None) -> pd.DataFrame:
    """Files matching a glob or a brace pattern (``{000..009}``, ``{a,b}``), read in name order and
    stacked; every file must have the same columns."""
    names = [Path(p).name for p in expand_braces(pattern.name)]
    files = sorted({f for name in names for f in pattern.parent.glob(name)})
    if not files:
        raise ModalyzeError(f"{pattern}: no source file matches")
    parts = [read_source(f, pick) for f in files]
    for file, part in zip(files[1:], parts[1:]):
        if list(part.columns) != list(parts[0].columns):
            raise ModalyzeError(f"{file}: its columns differ from {files[0].name}'s; every file of "
                                f"{pattern.name} must have the same columns")
    return pd.concat(parts, ignore_index=True)


def _picked(names: list[str], pick: Pick | None) -> list[str] | None:
    """The columns to read (None: all); only when the names are unique (duplicates are reported)."""
    return pick(names) if pick is not None and len(set(names)) == len(names) else None


def _read_csv(path: Path, pick: Pick | None) -> tuple[list[str], pd.DataFrame]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if not header:
        return [], pd.DataFrame()
    # read with commas, a file separated otherwise is one column of joined cells
    separator = next((d for d in ";\t|" if d in header[0]), None) if len(header) == 1 else None
    if separator:
        raise ModalyzeError(f"{path}: the header is one column, {header[0][:80]!r}: the file looks separated by "
                            f"{separator!r}, and a .csv is read comma-separated (save it with commas, or as parquet)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig",
                        usecols=_picked(header, pick))
    return header, frame


def _read_tar(path: Path, pick: Pick | None) -> tuple[list[str], pd.DataFrame]:
    names, frame = read_shard(path)
    chosen = _picked(names, pick)
    return names, frame if chosen is None else frame[chosen]


def _read_parquet(path: Path, pick: Pick | None) -> tuple[list[str], pd.DataFrame]:
    names = list(pq.read_schema(path).names)
    if len(set(names)) < len(names):
        return names, pd.DataFrame()
    return names, arrow_frame(pq.read_table(path, columns=_picked(names, pick)))


def _read_saved(path: Path, pick: Pick | None) -> tuple[list[str], pd.DataFrame]:
    frame = read_saved_dataset(path)
    names = [str(c) for c in frame.columns]
    chosen = _picked(names, pick)
    return names, frame if chosen is None else frame[chosen]


def _read_parquet_dataset(path: Path, pick: Pick | None) -> tuple[list[str], pd.DataFrame]:
    """Every .parquet file under a folder (hive partitions ``key=value/`` become columns) as one
    table, reading only the picked columns."""
    files = sorted(str(f) for f in path.rglob("*.parquet"))
    if not files:
        raise ModalyzeError(f"{path}: source folder holds no .parquet file")
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(path))
    names = list(dataset.schema.names)
    if len(set(names)) < len(names):
        return names, pd.DataFrame()
    return names, arrow_frame(dataset.to_table(columns=_picked(names, pick)))


def _read_jsonl(path: Path, pick: Pick | None) -> tuple[list[str], pd.DataFrame]:
    """One JSON object per line; a repeated key inside an object is an error naming the line."""
    records, names = [], {}
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, object_pairs_hook=_unique_keys)
            except ValueError as exc:
                raise ModalyzeError(f"{path}: line {number}: {str(exc).splitlines()[0]}") from None
            if not isinstance(record, dict):
                raise ModalyzeError(f"{path}: line {number}: expected a JSON object (one row), not {type(record).__name__}")
            names.update(dict.fromkeys(record))
            records.append(record)
    columns = _picked(list(names), pick) or list(names)
    return list(names), pd.DataFrame.from_records(records, columns=columns)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated is not None:
        raise ValueError(f"key '{repeated}' appears more than once in one row")
    return dict(pairs)


_READERS = {".csv": _read_csv, ".parquet": _read_parquet, ".jsonl": _read_jsonl, ".tar": _read_tar}


def slice_labels(values: pd.Series) -> np.ndarray:
    """A slice column's values as text labels; empty cells form their own slice, ``(empty)``."""
    empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    return np.where(empty, EMPTY_SLICE, values.astype(str).to_numpy()).astype(object)


def resolve_columns(spec: Spec, available: list[str], origin: str) -> dict[str, list[str]]:
    """Expand each modality's column names and glob patterns against the table's columns."""
    resolved: dict[str, list[str]] = {}
    for name, modality in spec.modalities.items():
        cols: list[str] = []
        for pattern in modality.columns:
            hits = match_columns(pattern, available)
            if not hits:
                raise ModalyzeError(f"{origin}: modality '{name}' names column '{pattern}', which does not exist "
                                    f"(columns: {_preview(available)})")
            cols += [c for c in hits if c not in cols]
        if spec.target in cols:
            raise ModalyzeError(f"{origin}: modality '{name}' reads the target column '{spec.target}' "
                                "(the label would leak into the input); take it out of the modality")
        resolved[name] = cols
    for column in [spec.target, *spec.slices]:
        if column not in available:
            raise ModalyzeError(f"{origin}: column '{column}' does not exist (columns: {_preview(available)})")
    return resolved


def load_table(spec: Spec, frame: pd.DataFrame | None = None, origin: str | None = None,
               extra_columns: tuple[str, ...] = ()) -> Table:
    """Load (or take) the rows of a spec, validate them and assign train/val/test deterministically;
    ``origin`` names given rows in messages (default: the spec's name). A source is read with the
    columns the spec names and ``extra_columns`` (those present) only."""
    base = Path(spec.base_dir)
    origin = origin or spec.name
    if frame is None:
        frame, origin = _read_sources(spec, base, extra_columns)
    frame = frame.reset_index(drop=True)
    repeated = frame.columns[frame.columns.duplicated()]
    if len(repeated):
        raise ModalyzeError(f"{origin}: column '{repeated[0]}' appears more than once; give each column its own name")
    columns = resolve_columns(spec, [str(c) for c in frame.columns], origin)
    target = frame[spec.target]
    check_labels(target, f"{origin}: target column '{spec.target}'")
    if target.nunique() < 2:
        raise ModalyzeError(f"{origin}: target column '{spec.target}' has only one class ({target.iloc[0]!r}); "
                            "classification needs at least two")
    if SPLIT_COLUMN not in frame.columns:
        frame[SPLIT_COLUMN] = assign_splits(frame, spec, origin)
    return Table(frame=frame, columns=columns, base_dir=base)


def check_classes(spec: Spec, frame: pd.DataFrame) -> None:
    """The target as classes to learn: fewer distinct values than half the rows. A target with a value
    for almost every row (a measurement, an identifier) leaves most classes a single row to learn from:
    one line, before any expert trains."""
    distinct, rows = int(frame[spec.target].nunique()), len(frame)
    if distinct > rows / 2:
        raise ModalyzeError(f"{spec.name}: target column '{spec.target}' has {distinct:,} distinct values in "
                            f"{rows:,} rows: too few rows per class to learn from (modalyze predicts classes; "
                            "a measured quantity needs binning into classes first, e.g. by quantiles)")


def check_labels(values: pd.Series, where: str) -> None:
    """Class labels as written: no empty cell, one kind of value (text, numbers or booleans), finite."""
    empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise ModalyzeError(f"{where}: row {int(np.flatnonzero(empty)[0])}: the label is empty")
    kinds = np.array([_label_kind(v) for v in values.tolist()], dtype=object)
    if (kinds == "other").any():
        row = int(np.flatnonzero(kinds == "other")[0])
        raise ModalyzeError(f"{where}: row {row}: a label must be text, a number or a boolean, not "
                            f"{type(values.iloc[row]).__name__}")
    if len(set(kinds)) > 1:
        first = kinds[0]
        row = int(np.flatnonzero(kinds != first)[0])
        raise ModalyzeError(f"{where}: mixes {first} labels (row 0: {values.iloc[0]!r}) with {kinds[row]} labels "
                            f"(row {row}: {values.iloc[row]!r}); write every label the same way")
    if kinds[0] == "number":
        infinite = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise ModalyzeError(f"{where}: row {row}: {values.iloc[row]!r} is not a finite label")


def _label_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    return "text" if isinstance(value, str) else "other"


def assign_splits(frame: pd.DataFrame, spec: Spec, origin: str) -> np.ndarray:
    """Split names per row: from ``split.column`` or stratified fractions with ``split.seed``."""
    if spec.split.column is not None:
        if spec.split.column not in frame.columns:
            raise ModalyzeError(f"{origin}: split column '{spec.split.column}' does not exist")
        column = frame[spec.split.column]
        values = np.where(column.isna().to_numpy(), "", column.astype(str).str.lower().to_numpy()).astype(object)
        bad = ~np.isin(values, SPLITS)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            found = f"'{column.iloc[row]}'" if values[row] else "an empty cell"
            raise ModalyzeError(f"{origin}: row {row}: split column '{spec.split.column}' has "
                                f"{found} (expected train, val or test)")
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
    if fraction == 0:  # no held-out part (Classifier.fit(X, y) keeps no test split)
        return index, index[:0]
    counts = pd.Series(labels).value_counts()
    stratify = labels if counts.min() >= 2 and round(fraction * len(index)) >= len(counts) else None
    try:
        return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:  # too few rows for the fraction
        raise ModalyzeError(f"cannot split {len(index)} rows by the fraction {fraction:.3g}: "
                            f"{str(exc).splitlines()[0]}") from None


def check_user_rows(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Rows the user gives as a dataset (a source file or a DataFrame): no column may take the name
    of the split column modalyze adds."""
    if SPLIT_COLUMN in frame.columns:
        raise ModalyzeError(f"{where}: column name '{SPLIT_COLUMN}' is reserved by modalyze; rename that column")
    return frame


def _read_dataset_file(path: Path, spec: Spec, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """A spec's source: :func:`read_source` of the columns the spec names, and :func:`check_user_rows`."""
    def pick(names: list[str]) -> list[str]:  # a column the spec names but the file lacks is reported later
        check_user_rows(pd.DataFrame(columns=names), str(path))
        wanted = {c for m in spec.modalities.values() for pattern in m.columns for c in match_columns(pattern, names)}
        wanted |= {spec.target, *spec.slices, *([spec.split.column] if spec.split.column else []), *extra}
        return [n for n in names if n in wanted]
    return check_user_rows(read_source(path, pick), str(path))


def _read_sources(spec: Spec, base: Path, extra: tuple[str, ...] = ()) -> tuple[pd.DataFrame, str]:
    if isinstance(spec.source, dict):
        parts = []
        for split, rel in spec.source.items():
            part = _read_dataset_file(base / rel, spec, extra)
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
    return _read_dataset_file(path, spec, extra), str(path)


def match_columns(pattern: str, available: list[str]) -> list[str]:
    """The columns a name or a glob pattern (``a_*``) names, in table order; empty when none."""
    if any(ch in pattern for ch in "*?["):
        return [c for c in available if fnmatch.fnmatchcase(c, pattern)]
    return [pattern] if pattern in available else []


def _preview(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")
