"""Every training setting and its default, in one place.

The estimators' parameters (:class:`~modalyze.classifier.Classifier`, :class:`~modalyze.aligner.Aligner`)
and the CLI options take their defaults from these dataclasses; ``tests/test_settings.py`` fails
when a CLI option's or an estimator parameter's default differs from the one here. The module
imports nothing heavy, so ``modalyze --help`` can read it.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

LOGGERS = ("csv", "tensorboard", "mlflow")  # experiment trackers that training curves can go to
EXECUTORS = ("local", "ray")  # where a study's independent trainings run
MODEL_FAMILIES = ("auto", "cheap", "neural", "linear", "trees")  # train --family (see modalyze.families)
EXPERT_FAMILIES = ("auto", "all", "cheap", "neural", "linear", "trees")  # analyze --experts (see modalyze.families)
# --experts auto trains no neural expert where every modality is of these kinds (vectors keep them: on the
# synthetic built-ins a flat inter expert misses PID synergy a neural one finds, docs/measured.md "Cheap first")
CHEAP_KINDS = ("tabular",)
NEURAL_FROM_ROWS = 50_000  # ... and the table has fewer rows (measured: docs/measured.md, "Cheap first")


def option(default: Any, help: str, metavar: str | None = None) -> Any:
    """A setting: its default and the help text (and metavar) of the CLI option generated from it."""
    return field(default=default, metadata={"help": help, "metavar": metavar})


def with_settings(signature: inspect.Signature, defaults: Any) -> inspect.Signature:
    """``signature`` with its ``**settings`` replaced by one keyword-only parameter per field of the
    settings object ``defaults`` (its value the default): what ``help()``, scikit-learn's
    ``get_params`` and the tests read, though no signature lists the settings by hand."""
    hints = {f.name: f.type for f in fields(defaults)}
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=getattr(defaults, name),
                               annotation=hints[name]) for name in defaults.names() if name not in {p.name for p in own}]
    tail = [p for p in own if p.kind is p.KEYWORD_ONLY]
    return signature.replace(parameters=[p for p in own if p.kind is not p.KEYWORD_ONLY] + tail + added)


def takes_settings(settings_class: type) -> Any:
    """Decorate a function whose ``**settings`` are the fields of ``settings_class``: its signature
    shows them with their defaults (see :func:`with_settings`)."""
    def wrap(function: Any) -> Any:
        function.__signature__ = with_settings(inspect.signature(function), settings_class())
        return function
    return wrap


@dataclass
class Options:
    """Settings as fields: every field is a CLI option of the same name (``--max-epochs``), generated from
    the field: its type, default and help (``cli_common.settings_options``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, obj: Any) -> Options:
        """The settings an object (an estimator) holds as attributes of the same names."""
        return cls(**{f.name: getattr(obj, f.name) for f in fields(cls)})

    @classmethod
    def names(cls) -> list[str]:
        """The fields, those shared by every job (seed, devices, ...) last: the order of options in --help."""
        shared = {f.name for f in fields(Common)} if issubclass(cls, Common) else set()
        names = [f.name for f in fields(cls)]
        return [n for n in names if n not in shared] + [n for n in names if n in shared]

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of a setting: its own, or that of the field it overrides."""
        for base in cls.__mro__:
            found = base.__dict__.get("__dataclass_fields__", {}).get(name)
            if found is not None and found.metadata.get("help"):
                return str(found.metadata["help"])
        raise KeyError(name)

    @classmethod
    def metavar(cls, name: str) -> str | None:
        return next((f.metadata.get("metavar") for f in fields(cls) if f.name == name), None)


@dataclass
class Common(Options):
    """Where any training runs, and its seed: shared by training, alignment and the studies."""

    seed: int = option(0, "Seed for data generation (built-ins), split and training.")
    accelerator: str = option("auto", "Lightning accelerator: auto (a GPU when present), cpu, gpu, ...")
    devices: int | str = option(1, "Lightning devices: a count, a list, or 'auto'.")
    progress: bool = option(True, "Show progress bars while training.")


@dataclass
class Settings(Common):
    """How any model is trained."""

    max_epochs: int = option(100, "Upper bound on epochs; early stopping usually ends sooner.")
    patience: int = option(3, "Epochs without validation improvement before stopping.")
    min_steps: int = option(500, "No early stopping before this many optimizer steps (or 32 passes over the "
                                 "training rows if fewer, at least 100).")
    batch_size: int = option(128, "Rows per training batch.")
    lr: float = option(2e-3, "AdamW learning rate.")
    weight_decay: float = option(1e-4, "AdamW weight decay.")
    strategy: str = option("auto", "Lightning strategy (with several devices, auto is DDP allowing parameters a "
                                   "step leaves unused).")
    precision: str | None = option(None, "Lightning precision, e.g. bf16-mixed or 16-mixed (default 32-bit).")
    logger: str | None = option(None, "Send training curves to an experiment tracker: " + ", ".join(LOGGERS) +
                                " (tensorboard and mlflow are extras).")
    log_dir: str | None = option(None, "Where the tracker writes (default ./logs).")


@dataclass
class TrainSettings(Settings):
    """A classifier (an expert or a product of experts)."""

    aux_weight: float = option(1.0, "i2m2, i2m2-shared, additive: weight of the members' own losses added to the "
                                    "product's loss (training and validation).")
    modality_dropout: float = option(0.0, "Rate at which each modality is hidden per training row, so the model "
                                          "learns to predict without it (a spec's per-modality 'dropout:' overrides it).")


@dataclass
class AlignSettings(Settings):
    """Contrastive alignment: longer patience (the contrastive validation loss is noisy), larger batches."""

    max_epochs: int = 60  # a field without help text keeps the one it overrides
    patience: int = 10
    min_steps: int = option(300, "No early stopping before this many optimizer steps.")
    batch_size: int = option(256, "Pairs per batch (the negatives of each pair).")
    lr: float = 1e-3


@dataclass(frozen=True)
class ModelDefaults:
    """Defaults of the model options that are not training settings."""

    dim: int = 64  # every encoder's output width
    fusion: str = "late"
    family: str = "neural"  # a classifier's expert family (modalyze.families): neural, linear, trees, cheap or auto
    unreadable: str = "error"  # an absent or unreadable file: 'error' or 'missing'


@dataclass(frozen=True)
class SplitDefaults:
    """A table's random split (a spec's ``split:``, the CLI's --val, --test, --split-seed)."""

    val: float = 0.1
    test: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class DataDefaults:
    """How files are read (see :mod:`modalyze.data.decoded`)."""

    workers: int | str = "auto"  # DataLoader processes decoding files while the model trains
    feature_cache: bool = True  # decoded files kept on disk, each decoded once per machine


