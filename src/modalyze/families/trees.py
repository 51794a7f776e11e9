"""The ``trees`` family: histogram gradient-boosted trees (scikit-learn) on dense flat features."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy import sparse, special
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController

from modalyze.data.batching import FeaturizedDataset
from modalyze.errors import ModalyzeError
from modalyze.families.flat import FlatModel, Unsuitable


@functools.cache
def _controller() -> ThreadpoolController:
    """The loaded thread pools, found once (finding them takes milliseconds; trees predict often)."""
    return ThreadpoolController()


def one_thread() -> Any:
    """A context in which scikit-learn's trees run on one OpenMP thread. Two OpenMP runtimes share the
    process (scikit-learn's and PyTorch's); with scikit-learn's loaded first, a fit on default threads
    took 4-60x longer than on one thread on 2 cores, and loaded the other way round it was no faster
    (``benchmarks/trees_threads.py``: 40 rows 0.555 s against 0.009 s; 2,000 rows 1.233 s against
    0.122 s; torch first, 0.194 s against 0.138 s)."""
    return _controller().limit(limits=1, user_api="openmp")


# what prediction reads of each tree node (scikit-learn's node record); a saved model is these arrays
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")


class GradientBoostedTrees(FlatModel):
    """Histogram gradient-boosted trees, grown while the validation log-loss improves (scikit-learn's
    early stopping on the study's validation rows: stopped after ``PATIENCE`` trees without a gain of
    ``TOL``, at most ``MAX_TREES``), predicting with the trees up to the best validation loss.

    Fitted, it keeps scikit-learn's tree predictors up to the best stage (``predictors_``: one list per
    stage, one tree per class, or one for two classes), their starting score and the classes; a saved
    model is each tree's node arrays, checked on load (no pickle, no object graph to trust)."""

    PATIENCE, TOL, MAX_TREES, MAX_WIDTH = 25, 1e-4, 400, 4096
    WITHOUT_VAL = 100  # trees grown when there are no validation rows to stop on

    def fit(self, train: FeaturizedDataset, val: FeaturizedDataset | None = None) -> GradientBoostedTrees:
        rows = self._train_rows(train)
        flat = self._x(train, rows)
        if flat.shape[1] > self.MAX_WIDTH:
            raise Unsuitable(f"{flat.shape[1]} features, more than the {self.MAX_WIDTH} dense trees are fit on")
        x, y = flat.toarray(), train.targets.numpy()[rows]
        model = HistGradientBoostingClassifier(max_iter=self.WITHOUT_VAL, early_stopping=False,
                                               l2_regularization=1.0, random_state=self.seed)
        # validation rows of a class the training rows lack cost the same at every stage: they cannot
        # move the best stage, and scikit-learn cannot encode their labels
        seen = np.isin(val.targets.numpy(), np.unique(y)) if val is not None and len(val) else np.zeros(0, bool)
        stop_on = {}
        if seen.any():
            model.set_params(max_iter=self.MAX_TREES, early_stopping=True, scoring="loss",
                             n_iter_no_change=self.PATIENCE, tol=self.TOL)
            stop_on = {"X_val": self._x(val).toarray()[seen], "y_val": val.targets.numpy()[seen]}
        with one_thread():
            model.fit(x, y, **stop_on)
        # validation_score_[0] is before any tree
        self.trees_ = max(1, int(np.argmax(model.validation_score_[1:])) + 1) if stop_on else model.n_iter_
        # the stages past the best are dropped: a prediction and a saved model use only the trees kept
        self.predictors_ = model._predictors[:self.trees_]
        self.baseline_, self.classes_ = model._baseline_prediction.ravel(), model.classes_
        return self

    def _proba(self, x: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        dense = np.ascontiguousarray(x.toarray(), dtype=np.float64)  # [N, D]
        no_categories = np.zeros((0, 8), dtype=np.uint32), np.zeros(dense.shape[1], dtype=np.uint32)
        raw = np.tile(self.baseline_, (len(dense), 1))  # [N, K]: K trees a stage (1 for two classes)
        for stage in self.predictors_:
            for k, tree in enumerate(stage):
                raw[:, k] += tree.predict(dense, *no_categories, n_threads=1)
        if raw.shape[1] == 1:  # two classes: the score is the second class's log-odds
            second = special.expit(raw[:, 0])
            return np.stack([1 - second, second], axis=1), self.classes_
        return special.softmax(raw, axis=1), self.classes_

    def size(self) -> int:
        """Tree nodes of the trees kept."""
        return int(sum(len(tree.nodes) for stage in self.predictors_ for tree in stage))

    def state(self) -> dict[str, np.ndarray]:
        trees = [tree.nodes for stage in self.predictors_ for tree in stage]
        return {**{f"node_{f}": np.concatenate([t[f] for t in trees]) for f in NODE_FIELDS},
                "nodes_per_tree": np.asarray([len(t) for t in trees]), "baseline": self.baseline_,
                "classes": self.classes_, "widths": np.asarray(self.widths_)}

    def load(self, state: dict[str, np.ndarray]) -> GradientBoostedTrees:
        """The fitted trees back from their node arrays, each checked: every split reads a feature that
        exists and sends a row to a later node of the same tree (so every walk ends at a leaf)."""
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        if "skops" in state:
            raise ModalyzeError("saved trees in the former skops format: train this run again")
        missing = [k for k in ("nodes_per_tree", "baseline", "classes", "widths")
                   if k not in state] + [f"node_{f}" for f in NODE_FIELDS if f"node_{f}" not in state]
        if missing:
            raise ModalyzeError(f"saved trees lack the array {missing[0]!r}")
        self.widths_ = [int(w) for w in state["widths"]]
        self.baseline_, self.classes_ = state["baseline"].astype(np.float64), state["classes"]
        counts, per_stage = state["nodes_per_tree"].astype(np.int64), len(self.baseline_)  # a tree per score a stage
        if per_stage < 1 or len(counts) % per_stage or (counts < 1).any() or counts.sum() != len(state["node_left"]):
            raise ModalyzeError("saved trees: the node counts do not match the trees")
        self.trees_ = len(counts) // per_stage
        nodes = np.zeros(int(counts.sum()), dtype=PREDICTOR_RECORD_DTYPE)
        for f in NODE_FIELDS:
            nodes[f] = state[f"node_{f}"]
        trees = np.split(nodes, np.cumsum(counts)[:-1])
        for tree in trees:
            _check_tree(tree, sum(self.widths_))
        empty = np.zeros((0, 8), dtype=np.uint32)
        predictors = [TreePredictor(tree, empty, empty) for tree in trees]
        self.predictors_ = [predictors[i:i + per_stage] for i in range(0, len(predictors), per_stage)]
        return self


def _check_tree(nodes: np.ndarray, features: int) -> None:
    """A loaded tree's splits read existing features and point forward inside the tree."""
    index = np.arange(len(nodes))
    split = nodes["is_leaf"] == 0
    children = np.concatenate([nodes["left"][split], nodes["right"][split]]).astype(np.int64)
    parents = np.concatenate([index[split], index[split]])
    if not nodes["is_leaf"][-1] or (children <= parents).any() or (children >= len(nodes)).any():
        raise ModalyzeError("saved trees: a split points outside its tree or backwards")
    feature = nodes["feature_idx"][split]
    if (feature < 0).any() or (feature >= features).any():
        raise ModalyzeError(f"saved trees: a split reads a feature outside the {features} the model was fit on")
