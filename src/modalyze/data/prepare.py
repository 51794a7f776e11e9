"""From a validated table to fitted featurizers and per-split datasets (fit on train only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from modalyze.data import load_dataset
from modalyze.data.batching import FeaturizedDataset
from modalyze.data.featurizers import Featurizer, create_featurizer
from modalyze.data.table import SPLITS, Table
from modalyze.errors import ModalyzeError
from modalyze.kind import PRETRAINED_KEYS
from modalyze.spec import ModalitySpec, Spec


@dataclass
class Prepared:
    """Everything a model needs from the data: featurizers, class list and encoded splits."""

    featurizers: dict[str, Featurizer]
    classes: list[Any]
    splits: dict[str, FeaturizedDataset]
    frames: dict[str, pd.DataFrame]


def load_prepared(data: Any, seed: int, unreadable: str, dataset_options: dict[str, Any] | None = None,
                  needs: tuple[str, ...] = (), purpose: str = "training", **load: Any) -> tuple[Spec, Prepared]:
    """The pipeline under every training command: load the data (``load``: ``target``, ``modalities``),
    fit the featurizers on train, encode every split, and check the splits the job ``needs``."""
    spec, table = load_dataset(data, seed=seed, **load, **(dataset_options or {}))
    return spec, prepare_checked(spec, table, unreadable, needs, purpose)


def prepare_checked(spec: Spec, table: Table, unreadable: str, needs: tuple[str, ...] = (),
                    purpose: str = "training") -> Prepared:
    """:func:`prepare`, then :func:`check_splits` (a study prepares each fold of a table it loaded once)."""
    prepared = prepare(spec, table, unreadable)
    check_splits(spec, prepared.splits, needs, purpose)
    return prepared


def check_splits(spec: Spec, present: Any, needs: tuple[str, ...], purpose: str) -> None:
    """Every split in ``needs`` is among ``present`` (names of splits with rows), else one line."""
    missing = [s for s in needs if s not in present]
    if missing:
        raise ModalyzeError(f"{spec.name}: {purpose} needs rows in the {' and '.join(missing)} split"
                            f"{'s' * (len(missing) > 1)}")


def summary(spec: Spec, prepared: Prepared) -> str:
    """The opening summary of a command: rows per split, each modality with its kind and empty rows."""
    rows = ", ".join(f"{s} {len(d)}" for s, d in prepared.splits.items())
    empty = {m: sum(d.missing_counts()[m] for d in prepared.splits.values()) for m in spec.modalities}
    parts = [f"{m} ({s.kind}, {len(prepared.featurizers[m].columns)} column{'s' * (len(prepared.featurizers[m].columns) > 1)}"
             f"{f', {empty[m]} rows empty' if empty[m] else ''})" for m, s in spec.modalities.items()]
    return (f"{spec.name}: {sum(len(d) for d in prepared.splits.values())} rows ({rows}), "
            f"{len(prepared.classes)} classes of '{spec.target}'; modalities: {'; '.join(parts)}")


def fit_featurizers(spec: Spec, table: Table, unreadable: str = "error") -> dict[str, Featurizer]:
    train = table.part("train")
    if len(train) == 0:
        raise ModalyzeError(f"{spec.name}: the train split has no rows")
    return {name: _featurizer(m, table.columns[name], table.base_dir, unreadable).fit(train)
            for name, m in spec.modalities.items()}


def _featurizer(m: ModalitySpec, columns: list[str], base_dir: str, unreadable: str) -> Featurizer:
    """The kind's featurizer, or the pretrained one when the modality names a pretrained encoder."""
    if "hf" in m.encoder:
        options = {k: m.encoder[k] for k in PRETRAINED_KEYS if k in m.encoder}
        return create_featurizer("pretrained", columns, base_dir=base_dir, unreadable=unreadable,
                                 source_kind=m.kind, **m.options, **options)  # kind options: a clip's frames
    return create_featurizer(m.kind, columns, base_dir=base_dir, unreadable=unreadable, **m.options)


def encoder_configs(spec: Spec, featurizers: dict[str, Featurizer]) -> dict[str, dict[str, Any]]:
    """Per modality what its encoder is built from: the featurizer's kind and sizes, and the spec's
    encoder options less the pretrained-loading keys (the featurizer has used those)."""
    return {m: {"kind": featurizers[m].kind, "info": featurizers[m].spec_info,
                "encoder": {k: v for k, v in s.encoder.items() if k not in PRETRAINED_KEYS}}
            for m, s in spec.modalities.items()}