def cache_dir() -> Path:
    """Where generated datasets, decoded files and frozen-tower features go: $MODALYZE_CACHE, else
    ~/.cache/modalyze."""
    return Path(os.environ.get("MODALYZE_CACHE") or Path.home() / ".cache" / "modalyze")


@dataclass(frozen=True)
class RobustnessDefaults:
    """``modalyze robustness RUN``: corruption levels, and the seed and size of the bootstrap."""

    levels: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    seed: int = 0
    bootstrap: int = 400


@dataclass(frozen=True)
class ProbeDefaults:
    """``modalyze probe``: shuffles per modality, and the seed and size of the bootstrap."""

    permutations: int = 3  # seeded permutations per shuffled modality
    seed: int = 0
    bootstrap: int = 1000
    batch_size: int = 256  # rows per call to a model under test
    split: str = "test"


@dataclass(frozen=True)
class AlignDefaults:
    """Contrastive alignment options that are not training settings."""

    loss: str = "clip"
    embed_dim: int = 64  # width of the shared embedding space
    word_dropout: float = 0.2  # each word of a text modality deleted with this probability in training


@dataclass(frozen=True)
class Budget:
    """How much a study (``analyze --budget``, ``compare``) spends: seeds, epochs, resampling."""

    seeds: int
    max_epochs: int
    patience: int
    min_steps: int
    finetune_epochs: int
    permutations: int
    bootstrap: int
    levels: tuple[float, ...]  # corruption levels of the robustness section
    cv_repeats: int  # small data: repeats of the stratified k-fold cross-validation
    cv_folds: int = 5  # ... and its folds (fewer where the rarest class has fewer rows)
    one_pass: bool = False  # every expert from one i2m2-shared training (its heads), not trained apart

    def recipe(self, finetune: bool = False) -> dict[str, int]:
        """The training settings of one expert under this budget: trained from scratch, or fine-tuned
        from trained members (i2m2)."""
        epochs, steps = (self.finetune_epochs, 0) if finetune else (self.max_epochs, self.min_steps)
        return {"max_epochs": epochs, "min_steps": steps, "patience": self.patience}


