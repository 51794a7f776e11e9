"""Where a file's bytes are: a path on disk, or a member of a WebDataset shard named by a reference
``<shard>.tar#<offset>+<size>/<member name>`` (see :mod:`modalyze.data.shards`), read in place.

The image and audio kinds, spec inference and the decoded-file cache read files through these
functions, so a shard member is read, checked, cached and corrupted as a file on disk is.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import BinaryIO

_REFERENCE = re.compile(r"^(?P<shard>.+\.tar)#(?P<offset>\d+)\+(?P<size>\d+)/(?P<member>.+)$")


def member_reference(shard: str, offset: int, size: int, member: str) -> str:
    """The reference of a member whose ``size`` bytes start at ``offset`` in ``shard`` (an absolute path)."""
    return f"{shard}#{offset}+{size}/{member}"


def is_reference(path: str | Path) -> bool:
    return _REFERENCE.match(str(path)) is not None


def container(path: Path) -> Path:
    """The file holding ``path`` on disk: its shard for a member reference, else itself."""
    match = _REFERENCE.match(str(path))
    return Path(match["shard"]) if match else path


def source(path: Path) -> Path | BinaryIO:
    """What Pillow or soundfile reads for ``path``: the path itself, or a shard member's bytes
    (FileNotFoundError when the shard is missing or ends before the member)."""
    match = _REFERENCE.match(str(path))
    if match is None:
        return path
    size = int(match["size"])
    with open(match["shard"], "rb") as handle:
        handle.seek(int(match["offset"]))
        data = handle.read(size)
    if len(data) < size:
        raise FileNotFoundError(f"{match['shard']} ends before member {match['member']}")
    return io.BytesIO(data)


def read_bytes(path: Path) -> bytes:
    """The bytes of a file or of a shard member."""
    found = source(path)
    return found.read() if isinstance(found, io.BytesIO) else Path(found).read_bytes()
