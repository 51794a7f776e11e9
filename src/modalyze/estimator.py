"""The base of modalyze's estimators (:class:`~modalyze.classifier.Classifier`, :class:`~modalyze.aligner.Aligner`),
in the scikit-learn contract.

- ``__init__`` stores its arguments and nothing else: ``get_params``, ``set_params``, ``clone`` and the
  repr come from the signature (``sklearn.base.BaseEstimator``). An estimator writes only its model
  options; its ``**settings`` are the fields of its ``settings_class``, which the signature shows.
- ``fit`` validates the parameters, then trains and returns ``self``; fitted state ends in ``_``.
- ``fit(X, y)`` takes a DataFrame (or a 2-d array) and its labels (a Series or array): the spec is
  inferred (the ``modalities`` parameter overrides guesses, ``NAME=COL1,COL2:KIND`` as the CLI's
  ``--modality``) and every row trains except a stratified validation part for early stopping. ``fit(X)`` with a table, a spec
  or a built-in name keeps that dataset's train/val/test split (``target=`` names a table's label column).
- No training data stays on the fitted object: :meth:`training_data` reads and featurizes it again.
- A run directory holds the config and the featurizers' state as JSON and the weights as
  safetensors; loading never unpickles.
"""

from __future__ import annotations

import inspect

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from modalyze.data import load_dataset, table_spec
from modalyze.data.batching import FeaturizedDataset
from modalyze.data.prepare import Prepared, featurize_new_rows, featurizer_states, featurizers_from_states, prepare_again
from modalyze.data.table import Table, check_user_rows, load_table
from modalyze.errors import ModalyzeError, naming, reading
from modalyze.run import load_weights, read_json, save_weights, versions, write_json
from modalyze.settings import Settings, with_settings
from modalyze.spec import Spec, SplitSpec

FIT_VAL_FRACTION = 0.1  # fit(X, y): the share of rows held out for early stopping


class NotFitted(ModalyzeError, NotFittedError):
    """A method that needs a fitted estimator was called before ``fit`` or ``load``."""


