"""Robustness: scores with modalities missing and under graded corruptions, against a late-fusion reference.

- **Missing-modality matrix**: the test score of every expert for every non-empty subset of
  modalities kept (all 2^M − 1 subsets up to M = 6; beyond, each alone, all but one, and all).
  A removed modality takes the path of a genuinely absent one: the inter expert sees its learned
  missing embedding, a product of experts leaves that intra expert out. Each subset names any product
  that scores below its best present member there.
- **Corruption curves**: the score at each level of every corruption registered for the kind of
  each modality (:mod:`modalyze.data.corruptions`), the other modalities left clean.
- **Relative robustness**: the area under score ÷ clean score over the levels (1 = no loss).
  **Effective robustness**: the area between the curve and the late-fusion reference's curve
  shifted to the same clean score (> 0: degrades more gracefully than late fusion).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from modalyze.analysis.stats import Draws, score_with_ci
from modalyze.data.batching import FeaturizedDataset, make_loader
from modalyze.data.corruptions import corrupt, corruptions_for
from modalyze.data.featurizers import Featurizer, Features
from modalyze.errors import ModalyzeError
from modalyze.log import Log, info
from modalyze.encoders import EncoderOutput
from modalyze.experts import ProductOfExperts, SharedProductOfExperts, presence_patterns
from modalyze.settings import ROBUSTNESS

DEFAULT_LEVELS = ROBUSTNESS.levels


def expert_outputs(name: str, expert: nn.Module, batch: dict[str, Any], members: bool,
                   raw: dict[str, EncoderOutput] | None = None,
                   known: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Log-probabilities [B, C] of an expert, keyed by its name; with ``members`` also those of the
    intra and inter experts inside a product (all from one forward pass; a shared-encoder product
    reuses the encoder outputs in ``raw``, a product of separate experts the intra outputs in ``known``)."""
    if isinstance(expert, SharedProductOfExperts):
        parts = expert.expert_log_probs(batch, raw)
        return {name: expert.combine(parts, batch), **(parts if members else {})}
    if isinstance(expert, ProductOfExperts):
        parts = expert.expert_log_probs(batch, known)
        return {name: expert.combine(parts, batch), **(parts if members else {})}
    return {name: expert(batch)}


def modalities_used(name: str, modalities: list[str]) -> list[str]:
    """The modalities an expert reads: its own for ``intra:<m>``, all of them otherwise."""
    return [name.split(":", 1)[1]] if name.startswith("intra:") else modalities


