"""The scikit-learn-style entry point: ``Classifier(model=...).fit(data)``, predict, score, save, load."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score

from modalyze.data import load_dataset
from modalyze.data.prepare import (Prepared, encode_new_rows, encoder_configs, featurizer_states,
                                   featurizers_from_states, prepare, prepare_again)
from modalyze.data.table import Table, check_user_rows, load_table
from modalyze.errors import ModalyzeError, reading
from modalyze.experts import ModelConfig, build_expert, parse_model_name
from modalyze.options import check_options
from modalyze.run import (RUN_SCHEMA, check_run_dir, count_parameters, load_weights, read_json, save_weights,
                          versions, write_json)
from modalyze.spec import Spec
from modalyze.train import TrainSettings, fit_expert, predict_log_probs
from modalyze.train.engine import BestMembers


class Classifier:
    """A multimodal classifier: one expert (``intra:<m>``, ``inter``, ``additive`` or ``i2m2``).

    >>> clf = Classifier(model="i2m2", max_epochs=20).fit("easy-vqa")
    >>> clf.score(rows)  # accuracy on a DataFrame with the spec's columns and target
    """

    def __init__(self, model: str = "i2m2", *, dim: int = 64, fusion: str = "late", seed: int = 0,
                 max_epochs: int = 100, patience: int = 3, min_steps: int = 500, batch_size: int = 128, lr: float = 2e-3,
                 weight_decay: float = 1e-4, aux_weight: float = 1.0, modality_dropout: float = 0.0,
                 accelerator: str = "auto", devices: int | str = 1,
                 progress: bool = True, unreadable: str = "error", init: list[str | Path] | None = None):
        self.model = model
        self.dim = dim
        self.fusion = fusion
        self.seed = seed
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.aux_weight = aux_weight
        self.modality_dropout = modality_dropout
        self.accelerator = accelerator
        self.devices = devices
        self.progress = progress
        self.unreadable = unreadable
        self.init = init

    # --- fitting --------------------------------------------------------------------------------

    def fit(self, data: str | Path | Spec, frame: pd.DataFrame | None = None, **dataset_options: Any) -> Classifier:
        """Train on a built-in dataset name, a spec file or a :class:`Spec` (rows from ``frame`` if given)."""
        self.check_params()
        spec, table = _open(data, frame, self.seed, dataset_options)
        prepared = prepare(spec, table, self.unreadable)
        return self.fit_prepared(spec, prepared)

    def check_params(self) -> None:
        """Validate the constructor's options (scikit-learn style: at fit time, not in __init__)."""
        check_options(dim=self.dim, fusion=self.fusion, unreadable=self.unreadable, **self.settings().to_dict())

    def fit_prepared(self, spec: Spec, prepared: Prepared) -> Classifier:
        """Train on data that is already featurized (lets a study share one featurization)."""
        self.check_params()
        family, arg = parse_model_name(self.model, list(spec.modalities))
        self.spec_, self.classes_, self.featurizers_ = spec, prepared.classes, prepared.featurizers
        self.config_ = ModelConfig(
            model=self.model, n_classes=len(prepared.classes), dim=self.dim, fusion=self.fusion,
            modalities=encoder_configs(spec, prepared.featurizers))
        L.seed_everything(self.seed, verbose=False)  # initial weights depend on the seed alone
        self.expert_ = build_expert(self.config_)
        for run in self.init or []:
            self._init_from(run)
        if "val" not in prepared.splits:
            raise ModalyzeError(f"{spec.name}: the val split has no rows (early stopping needs validation rows)")
        settings = self.settings()
        rates = {m: s.dropout for m, s in spec.modalities.items() if s.dropout is not None}
        members = BestMembers() if hasattr(self.expert_, "member") and settings.aux_weight else None
        self.history_ = fit_expert(self.expert_, prepared.splits["train"], prepared.splits["val"], settings,
                                   only_present=arg if family == "intra" else None, dropout_rates=rates,
                                   label=self.model, callbacks=[members] if members else None)
        self.member_states_ = members.states if members else {}  # in memory only: see member()
        self.prepared_ = prepared
        return self

    def settings(self) -> TrainSettings:
        return TrainSettings(max_epochs=self.max_epochs, patience=self.patience, min_steps=self.min_steps,
                             batch_size=self.batch_size,
                             lr=self.lr, weight_decay=self.weight_decay, aux_weight=self.aux_weight,
                             modality_dropout=self.modality_dropout, seed=self.seed,
                             accelerator=self.accelerator, devices=self.devices, progress=self.progress)

    def _init_from(self, run: str | Path | Classifier) -> None:
        """Copy a separately trained intra or inter expert into the matching part of a product."""
        source = run if isinstance(run, Classifier) else Classifier.load(run)
        where = getattr(run, "name", str(run))
        if self.config_.model not in ("i2m2", "i2m2-shared", "additive"):
            raise ModalyzeError(f"option init: only i2m2, i2m2-shared and additive start from trained experts, "
                                f"not {self.config_.model}")
        if source.featurizer_states() != self.featurizer_states():
            raise ModalyzeError(f"init run {where}: its featurizers differ (trained on another dataset, split or seed)")
        family, arg = parse_model_name(source.config_.model, list(self.config_.modalities))
        intra = getattr(self.expert_, "intra", None)  # i2m2-shared has no separate intra experts
        target = (intra[arg] if family == "intra" and intra is not None else self.expert_.inter if family == "inter"
                  else None)
        if target is None:
            raise ModalyzeError(f"init run {where}: {self.config_.model} cannot start from a {source.config_.model} "
                                "expert (i2m2-shared starts from an inter expert only)")
        target.load_state_dict(source.expert_.state_dict())

    # --- predicting -----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "expert_"):
            raise ModalyzeError("this Classifier is not fitted yet: call fit() or Classifier.load()")

    def encode(self, frame: pd.DataFrame, base_dir: str | Path | None = None, unreadable: str | None = None):
        """Featurize new rows with the fitted featurizers; image paths resolve against ``base_dir``,
        and ``unreadable`` ('error' or 'missing') overrides how absent or unreadable files are treated."""
        self._check_fitted()
        return encode_new_rows(self.featurizers_, frame, base_dir, unreadable, self.classes_, self.spec_.target)

    def predict_log_proba(self, frame: pd.DataFrame, base_dir: str | Path | None = None) -> np.ndarray:
        data = self.encode(frame, base_dir)
        return predict_log_probs(self.expert_, data).numpy()

    def predict_proba(self, frame: pd.DataFrame, base_dir: str | Path | None = None) -> np.ndarray:
        """Class probabilities [N, C], columns in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(frame, base_dir))

    def predict(self, frame: pd.DataFrame, base_dir: str | Path | None = None) -> np.ndarray:
        log_probs = self.predict_log_proba(frame, base_dir)
        return np.asarray(self.classes_, dtype=object)[log_probs.argmax(1)]

    def score(self, frame: pd.DataFrame, base_dir: str | Path | None = None) -> float:
        """Accuracy on rows that include the target column."""
        if self.spec_.target not in frame.columns:
            raise ModalyzeError(f"score needs the target column '{self.spec_.target}' in the rows")
        truth = frame[self.spec_.target].astype(str).to_numpy()
        return float(accuracy_score(truth, self.predict(frame, base_dir).astype(str)))

    # --- evaluating -----------------------------------------------------------------------------

    def evaluate(self, splits: tuple[str, ...] = ("val", "test")) -> dict[str, Any]:
        """Metrics per split on the dataset this model was trained on (reloaded after ``load``)."""
        prepared = self.training_data()
        out: dict[str, Any] = {}
        for split in splits:
            if split in prepared.splits:
                out[split], _ = split_metrics(self.expert_, prepared.splits[split])
        return out

    def training_data(self) -> Prepared:
        """The dataset this model was trained on, split and featurized as in training (reloaded after ``load``)."""
        self._check_fitted()
        if getattr(self, "prepared_", None) is None:
            self.prepared_ = prepare_again(self.spec_, self.seed, self.unreadable, self.featurizers_, self.classes_)
        return self.prepared_

    def featurizer_states(self) -> dict[str, Any]:
        """The fitted featurizers as JSON-able state: equal states mean the same data preparation."""
        return featurizer_states(self.featurizers_)

    # --- persistence ----------------------------------------------------------------------------

    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write a run directory (JSON + safetensors); ``metrics`` are stored as metrics.json."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "featurizers.json", self.featurizer_states())
        save_weights(self.expert_, path / "weights.safetensors")
        if getattr(self, "history_", None):
            write_json(path / "history.json", self.history_)
        if metrics is not None:
            write_json(path / "metrics.json", metrics)
        write_json(path / "config.json", {  # last: its presence marks the run as complete
            "schema": RUN_SCHEMA, "model": self.config_.to_dict(), "spec": self.spec_.to_dict(),
            "classes": self.classes_, "train": self.settings().to_dict(), "unreadable": self.unreadable,
            "versions": versions()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        """Rebuild a saved classifier from its run directory (never unpickles)."""
        path = check_run_dir(path)
        with reading(path / "config.json", "run configuration"):
            config = read_json(path / "config.json")
            clf = cls(model=config["model"]["model"], dim=config["model"]["dim"], fusion=config["model"]["fusion"],
                      unreadable=config.get("unreadable", "error"), **config["train"])
            clf.check_params()
            clf.spec_ = Spec.from_dict(config["spec"], origin=str(path / "config.json"))
            clf.classes_ = list(config["classes"])
            clf.config_ = ModelConfig(**config["model"])
            clf.expert_ = build_expert(clf.config_)
        with reading(path / "featurizers.json", "featurizer state"):
            clf.featurizers_ = featurizers_from_states(read_json(path / "featurizers.json"), clf.spec_.base_dir,
                                                       clf.unreadable)
        load_weights(clf.expert_, path / "weights.safetensors")
        clf.expert_.eval()
        clf.history_ = read_json(path / "history.json") if (path / "history.json").exists() else None
        return clf

    def member(self, name: str, at_best: bool = True) -> Classifier:
        """Member ``intra:<m>`` or ``inter`` of a fitted i2m2-shared model as a classifier of its own
        (it saves as that expert). ``at_best``: the member's weights from the epoch of its own lowest
        validation loss, as a separately trained expert is kept (right after ``fit`` only; a loaded
        model has its final weights); otherwise a view sharing this model's final parameters."""
        self._check_fitted()
        if not hasattr(self.expert_, "member"):
            raise ModalyzeError(f"model {self.model} has no shared members (only i2m2-shared has)")
        view = copy.copy(self)
        view.model, view.expert_ = name, self.expert_.member(name)
        state = getattr(self, "member_states_", {}).get(name) if at_best else None
        if state is not None:
            view.expert_ = copy.deepcopy(view.expert_)
            view.expert_.load_state_dict(state)
        view.config_ = dataclasses.replace(self.config_, model=name)
        return view

    @property
    def n_parameters(self) -> int:
        self._check_fitted()
        return count_parameters(self.expert_)


def split_metrics(expert: torch.nn.Module, data) -> tuple[dict[str, float], np.ndarray]:
    """Accuracy, macro-F1 and NLL of an expert on an encoded split; also returns log-probs [N, C]."""
    log_probs = predict_log_probs(expert, data)
    y = data.targets
    pred = log_probs.argmax(1)
    metrics = {"accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro")),
               "nll": float(F.nll_loss(log_probs, y)), "n": int(len(y))}
    return metrics, log_probs.numpy()


def _open(data: str | Path | Spec, frame: pd.DataFrame | None, seed: int, options: dict[str, Any]) -> tuple[Spec, Table]:
    if frame is not None:
        if not isinstance(data, Spec):
            raise ModalyzeError("fit(data, frame=...) needs data to be a Spec describing the frame's columns")
        return data, load_table(data, check_user_rows(frame, "fit(frame=...)"))
    return load_dataset(data, seed=seed, **options)

