"""Corruptions: graded, deterministic damage to one modality's inputs, for robustness curves.

Each kind declares its corruptions (:class:`~modalyze.kind.Corruption`, in its module of
:mod:`modalyze.kinds`). A corruption maps (featurizer, raw rows, level in [0, 1], random generator)
to the modality's features. Text and tabular corruptions edit the raw cells and featurize them as
usual; image corruptions edit decoded pixels and audio ones the samples, one file at a time as
batches are read (a generator per file position: the damage does not depend on the batching).
Level 0 changes nothing; level 1 is the extreme each entry's ``extreme`` documents. The same seed
gives the same damage.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from modalyze.data.decoded import Perturbation, Unreadable
from modalyze.data.featurizers import Featurizer, Features, Rows, empty_cells
from modalyze.errors import ModalyzeError
from modalyze.kind import Corruption, get_kind, kinds
from modalyze.options import suggest

Edit = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def corruptions_for(kind: str) -> list[Corruption]:
    """Every corruption a modality kind declares (possibly none)."""
    return list(get_kind(kind).corruptions)


def all_corruptions() -> list[tuple[str, Corruption]]:
    """(kind, corruption) for every registered kind."""
    return [(kind, c) for kind in kinds() for c in corruptions_for(kind)]


def corrupt(featurizer: Featurizer, frame: pd.DataFrame, name: str, level: float, seed: int = 0) -> Features:
    """The modality's features for ``frame`` with corruption ``name`` (or ``kind/name``) applied at ``level``."""
    kind, _, short = name.rpartition("/")
    if kind and kind != featurizer.kind:
        raise ModalyzeError(f"corruption '{name}' applies to {kind} modalities, not {featurizer.kind}")
    known = {c.name: c for c in corruptions_for(featurizer.kind)}
    if short not in known:
        raise ModalyzeError(f"unknown corruption '{short}' for {featurizer.kind} modalities{suggest(short, list(known))} "
                            f"(registered: {', '.join(known) or 'none'})")
    if not 0 <= level <= 1:
        raise ModalyzeError(f"corruption level {level} is outside [0, 1]")
    if level == 0:
        return featurizer.transform(frame)
    rng = np.random.default_rng([seed, zlib.crc32(f"{featurizer.kind}/{short}".encode()), round(level * 1e6)])
    return known[short].apply(featurizer, frame, level, rng)


def shuffled_places(n: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """An order of ``n`` places in which a ``level`` share trade places at random (level 1: the order is
    gone): the temporal-order condition of every kind that has one."""
    order = np.arange(n)
    share = int(round(level * n))
    moved = np.sort(rng.choice(n, size=min(n, max(share, 2)) if share else 0, replace=False))  # one place cannot move alone
    order[moved] = rng.permutation(moved)
    return order


def reordered_files(cells: pd.DataFrame, base_dir: Path, out: Path, seed: int, suffix: Callable[[Path], str],
                    write: Callable[[Path, Path, np.random.Generator], None]) -> pd.DataFrame:
    """A file column's cells naming copies of their files with time shuffled (``write(source, target, rng)``),
    written under ``out`` once (a rerun reuses them; a copy appears whole or not at all, and the
    generator depends only on the seed and the row's position); a cell naming no readable file is kept,
    so the model meets it as in the normal condition."""
    column = cells.columns[0]
    out.mkdir(parents=True, exist_ok=True)
    values = []
    for pos, (value, absent) in enumerate(zip(cells[column].tolist(), empty_cells(cells[column]))):
        if absent:
            values.append(value)
            continue
        path = Path(str(value))
        path = path if path.is_absolute() else base_dir / path
        ending = suffix(path)
        target, partial = out / f"{pos}{ending}", out / f".{pos}.partial{ending}"
        if not target.exists():
            shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
            try:
                write(path, partial, np.random.default_rng([seed, pos]))
            except Unreadable:
                values.append(value)
                continue
            partial.rename(target)
        values.append(str(target))
    return pd.DataFrame({column: values}, index=cells.index)


class EditedRows(Rows):
    """Rows with one tensor edited as it is read: ``edit(array, position)`` per position (absent rows untouched)."""

    def __init__(self, rows: Rows, key: str, edit: Perturbation):
        self.rows, self.key, self.edit = rows, key, edit

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.rows.take(pos)
        values = out[self.key].numpy()
        edited = [v if p < 0 else self.edit(v, p) for v, p in zip(values, pos.tolist())]
        return {**out, self.key: torch.from_numpy(np.stack(edited)) if edited else out[self.key]}


def edit_decoded(key: str, edit: Edit) -> Callable[[Featurizer, pd.DataFrame, float, np.random.Generator], Features]:
    """A corruption that edits each decoded row's tensor ``key`` as batches are read (``edit(array, level, rng)``,
    a generator per file position)."""
    def apply(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
        feats = featurizer.transform(frame)
        damage = Perturbation(edit, level, (int(rng.integers(2**63)),))
        return Features(EditedRows(feats.rows, key, damage), feats.present, feats.index)
    return apply
