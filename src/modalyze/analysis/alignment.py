"""Evaluating a shared embedding space: cross-modal retrieval and the modality gap.

- **Retrieval**: a query's true matches are the gallery rows that share its row's content in the query
  or in the gallery modality (identical captions count as one item in both directions), or, with
  ``match``, the same value of that column. Its rank is 1 + the number of non-matches scoring at
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
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from modalyze.errors import ModalyzeError
from modalyze.options import check_options


def same_group(query_groups: np.ndarray, gallery_groups: np.ndarray) -> np.ndarray:
    """bool [Q, G]: gallery item j is a true match of query i when their groups are equal."""
    return np.asarray(query_groups)[:, None] == np.asarray(gallery_groups)[None, :]


def ranks(scores: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Rank [Q] of each query's best true match; scores [Q, G], match bool [Q, G]."""
    if not match.any(1).all():
        raise ValueError("every query needs at least one true match in the gallery")
    best = np.where(match, scores, -np.inf).max(1)  # [Q]
    return 1 + (np.where(match, -np.inf, scores) >= best[:, None]).sum(1)


def retrieval_metrics(scores: np.ndarray, match: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@K for each K, median and mean rank."""
    r = ranks(scores, match)
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


def _shift(z: np.ndarray, gap: np.ndarray, amount: float) -> np.ndarray:
    """``z`` moved by amount/2 of ``gap``, renormalised."""
    return _normalise(z + amount * gap / 2)


def shift_along_gap(a: np.ndarray, b: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Move ``a`` by −fraction/2 and ``b`` by +fraction/2 of the gap vector (fraction 1 aligns the
    centroids before renormalising), then renormalise both."""
    a, b = _normalise(a), _normalise(b)
    gap = a.mean(0) - b.mean(0)
    return _shift(a, -gap, fraction), _shift(b, gap, fraction)


# --- evaluating a trained aligner -------------------------------------------------------------------

def _content(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Each row's raw content of a modality, as one string: rows with identical content share a group."""
    return frame[columns].astype(str).agg("\x1f".join, axis=1).to_numpy()


Pairs = tuple[dict[str, np.ndarray], pd.DataFrame]  # embeddings [N, E] per modality, and those N rows


def paired_test_embeddings(aligner: Any, prepared: Any = None, columns: tuple[str, ...] = ()) -> Pairs:
    """Embeddings of the test rows where every modality is present, and those rows (``prepared``: the
    aligner's dataset when the caller still has it; else it is read again, with ``columns`` beside the
    spec's, and featurized)."""
    prepared = prepared or aligner.training_data(columns)
    if "test" not in prepared.splits:
        raise ModalyzeError(f"{aligner.spec_.name}: no test rows to evaluate on")
    z = aligner.embed(prepared.splits["test"])
    complete = ~np.isnan(np.stack(list(z.values()))).any(axis=(0, 2))  # [N]
    return {m: v[complete] for m, v in z.items()}, prepared.frames["test"][complete]


def retrieve(aligner: Any, query: list[str], gallery: str, gap_shift: float = 0.0,
             match: str | None = None, pairs: Pairs | None = None) -> dict[str, float]:
    """Retrieve ``gallery`` items from ``query`` modalities on the test pairs (see the module docstring).

    True matches share the raw content of the gallery or a query modality with the query's row, or,
    with ``match``, the value of that column (e.g. a label or an identifier of the underlying item).

    Several query modalities are combined as the loss combines them: the multilinear product of
    their embeddings for symile, the sum of cosine similarities otherwise. ``pairs`` passes
    :func:`paired_test_embeddings` computed once for several calls.
    """
    check_options(gap_shift=gap_shift)
    names = list(aligner.spec_.modalities)
    for m in [*query, gallery]:
        if m not in names:
            raise ModalyzeError(f"option query/gallery: '{m}' is not a modality ({', '.join(names)})")
    if gallery in query:
        raise ModalyzeError("option gallery: the gallery modality cannot also be a query modality")
    z, frame = pairs or paired_test_embeddings(aligner)
    if gap_shift:
        for q in query:  # move each query modality and the gallery toward each other
            gap = z[q].mean(0) - z[gallery].mean(0)
            z = {**z, q: _shift(z[q], -gap, gap_shift), gallery: _shift(z[gallery], gap, gap_shift / len(query))}
    if len(query) > 1 and aligner.loss == "symile":
        scores = np.prod([z[q] for q in query], axis=0) @ z[gallery].T
    else:
        scores = sum(z[q] @ z[gallery].T for q in query)
    if match is not None and match not in frame.columns:
        raise ModalyzeError(f"option match: '{match}' is not a column of the test rows")
    if match is not None:
        groups = _content(frame, [match])
        return retrieval_metrics(scores, same_group(groups, groups))
    same = same_group(*[_content(frame, aligner.featurizers_[gallery].columns)] * 2)
    for q in query:
        same |= same_group(*[_content(frame, aligner.featurizers_[q].columns)] * 2)
    return retrieval_metrics(scores, same)


def gaps(aligner: Any, pairs: Pairs | None = None) -> dict[str, dict[str, float]]:
    """The modality gap of every pair of modalities on the test pairs."""
    z, _ = pairs or paired_test_embeddings(aligner)
    names = list(z)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            gap = modality_gap(z[a], z[b])
            out[f"{a}|{b}"] = {k: v for k, v in gap.items() if k != "gap_vector"}
    return out


def zero_shot(aligner: Any, column: str, labels: list[str] | None = None, templates: list[str] | None = None,
              text: str | None = None, target: str | None = None, gap_shift: float = 0.0,
              pairs: Pairs | None = None) -> dict[str, Any]:
    """Classify the ``target`` modality's test rows by the nearest label prompt through the ``text`` tower.

    Truth is ``column`` of the test rows; classes are ``labels`` (default: the column's distinct
    values); each class embedding is the renormalised mean over ``templates`` ("{}" = the label).
    """
    check_options(gap_shift=gap_shift)
    kinds = {m: s.kind for m, s in aligner.spec_.modalities.items()}
    text = text or next((m for m, k in kinds.items() if k == "text"), None)
    if text not in kinds or kinds[text] != "text":
        raise ModalyzeError(f"zero-shot needs a text modality (option text; modalities: {', '.join(kinds)})")
    target = target or next((m for m in kinds if m != text), None)
    if target not in kinds or target == text:
        raise ModalyzeError(f"option modality: name the modality to classify ({', '.join(m for m in kinds if m != text)})")
    templates = templates or ["{}"]
    if any("{}" not in t for t in templates):
        raise ModalyzeError("option template: every template needs a {} where the label goes")
    z, frame = pairs or paired_test_embeddings(aligner)
    if column not in frame.columns:
        raise ModalyzeError(f"option column: '{column}' is not a column of the test rows")
    truth = frame[column].astype(str).to_numpy()
    classes = list(labels) if labels else sorted(set(truth))
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        raise ModalyzeError(f"column '{column}' has value {unknown[0]!r}, which is not among the labels")
    prompts = np.stack([aligner.embed_values(text, [t.format(c) for t in templates]).mean(0) for c in classes])
    prompts = _normalise(prompts)  # [C, E]
    images, texts = z[target], z[text]
    gap = images.mean(0) - texts.mean(0)
    before = float(np.linalg.norm(gap))
    if gap_shift:
        images, texts, prompts = _shift(images, -gap, gap_shift), _shift(texts, gap, gap_shift), _shift(prompts, gap, gap_shift)
    order = np.argsort(-(images @ prompts.T), axis=1)  # [N, C]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[t] for t in truth])
    k = min(5, len(classes))
    return {"top1": float((order[:, 0] == y).mean()), f"top{k}": float((order[:, :k] == y[:, None]).any(1).mean()),
            "classes": classes, "templates": templates, "n": int(len(y)), "column": column, "modality": target,
            "gap_shift": gap_shift, "centroid_distance": {"before": before,
                                                          "after": float(np.linalg.norm(images.mean(0) - texts.mean(0)))}}