class Evaluator:
    """Scores a set of experts on one test split under altered presence masks or features."""

    def __init__(self, experts: dict[str, nn.Module], data: FeaturizedDataset, members: bool = False,
                 bootstrap: int = ROBUSTNESS.bootstrap, seed: int = ROBUSTNESS.seed,
                 batch_size: int = 1024):
        self.experts = {n: e.eval() for n, e in experts.items()}
        self.data, self.members, self.batch_size = data, members, batch_size
        self.y = data.targets.numpy()
        self.draws = Draws.make(len(self.y), bootstrap, seed)
        self._cache: dict[str, dict[tuple[str, int], EncoderOutput]] = {}  # expert -> (modality, batch) -> output
        self._intra: dict[tuple[str, int], dict[str, torch.Tensor]] = {}  # (product, batch) -> modality -> [B, C]

    @torch.no_grad()
    def correct(self, data: FeaturizedDataset, changed: set[str] | None = None,
                clean: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Per expert (and member), a bool [N]: was the row's prediction right. Given the ``clean``
        results and the modalities ``data`` ``changed`` from the evaluator's own, only the experts reading
        a changed modality run again (an expert reads only :func:`modalities_used`), and a product reruns
        only the members that read one. A shared-encoder product encodes each clean modality once: a
        condition re-encodes only what it changed."""
        if changed is None:  # not said: nothing if this is the evaluator's own data, else every modality
            changed = set() if data is self.data else set(data.features)
        experts = {n: e for n, e in self.experts.items()
                   if clean is None or set(modalities_used(n, list(data.features))) & changed}
        parts: dict[str, list[torch.Tensor]] = {}
        clean_inputs = [m for m, f in data.features.items()
                        if f.rows is self.data.features[m].rows and f.index is self.data.features[m].index]
        for i, batch in enumerate(make_loader(data, self.batch_size, shuffle=False) if experts else []):
            for name, expert in experts.items():
                raw = self._clean_encodings(name, expert, i, batch, clean_inputs)
                known = self._unchanged_intra(name, expert, i, batch, changed)
                for key, log_probs in expert_outputs(name, expert, batch, self.members, raw, known).items():
                    parts.setdefault(key, []).append(log_probs.argmax(-1))
        return {**(clean or {}), **{k: torch.cat(v).numpy() == self.y for k, v in parts.items()}}

    def _clean_encodings(self, name: str, expert: nn.Module, i: int, batch: dict[str, Any],
                         clean: list[str]) -> dict[str, EncoderOutput] | None:
        """Batch ``i``'s encoder outputs of the unaltered modalities (computed on first use, then kept)."""
        if not isinstance(expert, SharedProductOfExperts):
            return None
        cache = self._cache.setdefault(name, {})
        for m in clean:
            if (m, i) not in cache:
                cache[m, i] = expert.inter.encoders[m](batch["x"][m])
        return {m: cache[m, i] for m in clean}

    def _unchanged_intra(self, name: str, expert: nn.Module, i: int, batch: dict[str, Any],
                         changed: set[str]) -> dict[str, torch.Tensor] | None:
        """Batch ``i``'s outputs of a product's intra experts whose modality is unchanged (an intra expert
        reads only its own modality): computed on first use, then kept, so a condition reruns only the
        members it touches."""
        if not isinstance(expert, ProductOfExperts) or isinstance(expert, SharedProductOfExperts):
            return None
        cache = self._intra.setdefault((name, i), {})
        for m, member in expert.intra.items():
            if m not in changed and m not in cache:
                cache[m] = member(batch)
        return {m: cache[m] for m in expert.intra if m not in changed}


def keep_only(data: FeaturizedDataset, kept: tuple[str, ...]) -> FeaturizedDataset:
    """The same rows with every modality outside ``kept`` marked absent."""
    features = {m: f if m in kept else Features(f.rows, torch.zeros_like(f.present), f.index)
                for m, f in data.features.items()}
    return FeaturizedDataset(features, data.targets)


def missing_matrix(evaluator: Evaluator, modalities: list[str], clean: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One entry per subset: ``{"present": [...], "scores": {expert: {"score", "ci"}}}``."""
    out = []
    for kept in presence_patterns(modalities):
        correct = evaluator.correct(keep_only(evaluator.data, kept), set(modalities) - set(kept), clean)
        scores = {k: score_with_ci(c[None], evaluator.draws) for k, c in correct.items()
                  if set(modalities_used(k, modalities)) & set(kept)}
        out.append({"present": list(kept), "scores": scores, "below_best_member": below_best_member(scores, evaluator)})
    return out


def below_best_member(scores: dict[str, dict[str, Any]], evaluator: Evaluator) -> dict[str, dict[str, Any]]:
    """Products scoring below their best present member on this subset: product -> {member, gap}."""
    out = {}
    for name, expert in evaluator.experts.items():
        members = [m for m in getattr(getattr(expert, "member_weights", None), "members", []) if m in scores]
        if evaluator.members and name in scores and members:
            best = max(members, key=lambda m: scores[m]["score"])
            gap = scores[best]["score"] - scores[name]["score"]
            if gap > 0:
                out[name] = {"member": best, "gap": gap}
    return out


def corruption_curves(evaluator: Evaluator, featurizers: dict[str, Featurizer], frame: pd.DataFrame,
                      levels: list[float], clean: dict[str, np.ndarray], seed: int, reference: str | None,
                      log: Log) -> list[dict[str, Any]]:
    """One entry per (modality, corruption): scores per level for every expert reading that modality."""
    modalities = list(featurizers)
    out = []
    for m, featurizer in featurizers.items():
        for corruption in corruptions_for(featurizer.kind):
            curves: dict[str, list[float]] = {}
            for level in levels:
                if level == 0:
                    correct = clean
                else:
                    features = corrupt(featurizer, frame, corruption.name, level, seed)
                    correct = evaluator.correct(FeaturizedDataset({**evaluator.data.features, m: features},
                                                               evaluator.data.targets), {m}, clean)
                for name, hits in correct.items():
                    if m in modalities_used(name, modalities):
                        curves.setdefault(name, []).append(float(hits.mean()))
            log(f"robustness: {m} / {corruption.name} done")
            joint = [n for n in curves if len(modalities_used(n, modalities)) == len(modalities)]
            out.append({"modality": m, "kind": featurizer.kind, "corruption": corruption.name,
                        "extreme": corruption.extreme, "curves": curves,
                        "summary": summarize_curves(levels, curves, reference, joint)})
    return out


def summarize_curves(levels: list[float], curves: dict[str, list[float]], reference: str | None,
                     joint: list[str]) -> dict[str, Any]:
    """Clean score and relative robustness per expert; effective robustness for the ``joint`` experts
    (those reading every modality, comparable with the late-fusion reference) when it has a curve."""
    x = np.asarray(levels, dtype=float)
    span = float(x[-1] - x[0]) or 1.0
    ref = np.asarray(curves[reference]) if reference in curves else None
    out = {}
    for name, ys in curves.items():
        y = np.asarray(ys)
        clean = float(y[0])
        entry = {"clean": clean, "area": float(np.trapezoid(y, x) / span),
                 "relative": float(np.trapezoid(y / clean, x) / span) if clean > 0 else 0.0}
        if ref is not None and name in joint:
            shifted = ref - ref[0] + clean  # the reference, moved to this expert's clean score
            entry["effective"] = float(np.trapezoid(y - shifted, x) / span)
        out[name] = entry
    return out


def check_levels(levels: list[float]) -> list[float]:
    """Sorted unique levels in [0, 1], starting at 0 (the clean score every summary needs)."""
    bad = [v for v in levels if not 0 <= v <= 1]
    if bad:
        raise ModalyzeError(f"option levels: {bad[0]} is outside [0, 1]")
    out = sorted({0.0, *map(float, levels)})
    if len(out) < 2:
        raise ModalyzeError("option levels: give at least one level above 0")
    return out


def robustness(experts: dict[str, nn.Module], featurizers: dict[str, Featurizer], test: FeaturizedDataset,
               frame: pd.DataFrame, reference: str | None, levels: list[float] = DEFAULT_LEVELS,
               members: bool = False, seed: int = ROBUSTNESS.seed,
               bootstrap: int = ROBUSTNESS.bootstrap, log: Log = info) -> dict[str, Any]:
    """The missing-modality matrix and the corruption curves of ``experts`` on the test split.

    ``reference`` names the late-fusion expert (a key of ``experts``, or a member with ``members``)
    that effective robustness is measured against; ``None`` leaves effective robustness out.
    """
    levels = check_levels(list(levels))
    evaluator = Evaluator(experts, test, members=members, bootstrap=bootstrap, seed=seed)
    modalities = list(featurizers)
    log("robustness: scoring every subset of modalities")
    clean = evaluator.correct(test)
    matrix = missing_matrix(evaluator, modalities, clean)
    curves = corruption_curves(evaluator, featurizers, frame, levels, clean, seed, reference, log)
    return {"levels": levels, "seed": seed, "n_test": int(len(test)), "reference": reference,
            "experts": list(matrix[0]["scores"]), "missing": matrix, "corruptions": curves}