BUDGETS = {
    # quick: analyze trains one i2m2-shared model (no fine-tuning); compare fine-tunes its i2m2 as fast does
    "quick": Budget(seeds=1, max_epochs=40, patience=3, min_steps=600, finetune_epochs=1, permutations=3,
                    bootstrap=400, levels=(0.0, 0.5, 1.0), cv_repeats=1, one_pass=True),
    "fast": Budget(seeds=1, max_epochs=40, patience=3, min_steps=600, finetune_epochs=1, permutations=3,
                   bootstrap=400, levels=(0.0, 0.5, 1.0), cv_repeats=1),
    "standard": Budget(seeds=3, max_epochs=60, patience=4, min_steps=1000, finetune_epochs=5, permutations=5,
                       bootstrap=1000, levels=(0.0, 0.25, 0.5, 0.75, 1.0), cv_repeats=2),
    "thorough": Budget(seeds=5, max_epochs=100, patience=6, min_steps=2000, finetune_epochs=10, permutations=10,
                       bootstrap=2000, levels=tuple(i / 10 for i in range(11)), cv_repeats=3),
}


MODEL = ModelDefaults()


@dataclass
class CompareSettings(Common):
    """A fusion comparison (``compare``): its budget, the encoders' width, and where the trainings run."""

    budget: str = option("fast", "quick (analyze: one i2m2-shared model, the one-pass estimate; compare trains it "
                                 "as fast), fast (1 seed), standard (3 seeds) or thorough (5 seeds).",
                         metavar="[" + "|".join(BUDGETS) + "]")
    dim: int = option(MODEL.dim, "Width of every encoder's output.")
    unreadable: str = option(MODEL.unreadable, "What an absent or unreadable image file is: 'error' or 'missing'.")
    jobs: int | str = option("auto", "Independent trainings at once, each in its own worker process (1: all in this "
                                     "process; auto: one per core or GPU, but one process below 5,000 training rows).")
    executor: str = option("local", "Where the independent trainings run: local worker processes, or Ray tasks "
                                    "(pip install 'modalyze[ray]').", metavar="[" + "|".join(EXECUTORS) + "]")
    ray_address: str | None = option(None, "With --executor ray: the cluster to join, e.g. ray://head:10001 or auto "
                                           "(default: a running cluster, else a local one).")


@dataclass
class StudySettings(CompareSettings):
    """A dependency study (``analyze``): the comparison's settings, the inter expert's fusion, slices and
    the i2m2 fine-tuning's modality dropout."""

    fusion: str = option(MODEL.fusion, "Fusion block of the inter expert.")
    experts: str = option("auto", "Expert families each intra expert and the inter expert are chosen from, by "
                                  "log-loss on the validation rows: all (neural, linear and, for tabular, vector "
                                  "and time-series inputs, gradient-boosted trees), cheap (no neural experts), "
                                  f"auto (cheap where every modality is {' or '.join(CHEAP_KINDS)} and the table "
                                  f"has fewer than {NEURAL_FROM_ROWS:,} rows, all otherwise), or one family "
                                  "(neural where it does not accept the inputs).",
                          metavar="[" + "|".join(EXPERT_FAMILIES) + "]")
    min_slice_rows: int = option(50, "Slice values with fewer test rows are listed as too few, not scored.")
    modality_dropout: float = option(0.2, "Modality dropout of the i2m2 fine-tuning (the intra and inter experts "
                                          "train without it, so they measure the data as it is).")


TRAIN, ALIGN, STUDY, COMPARE, DATA = TrainSettings(), AlignSettings(), StudySettings(), CompareSettings(), DataDefaults()
ROBUSTNESS, PROBE, ALIGNMENT, SPLIT = RobustnessDefaults(), ProbeDefaults(), AlignDefaults(), SplitDefaults()
