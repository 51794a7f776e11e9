"""Flat features and the models on them; the linear family (the study's baseline): logistic regression.

Each modality's featurized tensors become a flat row of numbers (images and spectrograms average-
pooled to a small grid, categories one-hot, token ids as log-scaled counts of words and of adjacent
word pairs, masks dropped, an absent modality as zeros plus a missing flag), and a scikit-learn
logistic regression is fit on the training rows (a seeded sample of at most ``MAX_TRAIN_ROWS``), its
regularisation chosen among ``C_GRID`` by log-loss on the validation rows (each fit warm-started
from the previous, more regularised one). It takes seconds and is
the floor an expert has to clear: an expert that scores below it has not learned what a linear model
sees in the same inputs.
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from modalyze.data.batching import FeaturizedDataset
from modalyze.data.featurizers import Features
from modalyze.errors import ModalyzeError

MAX_TRAIN_ROWS = 20000
C_GRID = (0.1, 1.0, 10.0)  # inverse regularisation strengths tried; the validation log-loss picks one
PAIR_BUCKETS = 2 ** 16  # adjacent word pairs hashed into this many columns
# L-BFGS iterations: on easy-vqa's pooled pixels 1,000 iterations take 8 s and end unconverged, 200
# take 1.6 s and score within 0.005 of them (benchmarks: docs/measured.md) -- a floor, not a contest
MAX_ITER = 200
POOL = 8  # images: an 8 × 8 grid per channel; sequences: 8 steps per channel

Flatten = Callable[[torch.Tensor], sparse.csr_matrix | np.ndarray]  # [N, ...] -> [N, D], sparse or dense


def _counts(ids: torch.Tensor) -> sparse.csr_matrix:
    """[N, T] token ids -> [N, V] counts (a bag of tokens); V = 0 when there are no ids (T = 0 or N = 0)."""
    ids = ids.reshape(len(ids), -1).numpy().clip(min=0)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    width = int(ids.max()) + 1 if ids.size else 0
    return sparse.csr_matrix((np.ones(ids.size), (rows, ids.ravel())), shape=(len(ids), width))


def _one_hot(codes: torch.Tensor) -> sparse.csr_matrix:
    """[N, K] category codes, one vocabulary per column -> one-hot columns side by side ([N, 0] for K = 0:
    a table of numbers only has no categories)."""
    blocks = [_counts(codes[:, j:j + 1]) for j in range(codes.shape[1])]
    return sparse.hstack(blocks, format="csr") if blocks else sparse.csr_matrix((len(codes), 0))


def _pooled(values: torch.Tensor) -> np.ndarray:
    """Numbers of any shape [N, ...] -> [N, D], images, clips and sequences average-pooled to a small grid."""
    x = values.float()
    if x.ndim == 5:  # clips [N, T, C, H, W]: a grid half as fine per frame
        x = F.adaptive_avg_pool2d(x.flatten(0, 1), POOL // 2).view(len(x), -1)
    elif x.ndim == 4:  # [N, C, H, W]
        x = F.adaptive_avg_pool2d(x, POOL)
    elif x.ndim == 3:  # [N, C, T]
        x = F.adaptive_avg_pool1d(x, POOL)
    return np.nan_to_num(x.reshape(len(x), -1).numpy())


def _ngrams(ids: torch.Tensor) -> sparse.csr_matrix:
    """[N, T] token ids -> [N, PAIR_BUCKETS + V]: log(1 + count) of each adjacent pair of words (hashed),
    then of each word (last: the vocabulary seen grows the block at its end, see ``_stack``); padding
    (id 0) and unknown words (id 1) pair with nothing."""
    ids = ids.reshape(len(ids), -1).numpy().astype(np.int64)
    left, right = ids[:, :-1], ids[:, 1:]
    valid = (left > 1) & (right > 1)
    rows = np.nonzero(valid)[0]
    pairs = sparse.csr_matrix((np.ones(len(rows)), (rows, (left[valid] * 1_000_003 + right[valid]) % PAIR_BUCKETS)),
                              shape=(len(ids), PAIR_BUCKETS))  # duplicates add up: counts
    words = _counts(torch.from_numpy(ids))
    out = sparse.hstack([pairs, words], format="csr")
    out.data = np.log1p(out.data)
    out.eliminate_zeros()
    return out


FLATTEN: dict[str, Flatten] = {"ids": _counts, "input_ids": _counts, "cat": _one_hot}
NGRAMS: dict[str, Flatten] = {**FLATTEN, "ids": _ngrams}  # the linear family reads words and word pairs


def flat(features: Features, rows: np.ndarray, chunk: int = 2048,
         flatten: dict[str, Flatten] = FLATTEN) -> list[sparse.csr_matrix]:
    """One block [N, D_k] per tensor of a modality on ``rows``, after a first block flagging absent rows."""
    present = features.present.numpy()[rows]
    parts: list[list[sparse.csr_matrix]] = []
    for start in range(0, len(rows), chunk):
        taken = features.take(torch.as_tensor(rows[start:start + chunk]))
        keep = present[start:start + chunk, None].astype(float)
        parts.append([_kept(flatten.get(name, _pooled)(t), keep)
                      for name, t in taken.items() if t.dtype != torch.bool])  # masks carry no values
    blocks = [parts[0][k] if len(parts) == 1 else _stack([p[k] for p in parts]) for k in range(len(parts[0]))]
    return [sparse.csr_matrix((~present)[:, None].astype(float)), *blocks]


def _kept(block: sparse.csr_matrix | np.ndarray, keep: np.ndarray) -> sparse.csr_matrix:
    """A block with the rows of absent values zeroed (``keep`` [N, 1]), as CSR (dense blocks are
    zeroed before the one conversion: a table's numbers are most of a study's calls)."""
    if isinstance(block, np.ndarray):
        return sparse.csr_matrix(block * keep)
    return block.multiply(keep).tocsr()


def _stack(chunks: list[sparse.csr_matrix]) -> sparse.csr_matrix:
    """Chunks of one block stacked by rows, padded to the widest (count blocks grow with the ids seen)."""
    width = max(c.shape[1] for c in chunks)
    return sparse.vstack([_width(c, width) for c in chunks], format="csr")


class Unsuitable(ModalyzeError):
    """A family cannot fit these inputs (too wide for dense trees, one class in the training rows): a
    study goes on without it; ``train --family`` says so in one line."""


class FlatModel(ABC):
    """A scikit-learn model on some modalities' flat features; log-probabilities over all classes.
    A subclass fits (``fit``), predicts probabilities (``_proba``) and gives its fitted state as
    arrays (``state`` / ``load``: what a run directory keeps, in safetensors)."""

    flatten: dict[str, Flatten] = FLATTEN

    def __init__(self, modalities: list[str], n_classes: int, seed: int = 0):
        self.modalities, self.n_classes, self.seed = modalities, n_classes, seed

    @abstractmethod
    def fit(self, train: FeaturizedDataset, val: FeaturizedDataset | None = None) -> FlatModel:
        """Fit on the training rows (``val``: the validation rows that tune and stop it)."""

    @abstractmethod
    def _proba(self, x: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities [N, C'] of the classes seen in training, and those classes [C']."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The fitted model as named arrays (what a run's safetensors file keeps)."""

    @abstractmethod
    def size(self) -> int:
        """How many numbers it learned (coefficients, tree nodes)."""

    @abstractmethod
    def load(self, state: dict[str, np.ndarray]) -> FlatModel:
        """The fitted model back from :meth:`state`."""

    def log_probs(self, data: FeaturizedDataset) -> np.ndarray:
        """[N, C] over every class of the study (classes absent from the training rows get ~0)."""
        return self._full(*self._proba(self._x(data)))

    def batch_log_probs(self, batch: dict[str, Any]) -> np.ndarray:
        """[B, C] for one batch of a loader (what an expert's forward pass receives)."""
        features = {m: Features(batch["x"][m], batch["present"][m]) for m in self.modalities}
        return self.log_probs(FeaturizedDataset(features, None))

    def blocks(self, data: FeaturizedDataset, rows: np.ndarray | None = None) -> dict[str, list[sparse.csr_matrix]]:
        """Per modality read, its flat feature blocks on ``rows`` (default: every row)."""
        rows = np.arange(len(data)) if rows is None else rows
        return {m: flat(data.features[m], rows, flatten=self.flatten) for m in self.modalities}

    def log_probs_taken(self, blocks: dict[str, list[sparse.csr_matrix]], rows: dict[str, np.ndarray]) -> np.ndarray:
        """[L, C] where modality m's features are row ``rows[m]`` of its ``blocks`` (flattened once, so
        a shuffle or a PID partner re-indexes rows instead of flattening every batch again)."""
        return self._full(*self._proba(self._joined([b[rows[m]] for m in self.modalities for b in blocks[m]])))

    def _x(self, data: FeaturizedDataset, rows: np.ndarray | None = None) -> sparse.csr_matrix:
        return self._joined([b for blocks in self.blocks(data, rows).values() for b in blocks])

    def _joined(self, blocks: list[sparse.csr_matrix]) -> sparse.csr_matrix:
        if not hasattr(self, "widths_"):
            self.widths_ = [b.shape[1] for b in blocks]
        # ids unseen in the training rows fall outside the training width: cut (or pad) to it
        return sparse.hstack([_width(b, w) for b, w in zip(blocks, self.widths_)], format="csr")

    def _train_rows(self, train: FeaturizedDataset) -> np.ndarray:
        """The training rows fitted on (a seeded sample of at most ``MAX_TRAIN_ROWS``); a single class
        among them gives a classifier nothing to separate."""
        rows = np.arange(len(train))
        if len(rows) > MAX_TRAIN_ROWS:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, MAX_TRAIN_ROWS, replace=False))
        if len(np.unique(train.targets.numpy()[rows])) < 2:
            raise Unsuitable(f"{type(self).__name__}: the training rows hold a single class")
        return rows

    def _full(self, probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """[N, C] log-probabilities over every class of the study (classes absent from training get ~0)."""
        out = np.full((len(probs), self.n_classes), 1e-9)
        out[:, classes] = np.maximum(probs, 1e-9)  # no exact zero: every log-loss stays finite
        out /= out.sum(1, keepdims=True)
        return np.log(out)


class LinearBaseline(FlatModel):
    """Logistic regression (the ``linear`` family), its regularisation chosen on the validation rows."""

    flatten = NGRAMS

    def fit(self, train: FeaturizedDataset, val: FeaturizedDataset | None = None) -> LinearBaseline:
        rows = self._train_rows(train)
        x, y = self._x(train, rows), train.targets.numpy()[rows]
        # columns that are zero on every training row get zero weight under L2: fitting without them
        # gives the same model, and L-BFGS's cost grows with the columns (65,536 hashed word pairs)
        used = np.flatnonzero(x.getnnz(axis=0))
        self.used_ = used if len(used) else np.arange(min(1, x.shape[1]))  # all zero: one column, as before
        x = x[:, self.used_]
        grid = C_GRID if val is not None and len(val) else (1.0,)
        scaler = MaxAbsScaler().fit(x)
        x, x_val = scaler.transform(x), scaler.transform(self._x(val)[:, self.used_]) if len(grid) > 1 else None
        # along the path from strong to weak regularisation, each fit starts from the last one's solution
        model = LogisticRegression(max_iter=MAX_ITER, random_state=self.seed, warm_start=True)
        best = np.inf
        for c in sorted(grid):
            with warnings.catch_warnings():  # short of full convergence is still a fair floor
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.set_params(C=c).fit(x, y)
            loss = 0.0 if x_val is None else _nll(self._full(model.predict_proba(x_val), model.classes_), val)
            if loss < best:
                best, self.c_ = loss, c
                self.model_ = make_pipeline(scaler, copy.deepcopy(model))
        return self

    def _proba(self, x: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self.model_.predict_proba(x[:, self.used_]), self.model_.classes_

    def size(self) -> int:
        return int(self.model_[-1].coef_.size + self.model_[-1].intercept_.size)

    def state(self) -> dict[str, np.ndarray]:
        scaler, model = self.model_[0], self.model_[-1]
        return {"scale": scaler.scale_, "coef": model.coef_, "intercept": model.intercept_, "classes": model.classes_,
                "widths": np.asarray(self.widths_), "c": np.asarray([self.c_]), "used": self.used_}

    def load(self, state: dict[str, np.ndarray]) -> LinearBaseline:
        """Rebuild the fitted pipeline from its arrays (no pickle: the numbers are all it needs)."""
        scaler, model = MaxAbsScaler(), LogisticRegression(C=float(state["c"][0]))
        scaler.scale_ = scaler.max_abs_ = state["scale"]
        scaler.n_features_in_ = model.n_features_in_ = len(state["scale"])
        model.coef_, model.intercept_, model.classes_ = state["coef"], state["intercept"], state["classes"]
        self.model_, self.widths_, self.c_ = make_pipeline(scaler, model), [int(w) for w in state["widths"]], float(state["c"][0])
        self.used_ = state["used"] if "used" in state else np.arange(sum(self.widths_))  # runs saved before pruning
        return self


def _nll(log_probs: np.ndarray, data: FeaturizedDataset) -> float:
    """Mean log-loss of [N, C] log-probabilities on ``data``'s labels."""
    return float(-log_probs[np.arange(len(data)), data.targets.numpy()].mean())


def _width(block: sparse.csr_matrix, width: int) -> sparse.csr_matrix:
    if block.shape[1] == width:
        return block
    if block.shape[1] > width:
        return block[:, :width]
    return sparse.hstack([block, sparse.csr_matrix((block.shape[0], width - block.shape[1]))], format="csr")

