"""Data: sources, splits, featurizers, batches and built-in datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modalyze.data import audio  # noqa: F401  (registers the audio featurizer)
from modalyze.data.builtin import is_builtin, list_datasets, load_builtin
from modalyze.data.table import Table, load_table
from modalyze.errors import ModalyzeError
from modalyze.spec import Spec, load_spec

__all__ = ["load_dataset", "list_datasets", "Table"]


def load_dataset(source: str | Path | Spec, seed: int = 0, **params: Any) -> tuple[Spec, Table]:
    """A built-in name, a spec file, or a :class:`Spec` -> the spec and its validated, split table."""
    if isinstance(source, Spec):
        if source.builtin:  # the built-in's rows, read through this spec (it may regroup the columns)
            builtin_params = {k: v for k, v in source.builtin["params"].items() if k != "seed"}
            _, frame = load_builtin(source.builtin["name"], seed=source.builtin["params"].get("seed", seed),
                                    **builtin_params)
            return source, load_table(source, frame)
        return source, load_table(source)
    text = str(source)
    if is_builtin(text):
        spec, frame = load_builtin(text, seed=seed, **params)
        return spec, load_table(spec, frame)
    if params:
        raise ModalyzeError(f"option {sorted(params)[0]!r} applies only to built-in datasets")
    if text.endswith((".yaml", ".yml")) or Path(text).exists():
        spec = load_spec(text)
        return spec, load_table(spec)
    return load_builtin(text)  # raises the 'unknown dataset' error listing the built-ins
