"""Data: sources, splits, featurizers, batches and built-in datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modalyze.data.builtin import is_builtin, list_datasets, load_builtin
from modalyze.data.infer import TABLE_SUFFIXES, infer_spec
from modalyze.data.stored import frame_of_datasets, is_datasets_object, is_saved_dataset
from modalyze.data.table import Table, check_user_rows, load_table, read_source
from modalyze.errors import ModalyzeError
from modalyze.spec import Spec, load_spec

__all__ = ["load_dataset", "list_datasets", "table_spec", "Table"]


def is_table(source: Any) -> bool:
    """A path to a .csv, .parquet, .jsonl or .tar file (or a pattern of them) or a saved Hugging Face dataset (as opposed to a spec
    or a built-in name)."""
    return isinstance(source, (str, Path)) and (Path(str(source)).suffix.lower() in TABLE_SUFFIXES
                                                 or is_saved_dataset(source))


def table_spec(source: str | Path | pd.DataFrame, target: str | None, modalities: list[str] | None = None,
               **declared: Any) -> tuple[Spec, dict[str, str]]:
    """The inferred spec of a table file or DataFrame (see :mod:`modalyze.data.infer`; ``declared``:
    its ``slices`` and ``split``), and the columns left out with the reason."""
    spec, left_out, _, _ = _infer_table(source, target, modalities, **declared)
    return spec, left_out


def _infer_table(source: str | Path | pd.DataFrame, target: str | None, modalities: list[str] | None,
                 **declared: Any) -> tuple[Spec, dict[str, str], pd.DataFrame, str]:
    """The inferred spec, the left-out columns, the rows and where they came from (for messages)."""
    if target is None:
        where = "a DataFrame" if isinstance(source, pd.DataFrame) else str(source)
        raise ModalyzeError(f"{where}: a table needs the column to predict: --target COLUMN "
                            "(target=... in Python), or a spec .yaml")
    if is_datasets_object(source):
        source = frame_of_datasets(source)
    if isinstance(source, pd.DataFrame):
        frame = check_user_rows(source, "the DataFrame")
        return *infer_spec(frame, target, name="dataframe", overrides=modalities, **declared), frame, "the DataFrame"
    if not is_table(source):
        raise ModalyzeError(f"option target applies to tables (.csv, .parquet, .jsonl or a DataFrame), not {source!r}")
    path = Path(source)
    frame = check_user_rows(read_source(path), str(path))
    spec, left_out = infer_spec(frame, target, name=path.stem, base_dir=path.resolve().parent, source=path.name,
                                overrides=modalities, **declared)
    return spec, left_out, frame, str(path)


def load_dataset(source: str | Path | Spec | pd.DataFrame, seed: int = 0, target: str | None = None,
                 modalities: list[str] | None = None, extra_columns: tuple[str, ...] = (),
                 **params: Any) -> tuple[Spec, Table]:
    """A built-in name, a spec file, a :class:`Spec`, or a table (a .csv/.parquet/.jsonl file, a saved
    Hugging Face dataset, a DataFrame or a ``datasets`` object) with its ``target`` column -> the spec
    and its validated, split table.

    For a table the spec is inferred (:mod:`modalyze.data.infer`); ``modalities`` overrides guesses
    (``NAME=COL1,COL2:KIND``). A spec's source is read with the columns it names and ``extra_columns``.
    """
    if target is not None or isinstance(source, pd.DataFrame) or is_datasets_object(source) or is_table(source):
        spec, _, frame, origin = _infer_table(source, target, modalities)
        return spec, load_table(spec, frame, origin)  # the rows read once, for the inference and the table
    if modalities:
        raise ModalyzeError("option modality applies to tables (.csv, .parquet, .jsonl or a DataFrame) with --target")
    if isinstance(source, Spec):
        if source.builtin:  # the built-in's rows, read through this spec (it may regroup the columns)
            builtin_params = {k: v for k, v in source.builtin["params"].items() if k != "seed"}
            _, frame = load_builtin(source.builtin["name"], seed=source.builtin["params"].get("seed", seed),
                                    **builtin_params)
            return source, load_table(source, frame)
        return source, load_table(source, extra_columns=extra_columns)
    text = str(source)
    if is_builtin(text):
        spec, frame = load_builtin(text, seed=seed, **params)
        return spec, load_table(spec, frame)
    if params:
        raise ModalyzeError(f"option {sorted(params)[0]!r} applies only to built-in datasets")
    if text.endswith((".yaml", ".yml")) or Path(text).exists():
        spec = load_spec(text)
        return spec, load_table(spec, extra_columns=extra_columns)
    return load_builtin(text)  # raises the 'unknown dataset' error listing the built-ins
