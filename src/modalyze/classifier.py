"""The classifier estimator: ``Classifier(model=...).fit(X, y)`` or ``.fit(data)``, predict, score, save, load.

It follows the scikit-learn contract (see :mod:`modalyze.estimator`): ``clone``, ``get_params`` /
``set_params``, ``GridSearchCV`` and ``cross_val_score`` work on DataFrames.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin, clone
from sklearn.metrics import accuracy_score, f1_score

from modalyze.data.prepare import Prepared, encoder_configs, prepare
from modalyze.errors import ModalyzeError, reading
from modalyze.estimator import Estimator
from modalyze.experts import PRODUCTS, ModelConfig, build_expert, member_names, parse_model_name
from modalyze.options import check_options
from modalyze.run import RUN_SCHEMA, check_run_dir, count_parameters, read_json
from modalyze.settings import MODEL, TrainSettings
from modalyze.spec import Spec
from modalyze.train import fit_expert, predict_log_probs
from modalyze.train.engine import BestMembers
from modalyze.train.weighting import fit_member_weights


class Classifier(ClassifierMixin, Estimator):
    """A multimodal classifier: one expert (``intra:<m>``, ``inter``, ``additive``, ``i2m2`` or ``i2m2-shared``).

    >>> clf = Classifier(model="i2m2", max_epochs=20).fit(X, y)   # a DataFrame and its labels
    >>> clf = Classifier(model="i2m2").fit("easy-vqa")            # or a table (target=...), a spec, a built-in
    >>> clf.score(rows)  # accuracy on a DataFrame with the spec's columns and target

    Parameter defaults come from :mod:`modalyze.settings`.
    """

    settings_class = TrainSettings
    schema = RUN_SCHEMA

    def __init__(self, model: str = "i2m2", *, family: str = MODEL.family, dim: int = MODEL.dim,
                 fusion: str = MODEL.fusion, unreadable: str = MODEL.unreadable, modalities: list[str] | None = None,
                 init: list[str | Path] | None = None, **settings: Any):  # settings: TrainSettings' fields
        self._store_params(locals())

    # --- fitting --------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, *, target: str | None = None, frame: pd.DataFrame | None = None,
            **dataset_options: Any) -> Classifier:
        """Train on a DataFrame ``X`` with labels ``y``; or on a table (with ``target``), a spec file, a
        :class:`Spec` (rows from ``frame`` if given) or a built-in dataset name (``dataset_options``)."""
        self.check_params()
        spec, table = self._dataset(X, y, target, frame, dataset_options)
        return self.fit_prepared(spec, prepare(spec, table, self.unreadable))

    def check_params(self) -> None:
        """Validate the constructor's options (scikit-learn style: at fit time, not in __init__)."""
        check_options(dim=self.dim, fusion=self.fusion, unreadable=self.unreadable, family=self.family,
                      **self.settings().to_dict())
        if self.family != "neural" and self.model.partition(":")[0] not in ("intra", "inter", *PRODUCTS):
            raise ModalyzeError(f"option family={self.family}: {self.model} shares its encoders between members, so "
                                f"only the neural family builds it (other families: intra:<modality>, inter, "
                                f"{', '.join(PRODUCTS)})")

    def fit_prepared(self, spec: Spec, prepared: Prepared) -> Classifier:
        """Train on data that is already featurized (lets a study share one featurization)."""
        self.check_params()
        family, arg = parse_model_name(self.model, list(spec.modalities))
        if "val" not in prepared.splits:
            raise ModalyzeError(f"{spec.name}: the val split has no rows (early stopping needs validation rows)")
        self.spec_, self.classes_, self.featurizers_ = spec, prepared.classes, prepared.featurizers
        self.config_ = ModelConfig(
            model=self.model, n_classes=len(prepared.classes), dim=self.dim, fusion=self.fusion,
            modalities=encoder_configs(spec, prepared.featurizers))
        if self.family != "neural" and family in PRODUCTS:
            return self._fit_product_of_families(spec, prepared)
        if self.family != "neural":
            return self._fit_families(spec, prepared, [arg] if family == "intra" else list(spec.modalities))
        L.seed_everything(self.seed, verbose=False)  # initial weights depend on the seed alone
        self.expert_ = build_expert(self.config_)
        for run in self.init or []:
            self._init_from(run)
        settings = self.settings()
        rates = {m: s.dropout for m, s in spec.modalities.items() if s.dropout is not None}
        members = BestMembers() if hasattr(self.expert_, "member") and settings.aux_weight else None
        self.history_ = fit_expert(self.expert_, prepared.splits["train"], prepared.splits["val"], settings,
                                   only_present=arg if family == "intra" else None, dropout_rates=rates,
                                   label=self.model, callbacks=[members] if members else None)
        self.member_states_ = members.states if members else {}  # in memory only: see member()
        if hasattr(self.expert_, "member_weights"):
            self.history_["member_weights"] = fit_member_weights(self.expert_, prepared.splits["val"])
        return self

    def _fit_families(self, spec: Spec, prepared: Prepared, members: list[str]) -> Classifier:
        """A flat model of ``family`` on ``members`` (``cheap``: every flat family that reads their kinds,
        ``auto``: those and the neural expert; the one with the lowest validation log-loss kept). Every flat
        model fitted stays in ``candidates_`` (in memory), so a study scores them without fitting again."""
        from modalyze.families import FAMILIES, FlatExpert, Unsuitable

        kinds = [spec.modalities[m].kind for m in members]
        choose = self.family in ("auto", "cheap")
        names = [f.name for f in FAMILIES.entries.values() if f.accepts(kinds)] if choose else [self.family]
        if not FAMILIES.get(names[0]).accepts(kinds):
            raise ModalyzeError(f"option family={self.family}: {self.family} does not read {', '.join(sorted(set(kinds)))} "
                                f"inputs (it reads {', '.join(FAMILIES.get(names[0]).kinds or ())})")
        train, val = prepared.splits["train"], prepared.splits["val"]
        candidates: list[tuple[float, str, Any, dict[str, Any]]] = []
        if self.family == "auto":
            neural = clone(self).set_params(family="neural").fit_prepared(spec, prepared)
            candidates.append((split_metrics(neural.expert_, val)[0]["nll"], "neural", neural.expert_, neural.history_))
        skipped: Unsuitable | None = None
        for name in names:
            start = time.perf_counter()
            try:
                model = FAMILIES.get(name).create(members, len(prepared.classes), self.seed).fit(train, val)
            except Unsuitable as why:
                if not choose:
                    raise
                skipped = why  # another family may read these inputs
                continue
            expert, seconds = FlatExpert(name, members, len(prepared.classes), model), time.perf_counter() - start
            history = {"train_time_s": seconds, "epochs": [], "samples_per_s": len(train) / max(seconds, 1e-9)}
            candidates.append((split_metrics(expert, val)[0]["nll"], name, expert, history))
        if not candidates and skipped is not None:
            raise skipped
        self.candidates_ = {name: expert for _, name, expert, _ in candidates if name != "neural"}
        _, chosen, self.expert_, self.history_ = min(candidates, key=lambda c: c[0])
        self.history_ = {**self.history_, "family": chosen,
                         "validation_nll": {name: nll for nll, name, _, _ in candidates},
                         "fit_seconds": {name: h["train_time_s"] for _, name, _, h in candidates if name != "neural"}}
        self.config_ = dataclasses.replace(self.config_, family=chosen)
        self.member_states_ = {}
        return self

    def _fit_product_of_families(self, spec: Spec, prepared: Prepared) -> Classifier:
        """A product whose members are each fitted alone in ``family`` (``auto``: each member's lowest
        validation log-loss among the families that read its inputs, neural included), or taken as trained
        from ``init`` (runs or classifiers of those members), then weighted per presence pattern on the
        validation rows. Flat members cannot be fine-tuned, so nothing is trained jointly."""
        names = member_names(list(spec.modalities), with_inter=self.model == "i2m2")
        given = {c.model: c for c in (r if isinstance(r, Classifier) else Classifier.load(r) for r in self.init or [])}
        fitted = {n: given.get(n) or clone(self).set_params(model=n, init=None).fit_prepared(spec, prepared)
                  for n in names}
        self.config_ = dataclasses.replace(self.config_, family=self.family,
                                           members={n: clf.config_.family for n, clf in fitted.items()})
        self.expert_ = build_expert(self.config_)
        for name, clf in fitted.items():
            if name == "inter":
                self.expert_.inter = clf.expert_
            else:
                self.expert_.intra[name.split(":", 1)[1]] = clf.expert_
        seconds = sum(clf.history_["train_time_s"] for clf in fitted.values())
        self.history_ = {"family": self.config_.members, "members": {n: clf.history_ for n, clf in fitted.items()},
                         "member_weights": fit_member_weights(self.expert_, prepared.splits["val"]),
                         "train_time_s": seconds, "epochs": [],
                         "samples_per_s": len(names) * len(prepared.splits["train"]) / max(seconds, 1e-9)}
        self.member_states_ = {}
        return self

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

    def predict_log_proba(self, X: pd.DataFrame, base_dir: str | Path | None = None) -> np.ndarray:
        """Log-probabilities [N, C], columns in the order of ``classes_``."""
        data = self.featurize(X, base_dir)  # checks that the model is fitted
        return predict_log_probs(self.expert_, data).numpy()

    def predict_proba(self, X: pd.DataFrame, base_dir: str | Path | None = None) -> np.ndarray:
        """Class probabilities [N, C], columns in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(X, base_dir))

    def predict(self, X: pd.DataFrame, base_dir: str | Path | None = None) -> np.ndarray:
        """The most probable class of each row (the labels as given in training)."""
        best = self.predict_log_proba(X, base_dir).argmax(1)
        return np.asarray(self.classes_)[best]

    def score(self, X: pd.DataFrame, y: Any = None, base_dir: str | Path | None = None) -> float:
        """Accuracy on ``X`` against ``y``, or against X's target column when ``y`` is not given."""
        self._check_fitted()
        if y is None:
            if self.spec_.target not in X.columns:
                raise ModalyzeError(f"score needs labels: y, or the target column '{self.spec_.target}' in the rows")
            y = X[self.spec_.target]
        truth = np.asarray(y).astype(str)
        return float(accuracy_score(truth, self.predict(X, base_dir).astype(str)))

    # --- evaluating -----------------------------------------------------------------------------

    def evaluate(self, splits: tuple[str, ...] = ("val", "test")) -> dict[str, Any]:
        """Metrics per split on the dataset this model was trained on (reloaded after ``load``)."""
        prepared = self.training_data()
        out: dict[str, Any] = {}
        for split in splits:
            if split in prepared.splits:
                out[split], _ = split_metrics(self.expert_, prepared.splits[split])
        return out

    # --- persistence ----------------------------------------------------------------------------

    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write a run directory (JSON + safetensors); ``metrics`` are stored as metrics.json."""
        self._check_fitted()
        return self._save(path, self.expert_, {"model": self.config_.to_dict()}, metrics)

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        """Rebuild a saved classifier from its run directory (never unpickles)."""
        path = check_run_dir(path)
        with reading(path / "config.json", "run configuration"):
            config = read_json(path / "config.json")
            model = config["model"]
            clf = cls(model=model["model"], family=model.get("family", "neural"), dim=model["dim"], fusion=model["fusion"],
                      unreadable=config.get("unreadable", MODEL.unreadable), **cls._train_params(config))
            clf.check_params()
            clf.config_ = ModelConfig(**model)
            clf.expert_ = build_expert(clf.config_)
        clf._restore(path, config, clf.expert_)
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
        return getattr(self.expert_, "n_parameters", None) or count_parameters(self.expert_)


def split_metrics(expert: torch.nn.Module, data) -> tuple[dict[str, float], np.ndarray]:
    """Accuracy, macro-F1 and NLL of an expert on an encoded split; also returns log-probs [N, C]."""
    log_probs = predict_log_probs(expert, data)
    y = data.targets
    pred = log_probs.argmax(1)
    metrics = {"accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro")),
               "nll": float(F.nll_loss(log_probs, y)), "n": int(len(y))}
    return metrics, log_probs.numpy()

