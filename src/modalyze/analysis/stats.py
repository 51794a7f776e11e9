"""Scores with intervals: a bootstrap over test rows combined with the spread over seeds.

Each expert contributes a boolean matrix ``correct`` [R, N]: one row per training seed (or per
seed × permutation for shuffles), one column per test row. A bootstrap replicate draws one of the R
rows at random and N test rows with replacement; the 95% interval is the 2.5/97.5 percentiles of
the replicate accuracies, widened where needed to the exact binomial interval (see
:func:`score_with_ci`). Comparisons between experts reuse the same draws (paired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta


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
    """Mean accuracy over seeds and rows, with an interval valid for few rows too.

    The interval spans both the bootstrap interval and the exact (Clopper–Pearson) binomial interval
    of the mean number of correct rows: on a handful of rows the bootstrap alone can collapse to a
    point (8 of 8 correct gives [1, 1]), the binomial interval cannot.
    """
    correct = np.atleast_2d(correct)
    n = correct.shape[1]
    score = float(correct.mean())
    lo, hi = _ci(draws.replicates(correct))
    exact_lo, exact_hi = exact_ci(score * n, n)
    return {"score": score, "ci": [min(lo, exact_lo), max(hi, exact_hi)], "n": int(n)}


def exact_ci(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval of a proportion (``successes`` may be a mean over seeds, so not whole)."""
    alpha = 1 - level
    lo = float(beta.ppf(alpha / 2, successes, n - successes + 1)) if successes > 0 else 0.0
    hi = float(beta.isf(alpha / 2, successes + 1, n - successes)) if successes < n else 1.0
    return lo, hi


def _ci(replicates: np.ndarray) -> list[float]:
    lo, hi = np.percentile(replicates, [2.5, 97.5])
    return [float(lo), float(hi)]


def difference_ci(better: np.ndarray, *baselines: np.ndarray, draws: Draws) -> dict[str, float | list[float]]:
    """better − max(baselines), point estimate and paired bootstrap interval.

    The bootstrap cannot move past rows that never disagree (40 rows both right give [0, 0]), so
    each end is widened where needed to the exact (Clopper–Pearson) bound on the rows that favour
    that side, the other side's count held at its observed value.
    """
    reps = draws.replicates(better) - np.max([draws.replicates(b) for b in baselines], axis=0)
    base = max(baselines, key=lambda b: np.atleast_2d(b).mean())
    wins = np.atleast_2d(better).mean(0) - np.atleast_2d(base).mean(0)  # [N] per row, seeds averaged
    n = len(wins)
    gained, lost = float(wins.clip(min=0).sum()), float((-wins).clip(min=0).sum())
    lo, hi = _ci(reps)
    lo = min(lo, gained / n - exact_ci(lost, n)[1])
    hi = max(hi, exact_ci(gained, n)[1] - lost / n)
    return {"score": float((gained - lost) / n), "ci": [lo, hi]}


def chance(y: np.ndarray) -> float:
    """Accuracy of the best constant predictor on these rows: the majority class's share."""
    return float(np.bincount(y).max() / len(y)) if len(y) else 0.0