class Estimator(BaseEstimator):
    """Shared skeleton: settings from the parameters, data in, featurize, save and load."""

    settings_class: ClassVar[type[Settings]]
    schema: ClassVar[str]  # the run directory's config schema

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # its **settings shown as the settings' fields (get_params reads them)
            cls.__init__.__signature__ = with_settings(inspect.signature(cls.__init__), cls.settings_class())

    def _store_params(self, params: dict[str, Any]) -> None:
        """``__init__``'s only work: each argument (its ``locals()``, the training settings in
        ``**settings``) becomes the attribute of its name; an unset setting takes its default."""
        given, defaults = params.get("settings", {}), self.settings_class()
        unknown = [k for k in given if k not in defaults.names()]
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument '{unknown[0]}'")
        for name in self._get_param_names():
            setattr(self, name, params[name] if name in params else given.get(name, getattr(defaults, name)))

    def settings(self) -> Settings:
        """The training settings this estimator's parameters give."""
        return self.settings_class.of(self)

    # --- data in ----------------------------------------------------------------------------------

    def _dataset(self, X: Any, y: Any, target: str | None, frame: pd.DataFrame | None,
                 options: dict[str, Any]) -> tuple[Spec, Table]:
        """The spec and split table that ``fit(X, y, target=..., frame=..., **options)`` trains on."""
        self.__dict__.pop("n_features_in_", None)  # set again by a fit on an array or a DataFrame with y
        self.__dict__.pop("run_dir_", None)  # a loaded model fitted again no longer comes from its run directory
        if y is not None:
            return self._labelled_frame(X, y, target)
        if frame is not None:
            if not isinstance(X, Spec):
                raise ModalyzeError("fit(data, frame=...) needs data to be a Spec describing the frame's columns")
            return X, load_table(X, check_user_rows(frame, "fit(frame=...)"))
        if self.modalities:
            options = {**options, "modalities": self.modalities}
        return load_dataset(X, seed=self.seed, target=target, **options)

    def _labelled_frame(self, X: Any, y: Any, target: str | None) -> tuple[Spec, Table]:
        """fit(X, y): X's columns and the labels ``y`` as one table (every row trains but a validation part)."""
        X = _as_frame(X)
        if not isinstance(X, pd.DataFrame):
            raise ModalyzeError(f"fit(X, y): X must be a DataFrame (or a 2-d array) when y is given, not {type(X).__name__}")
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ModalyzeError(f"fit(X, y): y must hold one label per row of X ({len(X)} rows; got shape {labels.shape})")
        name = target or getattr(y, "name", None) or "target"
        if name in X.columns:
            raise ModalyzeError(f"fit(X, y): X already has a column '{name}'; name the labels with target=...")
        self.n_features_in_ = X.shape[1]  # scikit-learn's record of the input width
        rows = X.reset_index(drop=True).assign(**{name: labels})
        spec, _ = table_spec(rows, name, self.modalities)
        spec = replace(spec, split=SplitSpec(val=FIT_VAL_FRACTION, test=0.0, seed=self.seed))
        return spec, load_table(spec, rows, "fit(X, y)")

    # --- fitted state -----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "featurizers_"):
            raise NotFitted(f"this {type(self).__name__} is not fitted yet: call fit() or {type(self).__name__}.load()")

    def featurize(self, frame: pd.DataFrame, base_dir: str | Path | None = None,
                  unreadable: str | None = None) -> FeaturizedDataset:
        """New rows as tensors through the fitted featurizers; file paths resolve against ``base_dir``
        and ``unreadable`` ('error' or 'missing') overrides how absent or unreadable files are treated."""
        self._check_fitted()
        width = getattr(self, "n_features_in_", None)
        if isinstance(frame, (np.ndarray, list, tuple)) and width is not None and np.shape(frame)[-1] != width:
            raise ModalyzeError(f"X has {np.shape(frame)[-1]} columns; the model was fitted on {width}")
        return featurize_new_rows(self.featurizers_, _as_frame(frame), base_dir, unreadable, self.classes_,
                                  self.spec_.target)

    def featurizer_states(self) -> dict[str, Any]:
        """The fitted featurizers as JSON-able state: equal states mean the same data preparation."""
        self._check_fitted()
        return featurizer_states(self.featurizers_)

    def training_data(self, extra_columns: tuple[str, ...] = ()) -> Prepared:
        """The dataset this model was trained on, split and featurized as in training (read again:
        the fitted object keeps no training rows), with ``extra_columns`` of the source beside the spec's."""
        self._check_fitted()
        with naming(getattr(self, "run_dir_", None) and f"run {self.run_dir_}"):
            return prepare_again(self.spec_, self.seed, self.unreadable, self.featurizers_, self.classes_,
                                 extra_columns)

    # --- persistence ------------------------------------------------------------------------------

    def _save(self, path: str | Path, module: Any, config: dict[str, Any], metrics: dict[str, Any] | None) -> Path:
        """Featurizer state, weights, history and metrics; the config last (its presence marks a complete run)."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "featurizers.json", self.featurizer_states())
        save_weights(module, path / "weights.safetensors")
        if getattr(self, "history_", None):
            write_json(path / "history.json", self.history_)
        if metrics is not None:
            write_json(path / "metrics.json", metrics)
        write_json(path / "config.json", {"schema": self.schema, **config, "spec": self.spec_.to_dict(),
                                          "classes": self.classes_, "train": self.settings().to_dict(),
                                          "unreadable": self.unreadable, "versions": versions()})
        return path

    @classmethod
    def _train_params(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The saved training settings this estimator takes (runs of older versions may lack some)."""
        return {k: v for k, v in config["train"].items() if k in cls.settings_class.names()}

    def _restore(self, path: Path, config: dict[str, Any], module: Any) -> None:
        """Fitted state from a run directory: spec, classes, featurizers, weights into ``module``, history."""
        with reading(path / "config.json", "run configuration"):
            self.spec_ = Spec.from_dict(config["spec"], origin=str(path / "config.json"))
            self.classes_ = list(config["classes"])
        with reading(path / "featurizers.json", "featurizer state"):
            self.featurizers_ = featurizers_from_states(read_json(path / "featurizers.json"), self.spec_.base_dir,
                                                        self.unreadable)
            _check_sizes(self.featurizers_, config["model"]["modalities"], path)
        self.run_dir_ = path
        load_weights(module, path / "weights.safetensors")
        module.eval()
        self.history_ = read_json(path / "history.json") if (path / "history.json").exists() else None


def _check_sizes(featurizers: dict[str, Any], encoders: dict[str, Any], path: Path) -> None:
    """The sizes the model was built from (``config.json``) must be the ones its featurizers give
    (``featurizers.json``): both files are untrusted, and a mismatch would fail deep inside a layer."""
    if set(featurizers) != set(encoders):
        raise ModalyzeError(f"{path / 'featurizers.json'}: modalities {', '.join(featurizers)} do not match "
                            f"config.json's {', '.join(encoders)}")
    for name, featurizer in featurizers.items():
        if json.loads(json.dumps(featurizer.spec_info)) != encoders[name]["info"]:
            raise ModalyzeError(f"{path / 'featurizers.json'}: modality '{name}': the fitted state gives sizes "
                                f"{featurizer.spec_info} but config.json was built for {encoders[name]['info']}")


def _as_frame(X: Any) -> Any:
    """A 2-d array (or nested list) as a DataFrame with columns x0, x1, ... (what ``fit(X, y)`` names
    them); anything else as it is."""
    if isinstance(X, (list, tuple)):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    return X
