"""Where modalyze writes: output folders it may claim, files written atomically, one writer per folder.

Guarantees (the README's "Errors and guarantees" section):

- a command writes only inside its output folder (or to the one output file it was given);
- it claims a folder only when the folder is new, empty, or an earlier output of the same command
  (marked by ``.modalyze.json``), so a user's own files are never overwritten;
- every file appears whole or not at all (written to a unique temporary name, then renamed);
- while a command writes a folder it holds ``.modalyze.lock``; a second process gets a clear error;
- in multi-device training (``--devices N``) only rank zero writes: the other ranks run the same
  command in step with it, and their writes go to a throw-away folder (:func:`is_rank_zero`).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from modalyze.errors import ModalyzeError

MARKER = ".modalyze.json"
LOCK = ".modalyze.lock"
# The file and schema that mark a folder written by a modalyze version before the marker, per command.
_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: files get the permissions the user's umask gives (mkstemp would give 0600)
_EARLIER = {"train": ("config.json", "modalyze.run/1"), "align": ("config.json", "modalyze.aligner/1"),
            "analyze": ("profile.json", "modalyze.profile/1")}


def is_rank_zero() -> bool:
    """False in the extra processes of a multi-device run (Lightning's DDP launcher and torchrun set
    these variables for them): they train in step with rank zero and write nothing."""
    return all(int(os.environ.get(name, 0) or 0) == 0 for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


@contextmanager
def output_dir(path: str | Path, command: str) -> Iterator[Path]:
    """Claim ``path`` as the output folder of ``command`` for the duration of the block."""
    path = Path(path)
    if not is_rank_zero():  # rank zero claims and locks the folder; this rank only reads it
        yield path
        return
    if path.exists() and not path.is_dir():
        raise ModalyzeError(f"{path}: output folder is a file; choose a folder (--out)")
    if path.is_dir():
        _check_claimable(path, command)
    path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path / LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ModalyzeError(f"{path}: another modalyze process is writing this folder; wait for it or "
                            "choose another --out") from None
    try:
        if not (path / MARKER).exists():
            write_json(path / MARKER, {"command": command})
        yield path
    finally:
        lock.release()


def _check_claimable(path: Path, command: str) -> None:
    entries = sorted(e.name for e in path.iterdir() if e.name not in (MARKER, LOCK))
    if not entries:
        return
    marker = path / MARKER
    if marker.exists():
        try:
            owner = json.loads(marker.read_text(encoding="utf-8")).get("command")
        except (OSError, ValueError, AttributeError):
            owner = "?"
        if owner == command:
            return
        raise ModalyzeError(f"{path}: holds the output of 'modalyze {owner}', not of '{command}'; choose another --out")
    if command in _EARLIER and _read_schema(path / _EARLIER[command][0]) == _EARLIER[command][1]:
        return
    raise ModalyzeError(f"{path}: folder is not empty and was not written by 'modalyze {command}' (it holds "
                        f"'{entries[0]}'); choose a new or empty folder so none of your files is overwritten")


def _read_schema(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("schema") if isinstance(data, dict) else None


def output_file(path: str | Path, inputs: tuple[str | Path, ...] = ()) -> Path:
    """A file the user named as output: not a folder, not one of the command's input files."""
    path = Path(path)
    if path.is_dir():
        raise ModalyzeError(f"{path}: is a folder; name the output file (--out FILE)")
    for source in inputs:
        if path.exists() and Path(source).exists() and path.resolve() == Path(source).resolve():
            raise ModalyzeError(f"{path}: is also the input; name another output file so the input stays unchanged")
    return path


@contextmanager
def atomic(path: str | Path) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; on success it replaces ``path`` in one step
    (on a rank other than zero: a temporary path that is then deleted)."""
    path = Path(path)
    if not is_rank_zero():
        with tempfile.TemporaryDirectory() as scratch:
            yield Path(scratch) / path.name
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # the final suffixes kept (".csv.gz"): writers that infer a format or compression from the name still do
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-", suffix="".join(path.suffixes))
    os.close(handle)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_array(path: str | Path, array: Any) -> None:
    """A NumPy array as .npy, atomically, never pickled."""
    import numpy as np

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file handle: np.save would add '.npy' to a path
            np.save(handle, array, allow_pickle=False)
    write_with(path, save)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (a crash never leaves a half-written file behind)."""
    write_text(path, json.dumps(data, indent=2, default=_jsonable))


def write_with(path: str | Path, writer: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """``writer(tmp, *args, **kwargs)`` writes the file (``frame.to_csv``, ``save_file``, ...) under a
    temporary name; then it appears whole at ``path``."""
    with atomic(path) as tmp:
        writer(tmp, *args, **kwargs)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
