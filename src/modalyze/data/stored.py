"""Data as it is stored: Hugging Face ``datasets`` (a ``save_to_disk`` folder, parquet shards written by
``datasets``, a ``Dataset`` / ``DatasetDict`` object) and image or audio bytes inside a table.

Everything becomes the one table the rest of the house reads, with pyarrow alone (``datasets`` is
needed only to pass its objects):

- a ``ClassLabel`` column (its names in ``dataset_info.json`` or in the parquet file's ``huggingface``
  metadata) becomes its label names;
- a column of bytes, or of ``{bytes, path}`` structs (``Image``, ``Audio``), becomes a column of paths
  to content-addressed files under ``$MODALYZE_CACHE/blobs`` (``<sha256>.<ext>``, the extension from
  the stored path or the bytes' signature), written once per content, so image and audio files are
  inferred, decoded on demand, cached, corrupted and ``--unreadable`` exactly as files on disk are;
- a ``DatasetDict``'s splits become the ``split`` column (``validation`` is ``val``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from modalyze.errors import ModalyzeError
from modalyze.settings import cache_dir

SPLIT_NAMES = {"train": "train", "validation": "val", "valid": "val", "val": "val", "dev": "val", "test": "test"}
SIGNATURES = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
              (b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"ID3", ".mp3"))


def is_saved_dataset(path: str | Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    path = Path(path)
    return path.is_dir() and ((path / "dataset_dict.json").is_file() or
                              ((path / "state.json").is_file() and (path / "dataset_info.json").is_file()))


def read_saved_dataset(path: Path) -> pd.DataFrame:
    """A ``save_to_disk`` folder as one table (a ``DatasetDict``'s splits in its ``split`` column)."""
    if (path / "dataset_dict.json").is_file():
        splits = _json(path / "dataset_dict.json").get("splits") or []
        return _with_splits({name: _read_split(path / name) for name in splits}, path)
    return _read_split(path)


def is_datasets_object(value: Any) -> bool:
    return type(value).__module__.startswith("datasets.") and type(value).__name__ in ("Dataset", "DatasetDict")


def frame_of_datasets(value: Any) -> pd.DataFrame:
    """A ``datasets.Dataset`` or ``DatasetDict`` (in memory) as one table."""
    if type(value).__name__ == "DatasetDict":
        return _with_splits({name: frame_of_datasets(part) for name, part in value.items()}, "the DatasetDict")
    value = value.flatten_indices() if getattr(value, "_indices", None) is not None else value
    return arrow_frame(value.data.table, value.features.to_dict())


def arrow_frame(table: pa.Table, features: dict[str, Any] | None = None) -> pd.DataFrame:
    """An Arrow table as a DataFrame: label names for ``ClassLabel`` columns (``features`` or the
    table's own ``huggingface`` metadata), paths to stored files for bytes columns."""
    features = features if features is not None else _metadata_features(table.schema)
    frame = table.to_pandas()
    for name, feature in features.items():
        if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and name in frame.columns:
            names = list(feature.get("names") or [])
            frame[name] = [None if pd.isna(v) or not 0 <= int(v) < len(names) else names[int(v)] for v in frame[name]]
    for field in table.schema:
        if _holds_bytes(field.type):
            frame[field.name] = [_stored(cell) for cell in frame[field.name]]
    return frame


def _holds_bytes(kind: pa.DataType) -> bool:
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return True
    return pa.types.is_struct(kind) and any(kind.field(i).name == "bytes" and _holds_bytes(kind.field(i).type)
                                            for i in range(kind.num_fields))


def _stored(cell: Any) -> str | None:
    """One cell of bytes (or a ``{bytes, path}`` struct) as the path of its content-addressed file."""
    data, hint = (cell.get("bytes"), cell.get("path")) if isinstance(cell, dict) else (cell, None)
    if data is None:
        return hint or None  # a struct that only names a file keeps the name
    data = bytes(data)
    suffix = Path(str(hint)).suffix.lower() if hint and Path(str(hint)).suffix else _sniff(data)
    target = cache_dir() / "blobs" / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)  # atomic: a reader never sees half a file
    return str(target)


def _sniff(data: bytes) -> str:
    """The file extension the bytes' signature says (RIFF: WAVE audio or WEBP image)."""
    if data[:4] == b"RIFF":
        return ".wav" if data[8:12] == b"WAVE" else ".webp" if data[8:12] == b"WEBP" else ".bin"
    return next((suffix for magic, suffix in SIGNATURES if data.startswith(magic)), ".bin")


def _read_split(folder: Path) -> pd.DataFrame:
    """One saved split: its Arrow stream files, its features from ``dataset_info.json``."""
    state, info = _json(folder / "state.json"), _json(folder / "dataset_info.json")
    files = [folder / str(f.get("filename")) for f in state.get("_data_files") or []]
    if not files or not all(f.is_file() for f in files):
        raise ModalyzeError(f"{folder}: a saved dataset whose state.json names no readable data file")
    try:
        tables = [pa.ipc.open_stream(str(f)).read_all() for f in files]
    except (OSError, pa.ArrowInvalid) as exc:
        raise ModalyzeError(f"{files[0]}: cannot read the saved dataset's Arrow file: {exc}") from None
    return arrow_frame(pa.concat_tables(tables), info.get("features") or {})


def _with_splits(parts: dict[str, pd.DataFrame], where: Any) -> pd.DataFrame:
    unknown = [name for name in parts if name not in SPLIT_NAMES]
    if unknown:
        raise ModalyzeError(f"{where}: split '{unknown[0]}' is none of {', '.join(SPLIT_NAMES)}; save the splits under "
                            "those names, or pass one split")
    if "split" in next(iter(parts.values()), pd.DataFrame()).columns:
        raise ModalyzeError(f"{where}: has a column 'split' and named splits; rename the column")
    return pd.concat([p.assign(split=SPLIT_NAMES[name]) for name, p in parts.items()], ignore_index=True)


def _metadata_features(schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        return json.loads(raw)["info"]["features"] if raw else {}
    except (ValueError, KeyError, TypeError):
        return {}


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModalyzeError(f"{path}: cannot read the saved dataset's description: {exc}") from None
    if not isinstance(value, dict):
        raise ModalyzeError(f"{path}: not a saved dataset's description (a JSON object)")
    return value
