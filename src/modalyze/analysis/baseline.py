"""The linear baseline a study checks its experts against: logistic regression per modality and joint.

Each modality's featurized tensors become a flat row of numbers (images and spectrograms average-
pooled to a small grid, token ids and categories as counts, masks dropped, an absent modality as
zeros plus a missing flag), and a scikit-learn logistic regression is fit on the training rows (a
seeded sample of at most ``MAX_TRAIN_ROWS``). It takes seconds and is the floor an expert has to
clear: an expert that scores below it has not learned what a linear model sees in the same inputs.
"""

from __future__ import annotations

import warnings
from typing import Callable

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

MAX_TRAIN_ROWS = 5000
# L-BFGS iterations: on easy-vqa's pooled pixels 1,000 iterations take 8 s and end unconverged, 200
# take 1.6 s and score within 0.005 of them (benchmarks: docs/measured.md) -- a floor, not a contest
MAX_ITER = 200
POOL = 8  # images: an 8 × 8 grid per channel; sequences: 8 steps per channel

Flatten = Callable[[torch.Tensor], sparse.csr_matrix]  # [N, ...] -> [N, D]


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


def _pooled(values: torch.Tensor) -> sparse.csr_matrix:
    """Numbers of any shape [N, ...] -> [N, D], images and sequences average-pooled to a small grid."""
    x = values.float()
    if x.ndim == 4:  # [N, C, H, W]
        x = F.adaptive_avg_pool2d(x, POOL)
    elif x.ndim == 3:  # [N, C, T]
        x = F.adaptive_avg_pool1d(x, POOL)
    return sparse.csr_matrix(np.nan_to_num(x.reshape(len(x), -1).numpy()))


FLATTEN: dict[str, Flatten] = {"ids": _counts, "input_ids": _counts, "cat": _one_hot}


def flat(features: Features, rows: np.ndarray, chunk: int = 2048) -> list[sparse.csr_matrix]:
    """One block [N, D_k] per tensor of a modality on ``rows``, after a first block flagging absent rows."""
    present = features.present.numpy()[rows]
    parts: list[list[sparse.csr_matrix]] = []
    for start in range(0, len(rows), chunk):
        taken = features.take(torch.as_tensor(rows[start:start + chunk]))
        keep = present[start:start + chunk, None].astype(float)
        parts.append([FLATTEN.get(name, _pooled)(t).multiply(keep).tocsr()
                      for name, t in taken.items() if t.dtype != torch.bool])  # masks carry no values
    blocks = [_stack([p[k] for p in parts]) for k in range(len(parts[0]))]
    return [sparse.csr_matrix((~present)[:, None].astype(float)), *blocks]


def _stack(chunks: list[sparse.csr_matrix]) -> sparse.csr_matrix:
    """Chunks of one block stacked by rows, padded to the widest (count blocks grow with the ids seen)."""
    width = max(c.shape[1] for c in chunks)
    return sparse.vstack([_width(c, width) for c in chunks], format="csr")


class LinearBaseline:
    """Logistic regression on some modalities' flat features; log-probabilities over all classes."""

    def __init__(self, modalities: list[str], n_classes: int, seed: int = 0):
        self.modalities, self.n_classes, self.seed = modalities, n_classes, seed

    def _x(self, data: FeaturizedDataset, rows: np.ndarray) -> sparse.csr_matrix:
        blocks = [b for m in self.modalities for b in flat(data.features[m], rows)]
        if not hasattr(self, "widths_"):
            self.widths_ = [b.shape[1] for b in blocks]
        # ids unseen in the training rows fall outside the training width: cut (or pad) to it
        return sparse.hstack([_width(b, w) for b, w in zip(blocks, self.widths_)], format="csr")

    def fit(self, train: FeaturizedDataset) -> LinearBaseline:
        rows = np.arange(len(train))
        if len(rows) > MAX_TRAIN_ROWS:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, MAX_TRAIN_ROWS, replace=False))
        self.model_ = make_pipeline(MaxAbsScaler(), LogisticRegression(max_iter=MAX_ITER, random_state=self.seed))
        with warnings.catch_warnings():  # a baseline short of full convergence is still a fair floor
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(self._x(train, rows), train.targets.numpy()[rows])
        return self

    def log_probs(self, data: FeaturizedDataset) -> np.ndarray:
        """[N, C] over every class of the study (classes absent from the training rows get ~0)."""
        probs = np.full((len(data), self.n_classes), 1e-9)
        probs[:, self.model_.classes_] = self.model_.predict_proba(self._x(data, np.arange(len(data))))
        probs /= probs.sum(1, keepdims=True)
        return np.log(probs)


def _width(block: sparse.csr_matrix, width: int) -> sparse.csr_matrix:
    if block.shape[1] >= width:
        return block[:, :width]
    return sparse.hstack([block, sparse.csr_matrix((block.shape[0], width - block.shape[1]))], format="csr")

