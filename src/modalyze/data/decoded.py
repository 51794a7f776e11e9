"""File modalities (images, audio) read on demand, and the on-disk cache of decoded files.

A file featurizer hands out :class:`FileRows`: the distinct files of the rows it transformed,
decoded only when a batch asks for them — inside DataLoader workers (``--workers``), in parallel
with training — so memory does not grow with the row count.

With the decoded-file cache on (the default), each file is decoded once per machine: ``transform``
decodes the files the cache lacks (in the worker processes), appends them to a new shard of the
cache, and batches read their rows back from the memory-mapped shards. A shard is a flat binary
array and a JSON list of its items, each written under a temporary name and renamed, the list
last: a concurrent process sees a whole shard or none, and two processes filling the same files
both write valid shards. Items are found by the file's signature (path, size, modification time)
or else by a hash of its bytes, within a folder per featurizer configuration
(``$MODALYZE_CACHE/decoded/<kind>-<hash of the decode options>/``). Deleting the folder is safe.

With the cache off (``--no-feature-cache``), ``transform`` checks every file's header (present, an
image or audio file, not a decompression bomb) and nothing is decoded before a batch needs it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from modalyze.data.featurizers import Featurizer, Features, Rows, empty_cells
from modalyze.errors import ModalyzeError
from modalyze.files import container, is_reference, read_bytes
from modalyze.outputs import write_json, write_with
from modalyze.settings import DATA, cache_dir

WORKERS_ENV, CACHE_ENV = "MODALYZE_WORKERS", "MODALYZE_FEATURE_CACHE"
STATS_SAMPLE = 2000  # files a featurizer's statistics (pixel mean and std, ...) are estimated from


# --- where decoding runs: DataLoader workers, the cache on or off ----------------------------------

def configure(workers: int | str | None = None, feature_cache: bool | None = None) -> None:
    """Set the data-loading workers (a count or ``"auto"``) and whether the decoded-file cache is used,
    for this process and the worker processes it starts (they are passed on as environment variables)."""
    from modalyze.options import check_options

    given = {k: v for k, v in {"workers": workers, "feature_cache": feature_cache}.items() if v is not None}
    checked = check_options(**given)  # a one-line error naming the option
    if "workers" in checked:
        os.environ[WORKERS_ENV] = str(checked["workers"])
    if "feature_cache" in checked:
        os.environ[CACHE_ENV] = "on" if checked["feature_cache"] else "off"


def resolve_workers(value: int | str | None = None) -> int:
    """DataLoader worker processes: ``"auto"`` is one per 4 cores (at most 4; none on 2 cores, where
    the training's own threads already use both and reading cached files is cheap)."""
    value = os.environ.get(WORKERS_ENV, DATA.workers) if value is None else value
    if str(value) == "auto":
        return min(4, (os.cpu_count() or 1) // 4)
    if not str(value).isdigit():
        raise ModalyzeError(f"{WORKERS_ENV}={value!r}: use a count of worker processes or 'auto'")
    return int(value)


def cache_enabled() -> bool:
    default = "on" if DATA.feature_cache else "off"
    return os.environ.get(CACHE_ENV, default).lower() not in ("off", "0", "false", "no")


def decoded_cache_dir() -> Path:
    return cache_dir() / "decoded"


# --- what a file kind provides ---------------------------------------------------------------------

class Unreadable(Exception):
    """Why a file cannot be used, in words ('does not exist', 'is not a readable image', ...)."""


@dataclass(frozen=True)
class Perturbation:
    """Damage applied while decoding (a corruption): ``fn(decoded, level, rng)``, with a generator
    seeded per file position, so the damage does not depend on how rows are batched."""

    fn: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    level: float
    seed: tuple[int, ...]

    def __call__(self, decoded: np.ndarray, pos: int) -> np.ndarray:
        return self.fn(decoded, self.level, np.random.default_rng([*self.seed, pos]))


class FileFeaturizer(Featurizer):
    """A featurizer of one column of file paths, decoded one file at a time."""

    what = "file"  # in messages: 'image file', 'audio file'

    @abstractmethod
    def check(self, path: Path) -> tuple[int, ...]:
        """The decoded shape, from the file's header (cheap); :class:`Unreadable` if it cannot be used."""

    @abstractmethod
    def decode(self, path: Path, perturb: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The file decoded (``perturb`` edits the raw signal first); :class:`Unreadable` if it cannot be."""

    @abstractmethod
    def assemble(self, decoded: list[np.ndarray | None], shapes: list[tuple[int, ...]]) -> dict[str, torch.Tensor]:
        """A batch's tensors from its decoded files (None: a blank for an absent row); ``shapes``
        are the decoded shapes of every file of the rows (audio pads to the longest)."""

    @property
    @abstractmethod
    def decode_options(self) -> dict[str, Any]:
        """What the decoded array depends on besides the file (sizes, rates): the cache's namespace."""

    def transform(self, frame: pd.DataFrame, perturb: Perturbation | None = None) -> Features:
        """Rows -> the distinct files they name (checked, or decoded into the cache); ``perturb``
        (a corruption) damages each file as it is decoded, bypassing the cache."""
        column = self.columns[0]
        slot: dict[Path, int] = {}
        first_row: list[Any] = []  # the first row naming each distinct file, for messages
        file_of_row = np.full(len(frame), -1, dtype=np.int64)
        for row, (value, absent) in enumerate(zip(frame[column].tolist(), empty_cells(frame[column]))):
            if not absent:
                path = Path(str(value))
                path = path if path.is_absolute() else self.base_dir / path
                if path not in slot:
                    slot[path] = len(slot)
                    first_row.append(frame.index[row])
                file_of_row[row] = slot[path]
        paths = list(slot)
        entries = self._locate(paths, first_row) if cache_enabled() and perturb is None else None
        shapes = [e.shape if e else None for e in entries] if entries is not None else \
            [self._checked(path, row, self.check) for path, row in zip(paths, first_row)]
        kept = [i for i, s in enumerate(shapes) if s is not None]  # unreadable files under 'missing' drop out
        position = np.full(len(paths) + 1, -1, dtype=np.int64)  # position[-1]: rows naming no file
        position[kept] = np.arange(len(kept))
        index = torch.from_numpy(position[file_of_row])  # [N], -1 where the row has no readable file
        rows = FileRows(self, [paths[i] for i in kept], [shapes[i] for i in kept],  # type: ignore[misc]
                        [entries[i] for i in kept] if entries is not None else None,  # type: ignore[misc]
                        [first_row[i] for i in kept], perturb)
        return Features(rows, index >= 0, index)

    def _checked(self, path: Path, row: Any, step: Callable[[Path], Any]) -> Any:
        """``step(path)``; an unreadable file is the one-line error, or None under 'missing'."""
        try:
            return step(path)
        except Unreadable as exc:
            return self._unreadable(path, row, exc)

    def _unreadable(self, path: Path, row: Any, exc: Unreadable) -> None:
        if self.unreadable != "missing":
            raise ModalyzeError(f"{path}: row {row}, column '{self.columns[0]}': {self.what} {exc} "
                                "(pass --unreadable missing to treat such files as missing)") from None

    def _locate(self, paths: list[Path], first_row: list[Any]) -> list[Entry | None]:
        """Each file's cache entry, decoding (in the worker processes) and storing those not cached;
        None for an unreadable file under 'missing'."""
        store = DecodedStore(decoded_cache_dir() / namespace(self.kind, self.decode_options))
        entries: list[Entry | None] = store.find(paths)
        todo = [i for i, e in enumerate(entries) if e is None]
        if todo:
            for i, entry in zip(todo, store.add([paths[i] for i in todo], self, [first_row[i] for i in todo])):
                entries[i] = entry
        return entries

    def sample(self, frame: pd.DataFrame, limit: int = STATS_SAMPLE) -> list[np.ndarray]:
        """Up to ``limit`` of the distinct files ``frame`` names, evenly spaced, decoded (what statistics
        are fitted on): only those are read."""
        column = self.columns[0]
        distinct = frame[~empty_cells(frame[column])].drop_duplicates(column)
        picked = np.unique(np.linspace(0, len(distinct) - 1, min(limit, len(distinct))).round().astype(int))
        rows = self.transform(distinct.iloc[picked] if len(distinct) else distinct).rows
        assert isinstance(rows, FileRows)
        return rows.decoded(list(range(len(rows))))


def namespace(kind: str, options: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{kind}-{digest}"


# --- the rows -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """Where a decoded file lies in the cache: a shard's data file, the offset and shape of its item."""

    shard: str
    dtype: str
    offset: int  # in items of dtype
    shape: tuple[int, ...]


def read_entries(entries: list[Entry]) -> list[np.ndarray]:
    """The decoded arrays of ``entries``: each shard mapped once, its items copied out (one gather
    where they share a shape), the mapping released: resident memory stays one batch, however large
    the shard."""
    out: list[np.ndarray | None] = [None] * len(entries)
    groups: dict[tuple[str, str, tuple[int, ...]], list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault((e.shard, e.dtype, e.shape), []).append(i)
    for (shard, dtype, shape), items in groups.items():
        data = np.memmap(shard, dtype=dtype, mode="r")
        size = math.prod(shape)
        offsets = np.array([entries[i].offset for i in items])
        if size and not (offsets % size).any():  # items of one shape, aligned: one gather
            gathered = data[: len(data) // size * size].reshape(-1, *shape)[offsets // size]
            out_items = list(gathered)
        else:
            out_items = [np.array(data[o:o + size]).reshape(shape) for o in offsets]
        for i, array in zip(items, out_items):
            out[i] = array
        del data
    return out  # type: ignore[return-value]


class FileRows(Rows):
    """The distinct files of transformed rows, decoded (or read from the cache) when taken."""

    def __init__(self, featurizer: FileFeaturizer, paths: list[Path], shapes: list[tuple[int, ...]],
                 entries: list[Entry] | None, rows: list[Any], perturb: Perturbation | None = None):
        self.featurizer, self.paths, self.shapes = featurizer, paths, shapes
        self.entries, self.rows, self.perturb = entries, rows, perturb  # rows: the first row naming each file

    def __len__(self) -> int:
        return len(self.paths)

    def decoded(self, pos: list[int]) -> list[np.ndarray]:
        """Files ``pos`` decoded: from the cache when it holds them (and is readable here), else from the files."""
        if self.entries is not None:
            try:
                return read_entries([self.entries[p] for p in pos])
            except OSError:  # a shard not on this machine (a Ray worker elsewhere): decode the files
                pass
        return [self._decode(p) for p in pos]

    def _decode(self, pos: int) -> np.ndarray:
        edit = (lambda x: self.perturb(x, pos)) if self.perturb else None  # noqa: E731
        path = self.paths[pos]
        decoded = self.featurizer._checked(path, self.rows[pos], lambda p: self.featurizer.decode(p, edit))
        if decoded is None:  # the header read but the content does not (checked before, cache off)
            raise ModalyzeError(f"{path}: row {self.rows[pos]}, column '{self.featurizer.columns[0]}': "
                                f"{self.featurizer.what} cannot be decoded although its header reads (truncated?); "
                                "with the feature cache on, every file is decoded before training and such "
                                "files count as missing under --unreadable missing")
        return decoded

    def take(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = [p for p in pos.tolist() if p >= 0]
        found = dict(zip(wanted, self.decoded(wanted)))
        return self.featurizer.assemble([found.get(p) for p in pos.tolist()], self.shapes)


# --- the cache ------------------------------------------------------------------------------------

def _signature(path: Path) -> str | None:
    try:
        if path.is_dir():  # a folder of frames: every file's name, size and modification time
            listing = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir())
            return f"{path.resolve()}|{hashlib.blake2b(repr(listing).encode(), digest_size=16).hexdigest()}"
        stat = container(path).stat()  # a shard member: its shard's
    except OSError:
        return None
    return f"{path if is_reference(path) else path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _content(path: Path) -> str | None:
    try:
        return hashlib.blake2b(read_bytes(path), digest_size=16).hexdigest()
    except OSError:
        return None


class DecodedStore:
    """One featurizer configuration's decoded files on disk (see the module docstring)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._contents: dict[Path, str | None] = {}  # files hashed by this store: each read once for it

    def _content(self, path: Path) -> str | None:
        if path not in self._contents:
            self._contents[path] = _content(path)
        return self._contents[path]

    def _index(self) -> tuple[dict[str, Entry], dict[str, Entry]]:
        """Entries by file signature and by content hash, over every complete shard."""
        by_signature: dict[str, Entry] = {}
        by_content: dict[str, Entry] = {}
        for listing in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                shard = json.loads(listing.read_text())
                data = str(listing.with_suffix(".bin"))
                for signature, content, offset, shape in shard["items"]:
                    entry = Entry(data, shard["dtype"], int(offset), tuple(shape))
                    by_signature[signature], by_content[content] = entry, entry
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged listing: its files are decoded again
        return by_signature, by_content

    def find(self, paths: list[Path]) -> list[Entry | None]:
        by_signature, by_content = self._index()
        out: list[Entry | None] = []
        for path in paths:
            signature = _signature(path)
            entry = by_signature.get(signature) if signature else None
            if entry is None and signature and by_content:
                content = self._content(path)
                entry = by_content.get(content) if content else None
            out.append(entry)
        return out

    def add(self, paths: list[Path], featurizer: FileFeaturizer, rows: list[Any]) -> list[Entry | None]:
        """Decode ``paths`` (in worker processes) into one new shard; None for an unreadable file
        under 'missing' (an unreadable file under 'error' raises, and the shard is not kept)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = self.folder / uuid.uuid4().hex
        items: list[list[Any]] = []
        out: list[Entry | None] = []
        dtype: str | None = None

        def write(tmp: Path) -> None:
            nonlocal dtype
            offset = 0
            with open(tmp, "wb") as handle:
                for (path, row), decoded in zip(zip(paths, rows), _decode_all(paths, featurizer)):
                    if isinstance(decoded, Unreadable):
                        out.append(featurizer._unreadable(path, row, decoded))  # raises, or None under 'missing'
                        continue
                    dtype = dtype or decoded.dtype.str
                    array = np.ascontiguousarray(decoded, dtype=dtype)
                    handle.write(array.tobytes())
                    items.append([_signature(path), self._content(path), offset, list(array.shape)])
                    out.append(Entry(str(name.with_suffix(".bin")), dtype, offset, tuple(array.shape)))
                    offset += array.size

        write_with(name.with_suffix(".bin"), write)
        if items:
            write_json(name.with_suffix(".json"), {"dtype": dtype, "items": items})
        else:
            name.with_suffix(".bin").unlink(missing_ok=True)
        return out


class _Decode(Dataset):
    """The files to decode, for a DataLoader that spreads them over its workers."""

    def __init__(self, paths: list[Path], featurizer: FileFeaturizer):
        self.paths, self.featurizer = paths, featurizer

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray | Unreadable:
        try:
            return self.featurizer.decode(self.paths[i])
        except Unreadable as exc:
            return exc


def _as_list(items: list[Any]) -> list[Any]:
    return items


def _decode_all(paths: list[Path], featurizer: FileFeaturizer) -> Iterator[np.ndarray | Unreadable]:
    """Every file decoded, in order, by the data-loading workers (in this process with none)."""
    workers = min(resolve_workers(), max(0, len(paths) // 64))
    loader = DataLoader(_Decode(paths, featurizer), batch_size=32, num_workers=workers,
                        collate_fn=_as_list)
    for batch in loader:
        yield from batch
