"""From the study's evidence to the profile: scores with intervals, the baseline check, shuffles, slices.

The evidence is what the experts predicted on the test rows (one held-out split, or every row out
of fold). Before anything is summarised, every expert is checked against the linear baseline:

1. on the validation rows (model selection, the test rows untouched): an expert that a logistic
   regression on the same inputs beats there is replaced by it, so each score is the better of two
   predictors chosen without looking at the test rows;
2. on the test rows, as a safeguard: an expert below chance, or below the baseline by more than the
   paired interval allows, has not learned what the inputs hold and is replaced too.

A replaced expert's predictions become the baseline's, or the constant prediction of the most
frequent class when the baseline is no better than that (the profile's ``baseline.replaced`` and the
report say so, and ``baseline.experts`` keeps the expert's own score).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix

from modalyze.analysis import pid_estimate
from modalyze.analysis.profile import PROFILE_SCHEMA, Profile
from modalyze.analysis.stats import Draws, chance, difference_ci, score_with_ci
from modalyze.analysis.verdict import decide, fmt, strength
from modalyze.classifier import Classifier
from modalyze.data.table import slice_labels
from modalyze.experts import product_of_experts
from modalyze.run import versions
from modalyze.spec import Spec


@dataclass
class Evidence:
    """What the study measured on its test rows: one held-out split, or every row out of fold."""

    y: np.ndarray  # int [N]
    present: torch.Tensor  # bool [M, N]
    log_probs: dict[str, np.ndarray]  # expert, "baseline:<m>", "baseline:joint" -> [R, N, C]
    shuffle_hits: dict[str, dict[str, np.ndarray]]  # permuted modality or "all" -> expert -> bool [R·P, N]
    frame: pd.DataFrame  # the test rows in the order of ``y`` (for slices)
    pid: dict[str, Any]
    y_val: np.ndarray  # int [N_val]: the validation rows (every fold's, out of fold)
    val_log_probs: dict[str, np.ndarray]  # expert or baseline -> [R, N_val, C]


def check_experts(evidence: Evidence, modalities: list[str], draws: Draws) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Log-probabilities to score (replacements made) and the baseline section of the profile."""
    y = evidence.y
    c = chance(y)
    log_probs = {**evidence.log_probs, "prior": _constant(y, evidence.log_probs["inter"].shape[-1])[None]}
    correct = {n: lp.argmax(-1) == y for n, lp in log_probs.items()}  # [R, N]
    scores = {n: score_with_ci(hits, draws) for n, hits in correct.items()}
    replaced, validation = {}, {}
    for expert, base in [*((f"intra:{m}", f"baseline:{m}") for m in modalities), ("inter", "baseline:joint")]:
        score, baseline = scores[expert], scores[base]
        gap = difference_ci(correct[expert], correct[base], draws=draws)  # paired: the same rows
        own_val, base_val = (_validation(evidence, n) for n in (expert, base))
        validation[expert] = {"expert": own_val, "baseline": base_val, "n": int(len(evidence.y_val))}
        if base_val["nll"] < own_val["nll"]:
            why = (f"below the linear baseline on the {len(evidence.y_val)} validation rows (log-loss "
                   f"{own_val['nll']:.3f} against {base_val['nll']:.3f}; accuracy {own_val['accuracy']:.3f} "
                   f"against {base_val['accuracy']:.3f})")
        elif gap["ci"][1] < 0:
            why = (f"below the linear baseline ({score['score']:.3f} against {baseline['score']:.3f}; paired "
                   f"difference {fmt(gap)})")
        elif score["score"] < c:
            why = f"below chance ({score['score']:.3f} under {c:.3f})"
        else:
            continue
        use = base if baseline["score"] >= scores["prior"]["score"] else "prior"
        log_probs[expert] = log_probs[use]
        what = "the linear baseline's" if use == base else "a constant prediction of the most frequent class"
        replaced[expert] = f"{expert} scored {why}; its predictions are replaced by {what}, which scores {scores[use]['score']:.3f}"
    checked = [*(f"intra:{m}" for m in modalities), "inter"]
    return log_probs, {"intra": {m: scores[f"baseline:{m}"] for m in modalities}, "joint": scores["baseline:joint"],
                       "experts": {e: scores[e] for e in checked}, "model": "logistic regression (scikit-learn)",
                       "validation": validation, "replaced": replaced}


def _validation(evidence: Evidence, name: str) -> dict[str, float]:
    """Accuracy and mean log-loss (nats) on the validation rows, over the seeds (or repeats)."""
    log_probs, y = evidence.val_log_probs[name], evidence.y_val  # [R, N_val, C], [N_val]
    own = np.take_along_axis(log_probs, y[None, :, None], axis=-1)[..., 0]  # [R, N_val]
    return {"accuracy": float((log_probs.argmax(-1) == y).mean()), "nll": float(-own.mean())}


