"""Modality kinds as plug-ins: everything about a kind in one registered :class:`Kind`.

A kind (image, text, tabular, ...) is one module of :mod:`modalyze.kinds` that calls
:func:`register_kind` with its featurizer, encoder, corruptions, file suffixes, inference rule,
column rule and pretrained mapping. This module sits low in the house: the spec, its schema, spec
inference, pretrained loading and corruptions read the registries below, and the plug-ins
fill them when the first lookup imports :mod:`modalyze.kinds`. A kind outside the package (a test's,
a user's) is one call to :func:`register_kind`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from modalyze.files import container
from modalyze.registry import Registry

PRETRAINED_KEYS = ("hf", "freeze", "max_len")  # a modality's ``encoder:`` keys that choose a pretrained tower


def _load_plugins() -> None:
    importlib.import_module("modalyze.kinds")


KINDS: Registry[Kind] = Registry("modality kind", load=_load_plugins)
FEATURIZERS: Registry[Any] = Registry("featurizer", load=_load_plugins)  # name -> Featurizer class
ENCODERS: Registry[Any] = Registry("encoder", load=_load_plugins)  # name -> encoder nn.Module class


@dataclass(frozen=True)
class Corruption:
    """Graded damage to one kind's inputs (see :mod:`modalyze.data.corruptions`)."""

    name: str
    extreme: str  # what level 1 does
    apply: Callable[..., Any]  # (featurizer, frame, level, numpy Generator) -> Features
    random: bool = True  # False: the seed plays no part (blur)


@dataclass(frozen=True)
class Pretrained:
    """How a kind maps onto a Hugging Face model read from a local directory."""

    processor: str  # the transformers auto-class of its processor ("AutoImageProcessor")
    inputs: Callable[[Any, list[Any], dict[str, Any]], dict[str, Any]]  # (processor, values, options) -> model inputs
    tower: str | None = None  # the attribute of a dual-tower model holding this kind's tower ("vision_model")
    files: bool = True  # cells are file paths (image, audio), not the values themselves (text)
    prompt_input: str | None = None  # the keyword a generative model's processor takes it under ("images")
    read: Callable[[Path], Any] | None = None  # one file -> what that keyword takes (a PIL image)


@dataclass(frozen=True)
class Kind:
    """Everything the house knows about one modality kind."""

    name: str
    featurizer: type  # a :class:`~modalyze.data.featurizers.Featurizer`; its ``option_types`` are the spec's options
    encoder: type  # an ``nn.Module`` (info, dim, **options) -> EncoderOutput; its signature types its options
    corruptions: tuple[Corruption, ...] = ()
    one_column: bool = False  # reads exactly one column (a file path, a sequence)
    grouped: bool = False  # an inferred spec puts every column of this kind in one modality (tabular, text)
    suffixes: tuple[str, ...] = ()  # an inferred spec reads a column of paths with these suffixes as this kind
    recognise: Callable[[pd.Series], bool] | None = None  # ... or a column of cells this returns True for
    pretrained: Pretrained | None = None
    views: bool = False  # the spec's ``view:`` key (channels, patches) applies
    folders: bool = False  # an inferred spec reads a column of folders holding image files as this kind (frames)
    order: str | None = None  # the corruption that shuffles time: the study's temporal-order condition
    # probe's order condition for models outside modalyze: (the modality's raw cells, base_dir, a folder
    # for written files, seed) -> the cells with time shuffled within each row
    reorder: Callable[[pd.DataFrame, Path, Path, int], pd.DataFrame] | None = None
    encoder_aliases: dict[str, dict[str, Any]] = field(default_factory=dict)  # ``encoder: minilm`` -> options

    def claims(self, cells: pd.Series, base_dir: Path) -> bool:
        """Whether an inferred spec reads a column (its non-empty ``cells``) as this kind: paths with one
        of its suffixes, at least one of which exists, or cells its ``recognise`` rule accepts."""
        if self.folders or self.suffixes:
            paths = cells.astype(str).str.strip()
            located = [Path(p) if Path(p).is_absolute() else base_dir / p for p in paths.head(20)]
            if self.folders and located and all(_holds_images(p) for p in located):
                return True
            if self.suffixes and paths.str.lower().str.endswith(self.suffixes).all() and \
                    any(container(p).is_file() for p in located):
                return True
        return self.recognise is not None and bool(self.recognise(cells))


def _holds_images(folder: Path) -> bool:
    """A folder with an image file in it (False for anything else: a file, text too long to be a path)."""
    try:
        return folder.is_dir() and any(p.suffix.lower() in get_kind("image").suffixes for p in folder.iterdir())
    except OSError:
        return False


def register_kind(kind: Kind) -> Kind:
    """Register a kind, its featurizer and its encoder under the kind's name."""
    kind.featurizer.kind = kind.name
    KINDS.register(kind.name)(kind)
    FEATURIZERS.register(kind.name)(kind.featurizer)
    ENCODERS.register(kind.name)(kind.encoder)
    return kind


def kinds() -> list[str]:
    """The modality kinds a spec may declare."""
    return KINDS.names()


def get_kind(name: str) -> Kind:
    """The registered kind (an unknown name lists the known ones)."""
    return KINDS.get(name)
