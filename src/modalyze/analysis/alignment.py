"""Evaluating a shared embedding space: cross-modal retrieval and the modality gap.

- **Retrieval**: a query's true matches are the gallery items of its group (identical captions share
  a group, so retrieving any of them is a hit). Its rank is 1 + the number of non-matches scoring at
  least as high as its best match (a tie with a non-match counts against it). Recall@K is the share of
  queries ranked ≤ K; median and mean rank summarise the rest.
- **Modality gap** (Liang et al., 2022): the distance between the centroids of two modalities'
  normalised embeddings, and how well a linear classifier tells the modalities apart (5-fold
  accuracy; 0.5 = indistinguishable). :func:`shift_along_gap` moves both sets toward each other along
  the gap vector and renormalises, to see whether closing the gap helps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score


def ranks(scores: np.ndarray, query_groups: np.ndarray, gallery_groups: np.ndarray) -> np.ndarray:
    """Rank [Q] of each query's best true match; scores [Q, G], groups: any comparable labels."""
    match = query_groups[:, None] == gallery_groups[None, :]  # [Q, G]
    if not match.any(1).all():
        raise ValueError("every query needs at least one true match in the gallery")
    best = np.where(match, scores, -np.inf).max(1)  # [Q]
    return 1 + (np.where(match, -np.inf, scores) >= best[:, None]).sum(1)


def retrieval_metrics(scores: np.ndarray, query_groups: np.ndarray, gallery_groups: np.ndarray,
                      ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@K for each K, median and mean rank."""
    r = ranks(scores, np.asarray(query_groups), np.asarray(gallery_groups))
    out = {f"R@{k}": float((r <= k).mean()) for k in ks}
    out.update(median_rank=float(np.median(r)), mean_rank=float(r.mean()))
    return out


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def modality_gap(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Centroid distance and linear separability of two modalities' embeddings [N, D] (normalised here)."""
    a, b = _normalise(a), _normalise(b)
    gap = a.mean(0) - b.mean(0)  # [D]
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    folds = int(min(5, len(a), len(b)))
    separability = cross_val_score(LogisticRegression(max_iter=1000, random_state=seed), x, y, cv=folds).mean() \
        if folds >= 2 else float("nan")
    return {"centroid_distance": float(np.linalg.norm(gap)), "separability": float(separability),
            "gap_vector": gap.tolist()}


def shift_along_gap(a: np.ndarray, b: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Move ``a`` by −fraction/2 and ``b`` by +fraction/2 of the gap vector (fraction 1 aligns the
    centroids before renormalising), then renormalise both."""
    a, b = _normalise(a), _normalise(b)
    gap = a.mean(0) - b.mean(0)
    return _normalise(a - fraction * gap / 2), _normalise(b + fraction * gap / 2)