def profile_of(spec: Spec, evidence: Evidence, first: dict[str, list[Classifier]], plan: Any, seed: int,
               settings: dict[str, Any], min_slice_rows: int, classes: list[Any]) -> Profile:
    """The profile: scores of every expert (replacements made), shuffles, PID and slices."""
    y = evidence.y
    modalities = list(spec.modalities)
    draws = Draws.make(len(y), plan.bootstrap, seed)
    log_probs, baseline = check_experts(evidence, modalities, draws)
    correct = {n: lp.argmax(-1) == y for n, lp in log_probs.items()}  # [R, N]
    rounds = max(len(log_probs[f"intra:{m}"]) for m in modalities)
    additive = [product_of_experts(torch.from_numpy(np.stack([_round(log_probs[f"intra:{m}"], r) for m in modalities])),
                                   evidence.present).numpy() for r in range(rounds)]
    correct["additive"] = np.stack([lp.argmax(1) == y for lp in additive])
    summary = _summarize(correct, y, np.arange(len(y)), modalities, plan, seed)
    slices = {}
    for column in spec.slices:
        values = slice_labels(evidence.frame[column])
        counts = {v: int((values == v).sum()) for v in sorted(set(values))}
        small = {v: n for v, n in counts.items() if n < min_slice_rows}
        slices[column] = {v: _summarize(correct, y, np.flatnonzero(values == v), modalities, plan, seed)
                          for v, n in counts.items() if v not in small}
        if len(small) <= 10:  # listed, marked, not scored: a handful of rows supports no score
            slices[column].update({v: {"n": n, "few_rows": True} for v, n in small.items()})
        elif small:
            slices[column][f"({len(small)} other values)"] = {"n": sum(small.values()), "few_rows": True}
    joint = summary["interaction"]["joint"]
    confusion = {"model": joint, "classes": classes,
                 "matrix": confusion_matrix(y, log_probs[joint][0].argmax(1), labels=np.arange(len(classes))).tolist()}
    return Profile(
        dataset=spec.name, target=spec.target, metric="accuracy", n_test=int(len(y)), classes=classes,
        chance=summary["chance"], intra=summary["intra"], additive=summary["additive"], inter=summary["inter"],
        i2m2=summary["i2m2"], interaction=summary["interaction"], verdict=summary["verdict"], reason=summary["reason"],
        shuffle=_shuffles(evidence.shuffle_hits, correct, draws), pid=evidence.pid,
        slices=slices, curves={n: (models[0].history_ or {}).get("epochs", []) for n, models in first.items()},
        confusion=confusion, baseline=baseline, params={n: models[0].n_parameters for n, models in first.items()},
        config={**settings, "budget_settings": asdict(plan), "pid": pid_estimate.SETTINGS,
                "min_slice_rows": min_slice_rows, "modalities": {m: spec.modalities[m].kind for m in modalities}},
        versions=versions(), schema=PROFILE_SCHEMA,
    )


def _constant(y: np.ndarray, n_classes: int) -> np.ndarray:
    """[N, C]: the class frequencies of these rows on every row; it scores exactly chance."""
    counts = np.bincount(y, minlength=n_classes) + 1e-9
    return np.log(np.tile(counts / counts.sum(), (len(y), 1)))


def _round(log_probs: np.ndarray, r: int) -> np.ndarray:
    """Seed (or repeat) ``r`` of [R, N, C]; a single-round entry (a baseline) serves every round."""
    return log_probs[min(r, len(log_probs) - 1)]


def _summarize(correct: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, modalities: list[str],
               plan: Any, seed: int) -> dict[str, Any]:
    """Scores, strengths and verdict on a set of test rows (all rows, or one slice)."""
    draws = Draws.make(len(rows), plan.bootstrap, seed)
    sub = {n: c[:, rows] for n, c in correct.items()}
    c = chance(y[rows])
    scores = {n: score_with_ci(v, draws) for n, v in sub.items()}
    joint_name = max(("inter", "i2m2"), key=lambda n: scores[n]["score"])
    joint = scores[joint_name]
    best_intra = max(modalities, key=lambda m: scores[f"intra:{m}"]["score"])
    interaction = difference_ci(sub[joint_name], sub[f"intra:{best_intra}"], sub["additive"], draws=draws)
    intra = {m: {**scores[f"intra:{m}"], "strength": strength(scores[f"intra:{m}"]["score"], c, joint["score"])}
             for m in modalities}
    decision = decide(c, joint, joint_name, intra, interaction, n_rows=len(rows))
    return {"n": int(len(rows)), "chance": c, "intra": intra, "additive": scores["additive"],
            "inter": {**scores["inter"], "strength": strength(c + interaction["score"], c, joint["score"])},
            "i2m2": scores["i2m2"], "interaction": {**interaction, "joint": joint_name, "best_intra": best_intra},
            "verdict": decision.verdict, "reason": decision.reason, "margin": decision.margin}


def _shuffles(hits: dict[str, dict[str, np.ndarray]], correct: dict[str, np.ndarray], draws: Draws) -> dict[str, Any]:
    """Scores with one modality's (or all modalities') values permuted across test rows."""
    out: dict[str, Any] = {}
    for target, by_expert in hits.items():
        entry = {e: {**(s := score_with_ci(h, draws)), "perceptual": float(correct[e].mean() - s["score"])}
                 for e, h in by_expert.items()}
        out[target] = {**entry["inter"], "expert": "inter", "i2m2": entry["i2m2"]}
    return out
