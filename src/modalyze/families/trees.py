"""The ``trees`` family: histogram gradient-boosted trees (scikit-learn) on dense flat features."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier

from modalyze.data.batching import FeaturizedDataset
from modalyze.errors import ModalyzeError
from modalyze.families.flat import FlatModel, Unsuitable, _nll

# beyond what skops trusts by default, a saved tree model may hold these types and no other: a run
# directory is untrusted input and cannot smuggle code in
TRUSTED_PREFIXES = ("sklearn.ensemble._hist_gradient_boosting.", "sklearn._loss.")


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
        return self._keep_best()

    def _keep_best(self) -> GradientBoostedTrees:
        """Drop the trees grown past the best stage, so a prediction is one call (not a staged walk on
        every shuffle and PID partner) and a saved model holds only the trees it uses. scikit-learn keeps
        the stages in ``_predictors`` and predicts with all of them."""
        del self.model_._predictors[self.trees_:]
        self.model_.set_params(max_iter=self.trees_)
        return self

    def _proba(self, x: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
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
