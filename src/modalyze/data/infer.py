"""Spec inference: a table and a target column in, a spec out (the user can write it, read it, edit it).

Each column gets a kind by these rules, in order (``-`` = left out, and said so):

1. the target, and a column named ``split`` holding only train/val/test (it becomes the split);
2. ``-`` a column with one value (constant) or empty everywhere;
3. a kind that claims the column (:meth:`modalyze.kind.Kind.claims`, in registration order):
   ``timeseries`` list or array cells (a Python list, a NumPy array, or text starting with ``[``);
   ``image`` / ``audio`` text cells that are file paths with an image (.png .jpg .jpeg .bmp .gif
   .tif .tiff .webp) or audio (.wav .flac .ogg) extension, at least one of which exists;
5. ``tabular`` numeric: every non-empty cell is a number; ``-`` when the numbers are 0, 1, 2, ...
   in order or all distinct integers (a row identifier);
6. ``text``: strings of three words or more on average, or mostly distinct strings longer than
   20 characters; ``-`` short strings that are all distinct (an identifier);
7. ``tabular`` categorical: every other column (booleans, short repeated strings).

Grouping: all tabular columns form one modality ``tabular``; all text columns one modality ``text``
(joined with a separator): the kinds declared ``grouped``; each column of another kind (image,
audio, time series) is a modality named after the column. ``--modality NAME=COL1,COL2:KIND`` overrides a guess (column names or glob patterns such as ``a_*``):
those columns leave the modality they were guessed into, and NAME reads them as KIND.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from modalyze.data.table import match_columns
from modalyze.errors import ModalyzeError
from modalyze.options import suggest
from modalyze.kind import get_kind, kinds
from modalyze.spec import ModalitySpec, Spec, check_name, parse_split

TABLE_SUFFIXES = (".csv", ".parquet", ".jsonl", ".tar")  # .tar: WebDataset shards
_SPLITS = {"train", "val", "test"}


def infer_spec(frame: pd.DataFrame, target: str, name: str = "table", base_dir: str | Path = ".",
               source: str | None = None, overrides: list[str] | None = None, slices: list[str] | None = None,
               split: dict[str, Any] | None = None) -> tuple[Spec, dict[str, str]]:
    """The spec of a table by the module's rules; also returns ``{column: why it was left out}``.
    ``slices`` and ``split`` (``{val, test, seed}`` or ``{column}``, as a spec's ``split:``) are the
    command line's --slices, --val, --test, --split-seed and --split-column."""
    columns, split = [str(c) for c in frame.columns], split or {}
    named = [("target", target), *(("slices", c) for c in slices or []), ("split_column", split.get("column"))]
    for option, value in named:
        if value is not None and value not in frame.columns:
            raise ModalyzeError(f"{name}: option {option}: column '{value}' does not exist{suggest(str(value), columns)} "
                                f"(columns: {', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''})")
    base = Path(base_dir)
    guessed: dict[str, str] = {}
    left_out: dict[str, str] = {}
    detected = None
    for column in frame.columns:
        if column == target:
            continue
        if column == split.get("column"):
            continue
        if str(column).lower() == "split" and _is_split(frame[column]) and not split:
            detected = str(column)
            continue
        kind = column_kind(frame[column], base)
        if kind.startswith("-"):
            left_out[str(column)] = kind[1:].strip()
        else:
            guessed[str(column)] = kind
    modalities = _group(guessed)
    modalities = _apply_overrides(modalities, overrides or [], [str(c) for c in frame.columns if c != target], name)
    if not modalities:
        raise ModalyzeError(f"{name}: no column besides the target could be used as an input "
                            f"({'; '.join(f'{c}: {why}' for c, why in left_out.items()) or 'no other columns'})")
    chosen = split if split else {"column": detected} if detected else {}
    spec = Spec(name=name, target=target, modalities=modalities, source=source, base_dir=str(base),
                split=parse_split(chosen, name), slices=list(slices or []))
    return spec, left_out


def column_kind(values: pd.Series, base_dir: Path) -> str:
    """The kind of one column by the rules in the module docstring; ``"- reason"`` to leave it out."""
    filled = values[~values.isna().to_numpy()]
    filled = filled[filled.astype(str).str.strip() != ""]
    if filled.empty:
        return "- empty in every row"
    as_text = filled.astype(str).str.strip()
    if as_text.nunique() == 1:
        return "- the same value in every row"
    claimed = next((k for k in kinds() if get_kind(k).claims(filled, base_dir)), None)
    if claimed:
        return claimed
    if pd.api.types.is_bool_dtype(filled) or as_text.str.lower().isin(["true", "false"]).all():
        return "tabular"
    numbers = pd.to_numeric(as_text, errors="coerce")
    if numbers.notna().all():
        integers = bool((numbers == numbers.round()).all())
        if integers and numbers.is_unique and len(filled) == len(values) and len(values) > 20:
            return "- a distinct integer in every row (an identifier)"
        return "tabular"
    words = as_text.str.split().str.len()
    distinct = as_text.nunique() / len(as_text)
    if words.mean() >= 3 or (distinct > 0.5 and as_text.str.len().mean() > 20):
        return "text"
    if distinct == 1 and len(as_text) > 20:
        return "- a distinct short string in every row (an identifier)"
    return "tabular"


def _is_split(values: pd.Series) -> bool:
    return set(values.dropna().astype(str).str.lower()) <= _SPLITS and len(values.dropna()) == len(values)


def _group(guessed: dict[str, str]) -> dict[str, ModalitySpec]:
    """The columns of a grouped kind (tabular, text) -> one modality named after the kind; every other
    column its own modality."""
    out: dict[str, ModalitySpec] = {}
    for shared in (k for k in kinds() if get_kind(k).grouped):
        columns = [c for c, k in guessed.items() if k == shared]
        if columns:
            out[shared] = ModalitySpec(shared, columns)
    for column, kind in guessed.items():
        if not get_kind(kind).grouped:
            out[_unique(safe_name(column), out)] = ModalitySpec(kind, [column])
    return out


def safe_name(column: str) -> str:
    """A column name made into a valid modality name (other characters become '_')."""
    name = re.sub(r"[^\w-]", "_", str(column)).strip("_-")[:64] or "column"
    try:
        return check_name(name, "modality", "")
    except ModalyzeError:
        return check_name(f"m_{name}"[:64], "modality", "")


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name[:60]}_{i}", i + 1
    return candidate


