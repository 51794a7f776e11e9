"""Retrieval metrics (ties between identical captions, rank ties) and the modality gap, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from modalyze.analysis.alignment import modality_gap, ranks, retrieval_metrics, same_group, shift_along_gap


def test_ranks_recall_and_identical_captions():
    # 3 image queries; gallery of 4 captions where captions 1 and 2 are identical ("a red circle")
    scores = np.array([[0.9, 0.1, 0.2, 0.3],    # query 0 (group a): its caption first -> rank 1
                       [0.8, 0.1, 0.7, 0.2],    # query 1 (group b): best match (0.7) behind one non-match -> 2
                       [0.5, 0.6, 0.4, 0.3]])   # query 2 (group c): 3 non-matches above it -> 4
    q = np.array(["a", "b", "c"])
    g = np.array(["a", "b", "b", "c"])
    assert ranks(scores, same_group(q, g)).tolist() == [1, 2, 4]
    m = retrieval_metrics(scores, same_group(q, g), ks=(1, 2, 5))
    assert m == {"R@1": pytest.approx(1 / 3), "R@2": pytest.approx(2 / 3), "R@5": 1.0,
                 "median_rank": 2.0, "mean_rank": pytest.approx(7 / 3)}


def test_a_tie_with_a_non_match_counts_against_the_query():
    assert ranks(np.array([[0.5, 0.5]]), same_group(np.array([0]), np.array([1, 0]))).tolist() == [2]


def test_a_query_without_a_match_is_an_error():
    with pytest.raises(ValueError, match="true match"):
        ranks(np.zeros((1, 2)), same_group(np.array([5]), np.array([1, 2])))


def test_modality_gap_and_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8)) + np.array([3.0] + [0.0] * 7)   # a cone around +e0
    b = rng.normal(size=(200, 8)) - np.array([3.0] + [0.0] * 7)   # a cone around −e0
    gap = modality_gap(a, b)
    assert gap["centroid_distance"] > 1.0 and gap["separability"] > 0.95
    a2, b2 = shift_along_gap(a, b, 1.0)
    closed = modality_gap(a2, b2)
    assert closed["centroid_distance"] < 0.5 * gap["centroid_distance"], "shifting closes the gap"
    np.testing.assert_allclose(np.linalg.norm(a2, axis=1), 1.0)
    same = modality_gap(a, a + 1e-9 * rng.normal(size=a.shape))
    assert same["centroid_distance"] < 1e-6 and same["separability"] < 0.7, "one modality twice: no gap"
