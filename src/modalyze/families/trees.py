"""The ``trees`` family: histogram gradient-boosted trees (scikit-learn) on dense flat features."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy import sparse
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


# beyond what skops trusts by default, a saved tree model may hold these types and no other: a run
# directory is untrusted input and cannot smuggle code in
TRUSTED_PREFIXES = ("sklearn.ensemble._hist_gradient_boosting.", "sklearn._loss.")


class GradientBoostedTrees(FlatModel):
    """Histogram gradient-boosted trees, grown while the validation log-loss improves (scikit-learn's
    early stopping on the study's validation rows: stopped after ``PATIENCE`` trees without a gain of
    ``TOL``, at most ``MAX_TREES``), predicting with the trees up to the best validation loss."""

    PATIENCE, TOL, MAX_TREES, MAX_WIDTH = 25, 1e-4, 400, 4096
    WITHOUT_VAL = 100  # trees grown when there are no validation rows to stop on

    def fit(self, train: FeaturizedDataset, val: FeaturizedDataset | None = None) -> GradientBoostedTrees:
        rows = self._train_rows(train)
        flat = self._x(train, rows)
        if flat.shape[1] > self.MAX_WIDTH:
            raise Unsuitable(f"{flat.shape[1]} features, more than the {self.MAX_WIDTH} dense trees are fit on")
        x, y = flat.toarray(), train.targets.numpy()[rows]
        self.model_ = HistGradientBoostingClassifier(max_iter=self.WITHOUT_VAL, early_stopping=False,
                                                     l2_regularization=1.0, random_state=self.seed)
        # validation rows of a class the training rows lack cost the same at every stage: they cannot
        # move the best stage, and scikit-learn cannot encode their labels
        seen = np.isin(val.targets.numpy(), np.unique(y)) if val is not None and len(val) else np.zeros(0, bool)
        if not seen.any():
            with one_thread():
                self.model_.fit(x, y)
            self.trees_ = self.model_.n_iter_
            return self
        self.model_.set_params(max_iter=self.MAX_TREES, early_stopping=True, scoring="loss",
                               n_iter_no_change=self.PATIENCE, tol=self.TOL)
        with one_thread():
            self.model_.fit(x, y, X_val=self._x(val).toarray()[seen], y_val=val.targets.numpy()[seen])
        self.trees_ = max(1, int(np.argmax(self.model_.validation_score_[1:])) + 1)  # [0]: before any tree
        return self._keep_best()

    def _keep_best(self) -> GradientBoostedTrees:
        """Drop the trees grown past the best stage, so a saved model holds only the trees it uses
        (scikit-learn keeps them in ``_predictors`` and predicts with all of them)."""
        del self.model_._predictors[self.trees_:]
        self.model_.set_params(max_iter=self.trees_)
        return self

    def _proba(self, x: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        with one_thread():
            return self.model_.predict_proba(x.toarray()), self.model_.classes_

    def size(self) -> int:
        """Tree nodes of the trees kept."""
        return int(sum(len(tree.nodes) for stage in self.model_._predictors for tree in stage))

    def state(self) -> dict[str, np.ndarray]:
        import skops.io

        if getattr(self, "saved_", (None,))[0] is not self.model_:  # dumped once per fitted model (it is slow)
            self.saved_ = (self.model_, np.frombuffer(skops.io.dumps(self.model_), dtype=np.uint8).copy())
        return {"skops": self.saved_[1], "widths": np.asarray(self.widths_), "trees": np.asarray([self.trees_])}

    def load(self, state: dict[str, np.ndarray]) -> GradientBoostedTrees:
        """The fitted trees back from skops' format, trusting only scikit-learn's tree types."""
        import skops.io

        data = state["skops"].astype(np.uint8).tobytes()
        untrusted = [t for t in skops.io.get_untrusted_types(data=data) if not t.startswith(TRUSTED_PREFIXES)]
        if untrusted:
            raise ModalyzeError(f"saved trees hold a type outside scikit-learn's trees: {untrusted[0]}")
        self.model_ = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
        self.widths_, self.trees_ = [int(w) for w in state["widths"]], int(state["trees"][0])
        return self._keep_best()