def featurizer_states(featurizers: dict[str, Featurizer]) -> dict[str, Any]:
    """The fitted featurizers as JSON-able state: equal states mean the same data preparation."""
    return {m: f.state() for m, f in featurizers.items()}


def featurizers_from_states(states: dict[str, Any], base_dir: str | Path, unreadable: str) -> dict[str, Featurizer]:
    """The fitted featurizers back from :func:`featurizer_states` (a run's featurizers.json)."""
    return {m: Featurizer.from_state(s, base_dir, unreadable) for m, s in states.items()}


def featurize(featurizers: dict[str, Featurizer], frame: pd.DataFrame, classes: list[Any] | None = None,
              target: str | None = None) -> FeaturizedDataset:
    """Rows as tensors; the labels become class codes when ``target`` names a column of ``frame``."""
    features = {name: f.transform(frame) for name, f in featurizers.items()}
    targets = None
    if target is not None and classes is not None and target in frame.columns:
        targets = torch.from_numpy(label_codes(frame[target], classes))
    return FeaturizedDataset(features, targets)


def featurize_new_rows(featurizers: dict[str, Featurizer], frame: pd.DataFrame, base_dir: str | Path | None = None,
                    unreadable: str | None = None, classes: list[Any] | None = None,
                    target: str | None = None) -> FeaturizedDataset:
    """Featurize rows a fitted model has not seen: file paths resolve against ``base_dir`` and
    ``unreadable`` ('error' or 'missing') overrides how absent or unreadable files are treated; a
    missing column is a one-line error."""
    if unreadable not in (None, "error", "missing"):
        raise ModalyzeError(f"option unreadable={unreadable!r}: use 'error' or 'missing'")
    if base_dir is not None or unreadable is not None:
        featurizers = {m: Featurizer.from_state(f.state(), base_dir if base_dir is not None else f.base_dir,
                                                unreadable or f.unreadable) for m, f in featurizers.items()}
    check_columns(featurizers, frame, "the rows")
    return featurize(featurizers, frame, classes, target)


def check_columns(featurizers: dict[str, Featurizer], frame: pd.DataFrame, where: str) -> None:
    """Every column a fitted featurizer reads is in ``frame``; else one line naming ``where`` and the column."""
    for modality, featurizer in featurizers.items():
        missing = [c for c in featurizer.columns if c not in frame.columns]
        if missing:
            raise ModalyzeError(f"{where}: column '{missing[0]}' does not exist (modality '{modality}' was trained "
                                f"on columns {', '.join(featurizer.columns)})")


def label_codes(values: pd.Series, classes: list[Any]) -> np.ndarray:
    lookup = {str(c): i for i, c in enumerate(classes)}
    codes = np.array([lookup.get(str(v), -1) for v in values.tolist()], dtype=np.int64)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise ModalyzeError(f"row {values.index[row]}: target value {values.iloc[row]!r} is not one of the "
                            f"{len(classes)} classes seen in training")
    return codes


def prepare(spec: Spec, table: Table, unreadable: str = "error",
            featurizers: dict[str, Featurizer] | None = None, classes: list[Any] | None = None) -> Prepared:
    """Fit featurizers on train (unless given) and featurize every split."""
    featurizers = featurizers or fit_featurizers(spec, table, unreadable)
    if classes is None:
        classes = sorted(pd.unique(table.frame[spec.target]).tolist(), key=lambda v: (str(type(v)), v))
        classes = [c.item() if hasattr(c, "item") else c for c in classes]
    frames = {s: table.part(s) for s in SPLITS}
    splits = {s: featurize(featurizers, frames[s], classes, spec.target) for s in SPLITS if len(frames[s])}
    return Prepared(featurizers=featurizers, classes=classes, splits=splits, frames=frames)


def prepare_again(spec: Spec, seed: int, unreadable: str, featurizers: dict[str, Featurizer],
                  classes: list[Any], extra_columns: tuple[str, ...] = ()) -> Prepared:
    """The dataset a saved model was trained on, split as in training and featurized with its fitted
    featurizers (what evaluation needs after ``load``); ``extra_columns`` are read too, where present."""
    _, table = load_dataset(spec, seed=seed, extra_columns=extra_columns)
    source = spec.source if isinstance(spec.source, str) else spec.name
    check_columns(featurizers, table.frame, str(Path(spec.base_dir, source)) if spec.source else spec.name)
    return prepare(spec, table, unreadable, featurizers, classes)
