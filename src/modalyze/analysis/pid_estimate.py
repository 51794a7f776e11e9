"""PID on data: discretise each modality by what the experts say about it, then solve BROJA exactly.

A modality's *signature* on a row is what the experts predict from that row's value of the
modality: the intra expert's label distribution (the modality alone) and the inter expert's label
distribution with the modality paired with each of K reference rows' values of the other
modalities ([1 + K, C]). Two values with the same signature say the same about the label alone and
change no prediction whatever the other modalities say, so grouping them loses nothing the experts
know: the signature is sufficient for the label alone and given the others. Signatures are grouped
by average-linkage clustering with a threshold on the distance TV(alone) + mean TV(paired), so the
number of states is chosen by the data (at most ``MAX_STATES``).

The joint distribution P(s1, s2, y) then takes y from the expert's predicted distribution on each
row instead of the row's label (a smooth estimate of p(y | x1, x2), so fine grids are not swamped
by counting noise), and :func:`modalyze.analysis.pid.decompose` splits it. The estimator's noise
is how much each term differs between two random halves of the rows (about two standard errors of
the estimate on all rows), and the expert's test cross-entropy gives the bound I(X; Y) ≥ H(Y) − CE
to compare the captured total against.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.exceptions import ConvergenceWarning

from modalyze.analysis.pid import PID, decompose_many
from modalyze.analysis.shuffle import ShuffleScorer, score_orders
from modalyze.experts import product_of_experts

TV_THRESHOLD = 0.1  # signatures closer than this (mean total variation of predictions) are one state
MAX_STATES = 32  # states per modality (group); keeps the exact solver small
PARTNERS = 48  # reference rows a signature is measured against
MAX_ROWS = 5000  # test rows used (a seeded sample beyond that)
MICRO_CLUSTERS = 256  # signatures are first summarised by k-means, then grouped by the threshold
SETTINGS = {"tv_threshold": TV_THRESHOLD, "max_states": MAX_STATES, "partners": PARTNERS, "max_rows": MAX_ROWS}


def signatures(encoded: ShuffleScorer, alone: np.ndarray, group: list[str], rows: np.ndarray,
               partners: np.ndarray) -> np.ndarray:
    """[N, (1 + K)·C]: ``alone`` [N, C] (probabilities), then the inter expert's with each partner's others.

    Scaled so that the L1 distance between two rows is TV(alone) + mean over partners of TV(paired).
    """
    orders = [{m: rows if m in group else np.full(len(rows), partner) for m in encoded.present} for partner in partners]
    paired = score_orders(encoded, orders, len(rows))  # K × [N, C]
    return np.concatenate([alone / 2, *(np.exp(lp) / (2 * len(partners)) for lp in paired)], axis=1)


def states(signature: np.ndarray, seed: int = 0) -> np.ndarray:
    """Integer state per row [N]: signatures grouped at ``TV_THRESHOLD``, at most ``MAX_STATES`` groups."""
    unique, inverse, counts = np.unique(signature.round(4), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    if len(unique) == 1:
        return np.zeros(len(signature), dtype=int)
    if len(unique) > MICRO_CLUSTERS:
        with warnings.catch_warnings():  # fewer distinct signatures than micro-clusters is fine
            warnings.simplefilter("ignore", ConvergenceWarning)
            micro = KMeans(MICRO_CLUSTERS, n_init=1, random_state=seed).fit(unique, sample_weight=counts)
        centres, inverse = micro.cluster_centers_, micro.labels_[inverse]
    else:
        centres = unique
    grouped = AgglomerativeClustering(n_clusters=None, distance_threshold=TV_THRESHOLD, metric="manhattan",
                                      linkage="average").fit(centres).labels_
    if grouped.max() + 1 > MAX_STATES:
        grouped = AgglomerativeClustering(n_clusters=MAX_STATES, metric="manhattan", linkage="average").fit(centres).labels_
    return grouped[inverse]


def soft_joint(s1: np.ndarray, s2: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """P(s1, s2, y) [|S1|, |S2|, C] with y drawn from each row's predicted distribution ``probs`` [N, C]."""
    joint = np.zeros((s1.max() + 1, s2.max() + 1, probs.shape[1]))
    np.add.at(joint, (s1, s2), probs)
    return joint / joint.sum()


def entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def estimate(encoded: ShuffleScorer, alone: dict[str, np.ndarray], y: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """PID per modality pair (and, for three or more, of each modality against the rest), in bits.

    ``encoded``: the inter expert on the test rows; ``alone``: per modality, its intra expert's
    log-probabilities on the same rows [N, C].
    """
    modalities = list(alone)
    rng = np.random.default_rng(seed)
    n = len(y)
    rows = np.sort(rng.choice(n, MAX_ROWS, replace=False)) if n > MAX_ROWS else np.arange(n)
    partners = rng.choice(n, min(PARTNERS, n), replace=False)
    probs = np.exp(encoded.log_probs({m: rows for m in modalities}))  # [N, C]
    halves = np.array_split(rng.permutation(len(rows)), 2)
    groups = [[m] for m in modalities]
    pairs = [(i, j) for i in range(len(modalities)) for j in range(i + 1, len(modalities))]
    if len(modalities) > 2:
        for i, m in enumerate(modalities):
            groups.append([o for o in modalities if o != m])
            pairs.append((i, len(groups) - 1))
    codes = [states(signatures(encoded, _alone(alone, encoded.present, g)[rows], g, rows, partners), seed)
             for g in groups]
    # per pair: all rows, then each half, solved together
    joints = [soft_joint(codes[i][h], codes[j][h], probs[h]) for i, j in pairs for h in (slice(None), *halves)]
    solved = decompose_many(joints, threads=torch.get_num_threads())
    out = {}
    for k, (i, j) in enumerate(pairs):
        a, b = "+".join(groups[i]), "+".join(groups[j])
        real, first, second = (_terms(pid, a, b) for pid in solved[3 * k:3 * k + 3])
        out[f"{a}|{b}"] = {**real, "units": "bits", "states": {a: int(codes[i].max() + 1), b: int(codes[j].max() + 1)},
                           "rows": int(len(rows)), "noise_floor": _difference(first, second)}
    return out


def information_bound(log_probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """H(Y) and the expert's cross-entropy on these rows, in bits: I(X; Y) ≥ H(Y) − CE."""
    h_y = entropy_bits(np.bincount(y) / len(y))
    cross_entropy = float(-log_probs[np.arange(len(y)), y].mean() / np.log(2))
    return {"label_entropy": h_y, "cross_entropy": cross_entropy, "lower_bound": h_y - cross_entropy}


def _alone(alone: dict[str, np.ndarray], present: dict[str, torch.Tensor], group: list[str]) -> np.ndarray:
    """Probabilities [N, C] from the group's intra experts: the one expert, or their renormalised product."""
    if len(group) == 1:
        return np.exp(alone[group[0]])
    log_probs = torch.from_numpy(np.stack([alone[m] for m in group]))  # [G, N, C]
    return product_of_experts(log_probs, torch.stack([present[m] for m in group])).exp().numpy()


def _difference(first: Any, second: Any) -> Any:
    """|first − second| leaf by leaf (two halves' terms: the estimator's noise)."""
    if isinstance(first, dict):
        return {k: _difference(first[k], second[k]) for k in first}
    return abs(first - second)


def _terms(pid: PID, a: str, b: str) -> dict[str, Any]:
    return {"redundancy": pid.redundancy, "unique": {a: pid.unique[0], b: pid.unique[1]}, "synergy": pid.synergy,
            "total": pid.total}