def _apply_overrides(modalities: dict[str, ModalitySpec], overrides: list[str], columns: list[str],
                     origin: str) -> dict[str, ModalitySpec]:
    for text in overrides:
        name, sep, rest = text.partition("=")
        cols, colon, kind = rest.rpartition(":")
        if not sep or not colon or not cols or not name:
            raise ModalyzeError(f"option modality {text!r}: expected NAME=COL1,COL2:KIND")
        if kind not in kinds():
            raise ModalyzeError(f"option modality {text!r}: unknown kind '{kind}'{suggest(kind, kinds())} "
                                f"(one of {', '.join(kinds())})")
        chosen: list[str] = []
        for pattern in (c.strip() for c in cols.split(",") if c.strip()):
            hits = match_columns(pattern, columns)
            if not hits:
                raise ModalyzeError(f"{origin}: option modality {text!r}: column '{pattern}' does not exist"
                                    f"{suggest(pattern, columns)}")
            chosen += [c for c in hits if c not in chosen]
        for spec in modalities.values():
            spec.columns = [c for c in spec.columns if c not in chosen]
        modalities = {m: s for m, s in modalities.items() if s.columns and m != name}
        modalities[check_name(name, "modality", "option modality")] = ModalitySpec(kind, chosen)
    return modalities
