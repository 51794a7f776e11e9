"""WebDataset shards: tar files whose members ``<key>.<ext>`` are one sample's fields side by side.

A shard (or a glob / brace pattern of shards: ``data/train-{000000..000099}.tar``) becomes one table,
a row per key (``__key__``), a column per field (``000123.txt`` -> column ``txt``; ``000123.photo.png`` ->
column ``photo``): ``txt``, ``cls`` and other text members are read into their cells; ``json`` members'
fields become columns; image and audio members are never extracted — their
cell is a *member reference*, ``<shard>#<offset>+<size>/<member name>``, and the image and audio kinds
read those bytes straight from the shard when a batch needs them (:mod:`modalyze.files`), through the
decoded-file cache like any file. The table holds text and references only, so its memory does not
grow with the images; training streams the pixels from the shards.

Shards must be plain (uncompressed) tar files, as the ``webdataset`` writer makes them: a member's
bytes are then at a fixed offset and read without scanning the shard.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd

from modalyze.errors import ModalyzeError
from modalyze.files import member_reference

FILE_SUFFIXES = {"jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "wav", "flac", "ogg"}  # referenced
# every other member (txt, cls, ...) is UTF-8 text read into its cell
_BRACE = re.compile(r"\{(\d+)\.\.(\d+)\}|\{([^{}]*,[^{}]*)\}")


def expand_braces(pattern: str) -> list[str]:
    """``a-{000..002}.tar`` -> a-000.tar, a-001.tar, a-002.tar (zero-padded as written); ``{x,y}`` -> each."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end():]
    if match.group(3) is not None:
        choices = match.group(3).split(",")
    else:
        lo, hi = match.group(1), match.group(2)
        choices = [str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)]
    return [out for choice in choices for out in expand_braces(head + choice + tail)]


def read_shard(path: Path) -> tuple[list[str], pd.DataFrame]:
    """One shard as (column names, table): a row per sample key, in the order of the shard."""
    rows: dict[str, dict[str, Any]] = {}
    shard = str(path.resolve())
    with tarfile.open(path, "r:") as tar:
        for info in tar:
            if not info.isfile():
                continue
            folder, _, name = info.name.rpartition("/")
            stem, dot, field = name.partition(".")
            if not dot or not stem:
                continue  # no extension: not a sample field (WebDataset skips these too)
            key = f"{folder}/{stem}" if folder else stem
            row = rows.setdefault(key, {"__key__": key})
            where = f"{path}: member {info.name}"
            column, _, suffix = field.rpartition(".")  # 'photo.png' -> column photo; 'png' -> column png
            column, suffix = column or suffix, suffix.lower()
            if suffix == "json":
                for name, value in _json_fields(tar, info, where).items():
                    _put(row, name, value, where)
            elif suffix in FILE_SUFFIXES:
                _put(row, column, member_reference(shard, info.offset_data, info.size, info.name), where)
            else:
                _put(row, column, _text(tar.extractfile(info).read(), where), where)  # type: ignore[union-attr]
    frame = pd.DataFrame(list(rows.values()))
    return [str(c) for c in frame.columns], frame


def _put(row: dict[str, Any], column: str, value: Any, where: str) -> None:
    if column in row:
        raise ModalyzeError(f"{where}: the sample already has a field '{column}'; give each field its own name")
    row[column] = value


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ModalyzeError(f"{where}: not UTF-8 text (only {', '.join(sorted(FILE_SUFFIXES))} members may hold "
                            "binary data)") from None


def _json_fields(tar: tarfile.TarFile, info: tarfile.TarInfo, where: str) -> dict[str, Any]:
    try:
        value = json.loads(tar.extractfile(info).read())  # type: ignore[union-attr]
    except ValueError as exc:
        raise ModalyzeError(f"{where}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ModalyzeError(f"{where}: a json member must hold an object (its fields become columns)")
    return {str(k): json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
