"""Scores with intervals: a bootstrap over test rows combined with the spread over seeds.

Each expert contributes a boolean matrix ``correct`` [R, N]: one row per training seed (or per
seed × permutation for shuffles), one column per test row. A bootstrap replicate draws one of the R
rows at random and N test rows with replacement; the 95% interval is the 2.5/97.5 percentiles of
the replicate accuracies. Comparisons between experts reuse the same draws (paired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Draws:
    """Shared bootstrap draws for one set of evaluated rows."""

    rows: np.ndarray  # int [B, N]: resampled test-row positions
    pick: np.ndarray  # float [B]: uniform in [0, 1), selects a seed row of each ``correct`` matrix

    @classmethod
    def make(cls, n_rows: int, n_boot: int, seed: int = 0) -> Draws:
        rng = np.random.default_rng(seed)
        return cls(rng.integers(0, n_rows, size=(n_boot, n_rows)), rng.random(n_boot))

    def replicates(self, correct: np.ndarray) -> np.ndarray:
        """Accuracy of each replicate [B] for ``correct`` [R, N]."""
        correct = np.atleast_2d(correct)
        which = (self.pick * len(correct)).astype(int)  # [B]
        return correct[which[:, None], self.rows].mean(1)


def score_with_ci(correct: np.ndarray, draws: Draws) -> dict[str, float | list[float]]:
    """Mean accuracy over seeds and rows, with its bootstrap interval."""
    reps = draws.replicates(correct)
    return {"score": float(np.atleast_2d(correct).mean()), "ci": _ci(reps)}


def _ci(replicates: np.ndarray) -> list[float]:
    lo, hi = np.percentile(replicates, [2.5, 97.5])
    return [float(lo), float(hi)]


def difference_ci(better: np.ndarray, *baselines: np.ndarray, draws: Draws) -> dict[str, float | list[float]]:
    """better − max(baselines), point estimate and paired bootstrap interval."""
    reps = draws.replicates(better) - np.max([draws.replicates(b) for b in baselines], axis=0)
    point = np.atleast_2d(better).mean() - max(np.atleast_2d(b).mean() for b in baselines)
    return {"score": float(point), "ci": _ci(reps)}


def chance(y: np.ndarray) -> float:
    """Accuracy of the best constant predictor on these rows: the majority class's share."""
    return float(np.bincount(y).max() / len(y)) if len(y) else 0.0
