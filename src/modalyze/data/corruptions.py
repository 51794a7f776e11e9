"""Corruptions: graded, deterministic damage to one modality's inputs, for robustness curves.

A corruption maps (featurizer, raw rows, level in [0, 1], random generator) to the modality's
features. Text and tabular corruptions edit the raw cells and featurize them as usual; image
corruptions edit decoded pixels and audio ones the samples, one file at a time as batches are read
(a generator per file position: the damage does not depend on the batching). Level 0 changes
nothing; level 1 is the extreme each entry's ``extreme`` documents. The same seed gives the same
damage.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFilter

from modalyze.data.decoded import FileFeaturizer, Perturbation
from modalyze.data.featurizers import Featurizer, Features, Rows
from modalyze.errors import ModalyzeError
from modalyze.registry import Registry

Apply = Callable[[Featurizer, pd.DataFrame, float, np.random.Generator], Features]


@dataclass(frozen=True)
class Corruption:
    kind: str  # the modality kind it applies to
    name: str
    extreme: str  # what level 1 does
    apply: Apply
    random: bool = True  # False: the seed plays no part (blur)


CORRUPTIONS: Registry[Corruption] = Registry("corruption")


def register_corruption(kind: str, name: str, extreme: str, random: bool = True) -> Callable[[Apply], Apply]:
    def wrap(fn: Apply) -> Apply:
        CORRUPTIONS.register(f"{kind}/{name}")(Corruption(kind, name, extreme, fn, random))
        return fn
    return wrap


def corruptions_for(kind: str) -> list[Corruption]:
    """Every corruption registered for a modality kind (possibly none)."""
    return [CORRUPTIONS.get(n) for n in CORRUPTIONS.names() if n.startswith(f"{kind}/")]


def corrupt(featurizer: Featurizer, frame: pd.DataFrame, name: str, level: float, seed: int = 0) -> Features:
    """The modality's features for ``frame`` with corruption ``kind/name`` applied at ``level``."""
    corruption = CORRUPTIONS.get(name if "/" in name else f"{featurizer.kind}/{name}")
    if corruption.kind != featurizer.kind:
        raise ModalyzeError(f"corruption '{name}' applies to {corruption.kind} modalities, not {featurizer.kind}")
    if not 0 <= level <= 1:
        raise ModalyzeError(f"corruption level {level} is outside [0, 1]")
    if level == 0:
        return featurizer.transform(frame)
    rng = np.random.default_rng([seed, zlib.crc32(f"{corruption.kind}/{corruption.name}".encode()), round(level * 1e6)])
    return corruption.apply(featurizer, frame, level, rng)


# --- image: decoded pixels uint8 [3, S, S], one image at a time as batches are read ---

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


def _edit_pixels(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator,
                 edit: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]) -> Features:
    feats = featurizer.transform(frame)
    damage = Perturbation(edit, level, (int(rng.integers(2**63)),))
    return Features(EditedRows(feats.rows, "pixels", damage), feats.present, feats.index)


def _noise(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    noisy = pixels / 255.0 + rng.normal(0.0, level, pixels.shape)
    return (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)


def _blur(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    radius = level * pixels.shape[-1] / 4
    return np.asarray(Image.fromarray(pixels.transpose(1, 2, 0)).filter(ImageFilter.GaussianBlur(radius))).transpose(2, 0, 1)


def _occlude(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    out = pixels.copy()
    size = pixels.shape[-1]
    side = int(round(np.sqrt(level) * size))  # the square covers `level` of the area
    top, left = rng.integers(0, size - side + 1, size=2)
    out[:, top:top + side, left:left + side] = 128
    return out


@register_corruption("image", "gaussian-noise", "noise with a standard deviation of the full pixel range, clipped")
def _image_noise(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    return _edit_pixels(featurizer, frame, level, rng, _noise)


@register_corruption("image", "blur", "Gaussian blur with a radius of a quarter of the image side", random=False)
def _image_blur(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    return _edit_pixels(featurizer, frame, level, rng, _blur)


@register_corruption("image", "occlusion", "a grey square covering the whole image")
def _image_occlusion(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    return _edit_pixels(featurizer, frame, level, rng, _occlude)


# --- text: raw strings, featurized afterwards ---

_WORD = re.compile(r"\S+")


def _edit_text(featurizer: Featurizer, frame: pd.DataFrame, edit: Callable[[str], str]) -> Features:
    edited = {column: pd.Series([v if pd.isna(v) else edit(str(v)) for v in frame[column].tolist()],
                                index=frame.index, dtype=object) for column in featurizer.columns}
    return featurizer.transform(frame.assign(**edited))


@register_corruption("text", "word-dropout", "every word removed: the text is empty, so the modality is absent")
def _text_word_dropout(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    def edit(text: str) -> str:
        words = _WORD.findall(text)
        return " ".join(w for w, drop in zip(words, rng.random(len(words)) < level) if not drop)
    return _edit_text(featurizer, frame, edit)


@register_corruption("text", "char-swap", "two adjacent characters swapped in every word of two or more characters")
def _text_char_swap(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    def swap(word: str) -> str:
        if len(word) < 2 or rng.random() >= level:
            return word
        i = int(rng.integers(0, len(word) - 1))
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return _edit_text(featurizer, frame, lambda text: _WORD.sub(lambda m: swap(m.group()), text))


# --- tabular: raw cells, featurized afterwards ---

@register_corruption("tabular", "cells-missing", "every cell empty: the modality is absent")
def _tabular_missing(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    edited = frame.copy()
    for column in featurizer.columns:
        hit = rng.random(len(frame)) < level
        edited[column] = edited[column].astype(object).mask(hit, None)
    return featurizer.transform(edited)


@register_corruption("tabular", "row-swap", "every column's values permuted across rows, independently per column")
def _tabular_swap(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    edited = frame.copy()
    for column in featurizer.columns:
        rows = np.flatnonzero(rng.random(len(frame)) < level)  # these cells take another chosen row's value
        values = edited[column].to_numpy(copy=True)
        values[rows] = values[rng.permutation(rows)]
        edited[column] = values
    return featurizer.transform(edited)


# --- vector: standardised features ---

@register_corruption("vector", "gaussian-noise", "noise with the standard deviation of each feature")
def _vector_noise(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    feats = featurizer.transform(frame)
    x = feats.tensors["x"]  # [N, D], standardised on train
    noisy = x + torch.from_numpy(rng.normal(0.0, level, x.shape)).float() * feats.present.view(-1, 1)
    return Features({**feats.tensors, "x": noisy}, feats.present, feats.index)


# --- timeseries: standardised steps and their mask ---

@register_corruption("timeseries", "dropped-steps", "every step dropped: the modality is absent")
def _timeseries_drop(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    feats = featurizer.transform(frame)
    steps = feats.tensors["steps"] & torch.from_numpy(rng.random(tuple(feats.tensors["steps"].shape)) >= level)
    values = feats.tensors["values"] * steps.unsqueeze(-1)  # [N, T, C], dropped steps read as padding
    return Features({"values": values, "steps": steps}, steps.any(1), feats.index)


# --- audio: waveform samples, before the spectrogram ---

@register_corruption("audio", "additive-noise", "white noise at 4 × the clip's RMS (about −12 dB SNR)")
def _audio_noise(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    assert isinstance(featurizer, FileFeaturizer)
    return featurizer.transform(frame, perturb=Perturbation(_add_noise, level, (int(rng.integers(2**63)),)))


def _add_noise(samples: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    rms = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
    return (samples + rng.normal(0.0, 4 * level * rms, samples.shape)).astype(np.float32)
