"""Expert families: the models a study fits for each modality and for all of them, beside its neural experts.

A dependency profile is only as true as its experts, so the study asks more than one family and keeps,
for each intra expert and for the inter expert, the one with the lowest log-loss on the validation rows
(:func:`modalyze.analysis.scoring.check_experts`; the test rows play no part in the choice):

- ``neural``: the trained experts of :mod:`modalyze.experts` (every kind; shuffles, PID and robustness
  are measured on them);
- ``linear``: logistic regression on flat features (:class:`~modalyze.analysis.baseline.LinearBaseline`:
  word and word-pair counts for text, scaled numbers and one-hot categories for tables, pooled pixels),
  its regularisation chosen on the validation rows; every kind;
- ``trees``: gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) on tabular,
  vector and time-series inputs, grown until the validation log-loss stops improving.

A product of experts needs only log-probabilities, so the additive product mixes families freely.
A new family is one :func:`register_family` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from modalyze.analysis.baseline import FlatModel, LinearBaseline, _nll
from modalyze.data.batching import FeaturizedDataset
from modalyze.registry import Registry

NEURAL = "neural"


class Unsuitable(Exception):
    """A family cannot fit these inputs (too wide for dense trees): the study goes on without it."""


@dataclass(frozen=True)
class Family:
    """A family of experts: what it is, the kinds it accepts (None: every kind) and how to build one."""

    name: str
    model: str  # what the report calls it
    create: Callable[[list[str], int, int], Any]  # (modalities, n_classes, seed) -> .fit(train, val), .log_probs(data)
    kinds: tuple[str, ...] | None = None

    def accepts(self, kinds: list[str]) -> bool:
        return self.kinds is None or all(k in self.kinds for k in kinds)


FAMILIES: Registry[Family] = Registry("expert family")


def register_family(family: Family) -> Family:
    return FAMILIES.register(family.name)(family)


def fitted_families(choice: str, kinds: list[str]) -> list[Family]:
    """The families a study fits beside the neural expert for inputs of ``kinds``: the linear family
    always (it is also the baseline check), the others that accept the kinds under ``auto`` or by name."""
    return [f for f in FAMILIES.entries.values()
            if f.accepts(kinds) and (f.name == "linear" or choice in ("auto", f.name))]


def selectable(choice: str) -> set[str] | None:
    """The families ``--experts`` lets the validation rows choose from (None: every one fitted)."""
    return None if choice == "auto" else {choice}


class GradientBoostedTrees(FlatModel):
    """Histogram gradient-boosted trees, grown ``STEP`` trees at a time while the validation log-loss
    improves (at most ``MAX_TREES``), predicting with the best number of trees."""

    STEP, PATIENCE, MAX_TREES, MAX_WIDTH = 25, 2, 400, 4096

    def fit(self, train: FeaturizedDataset, val: FeaturizedDataset | None = None) -> GradientBoostedTrees:
        rows = self._train_rows(train)
        flat = self._x(train, rows)
        if flat.shape[1] > self.MAX_WIDTH:
            raise Unsuitable(f"{flat.shape[1]} features, more than the {self.MAX_WIDTH} dense trees are fit on")
        x, y = flat.toarray(), train.targets.numpy()[rows]
        self.model_ = HistGradientBoostingClassifier(max_iter=self.STEP, warm_start=True, early_stopping=False,
                                                     l2_regularization=1.0, random_state=self.seed)
        if val is None or not len(val):
            self.model_.set_params(max_iter=100).fit(x, y)
            self.trees_ = self.model_.n_iter_
            return self
        x_val, best, since = self._x(val).toarray(), np.inf, 0
        while since < self.PATIENCE and self.model_.max_iter <= self.MAX_TREES:
            self.model_.fit(x, y)
            for trees, probs in enumerate(self.model_.staged_predict_proba(x_val), start=1):
                if trees > self.model_.max_iter - self.STEP:  # only the stages this round added
                    loss = _nll(self._full(probs, self.model_.classes_), val)
                    if loss < best - 1e-4:
                        best, self.trees_, since = loss, trees, -1
            since += 1
            self.model_.set_params(max_iter=self.model_.max_iter + self.STEP)
        return self

    def log_probs(self, data: FeaturizedDataset) -> np.ndarray:
        """[N, C] with the best number of trees."""
        x = self._x(data).toarray()
        for trees, probs in enumerate(self.model_.staged_predict_proba(x), start=1):
            if trees == self.trees_:
                return self._full(probs, self.model_.classes_)
        raise AssertionError("unreachable: trees_ <= n_iter_")


register_family(Family("linear", "logistic regression (scikit-learn)", LinearBaseline))
register_family(Family("trees", "gradient-boosted trees (scikit-learn)", GradientBoostedTrees,
                       kinds=("tabular", "vector", "timeseries")))
