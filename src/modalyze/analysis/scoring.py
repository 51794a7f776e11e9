"""From the study's evidence to the profile: scores with intervals, the expert families, shuffles, slices.

The evidence is what the experts predicted on the test rows (one held-out split, or every row out
of fold). Before anything is summarised, every expert is chosen and checked:

1. on the validation rows (model selection, the test rows untouched): each intra expert and the
   inter expert is the family (:mod:`modalyze.families`: neural, linear, trees) with the lowest
   log-loss there, among those ``--experts`` allows; where another family beat the neural expert,
   i2m2 is also the product of the chosen experts, and the validation rows choose it or the neural i2m2;
2. on the test rows, as a safeguard: a neural expert below chance, or below the linear baseline by
   more than the paired interval allows, has not learned what the inputs hold and is replaced.

A replaced expert's predictions become the chosen family's, or the constant prediction of the most
frequent class when the baseline is no better than that (the profile's ``baseline.replaced`` and the
report say so, ``baseline.experts`` keeps the neural expert's own score and ``baseline.families``
every family's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix

from modalyze.analysis import pid_estimate
from modalyze.families import FAMILIES, NEURAL, selectable
from modalyze.analysis.profile import PROFILE_SCHEMA, Profile
from modalyze.analysis.shuffle import condition_label
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
    log_probs: dict[str, np.ndarray]  # expert, "<family>:<m>", "<family>:joint" -> [R, N, C]
    shuffle_hits: dict[str, dict[str, np.ndarray]]  # permuted modality or "all" -> expert -> bool [R·P, N]
    frame: pd.DataFrame  # the test rows in the order of ``y`` (for slices)
    pid: dict[str, Any]
    y_val: np.ndarray  # int [N_val]: the validation rows (every fold's, out of fold)
    val_log_probs: dict[str, np.ndarray]  # expert or "<family>:<slot>" -> [R, N_val, C]
    present_val: torch.Tensor | None = None  # bool [M, N_val] (None: every modality present)
    fit_seconds: dict[str, float] = field(default_factory=dict)  # "<family>:<slot>" -> seconds to fit it
    own: dict[str, str] = field(default_factory=dict)  # expert -> the family the study trained it in (default neural)


def check_experts(evidence: Evidence, modalities: list[str], draws: Draws,
                  experts: str = "auto") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Log-probabilities to score (each expert's family chosen, replacements made) and the profile's
    ``baseline`` section: every family's validation and test scores, the family chosen, replacements."""
    y = evidence.y
    c = chance(y)
    log_probs = {**evidence.log_probs, "prior": _constant(y, evidence.log_probs["inter"].shape[-1])[None]}
    correct = {n: lp.argmax(-1) == y for n, lp in log_probs.items()}  # [R, N]
    scores = {n: score_with_ci(hits, draws) for n, hits in correct.items()}
    allowed = selectable(experts)
    replaced, validation, families, chosen, picked = {}, {}, {}, {}, {}
    own = {e: evidence.own.get(e, NEURAL) for e in (*(f"intra:{m}" for m in modalities), "inter")}
    for expert, slot in [*((f"intra:{m}", m) for m in modalities), ("inter", "joint")]:
        # the trained expert first (a tie keeps it), then each other family fitted on the slot
        names = {own[expert]: expert, **{f: f"{f}:{slot}" for f in FAMILIES.names()
                                          if f"{f}:{slot}" in log_probs and f != own[expert]}}
        val = {f: _validation(evidence, n) for f, n in names.items()}
        families[expert] = {f: {"validation": val[f], "test": scores[n],
                                **({"fit_s": evidence.fit_seconds[k]} if (k := f"{f}:{slot}") in evidence.fit_seconds else {})}
                            for f, n in names.items()}
        validation[expert] = {"expert": val[own[expert]], "baseline": val["linear"], "n": int(len(evidence.y_val))}
        best = min([f for f in names if allowed is None or f in allowed] or [own[expert]], key=lambda f: val[f]["nll"])
        base, use, why = f"linear:{slot}", names[best], None
        if best != own[expert] and allowed is None:
            why = (f"below the {best} family on the {len(evidence.y_val)} validation rows (log-loss "
                   f"{val[own[expert]]['nll']:.3f} against {val[best]['nll']:.3f}; accuracy "
                   f"{val[own[expert]]['accuracy']:.3f} against {val[best]['accuracy']:.3f})")
        elif best == NEURAL:  # the safeguard on the test rows: a neural expert below the linear baseline
            gap = difference_ci(correct[expert], correct[base], draws=draws)  # paired: the same rows
            if gap["ci"][1] < 0:
                why = (f"below the linear baseline ({scores[expert]['score']:.3f} against "
                       f"{scores[base]['score']:.3f}; paired difference {fmt(gap)})")
                use = base
        if scores[use]["score"] < c:
            why = why or f"below chance ({scores[use]['score']:.3f} under {c:.3f})"
            use = base if scores[base]["score"] >= scores["prior"]["score"] else "prior"
        family_of = {**{f"{f}:{slot}": f for f in FAMILIES.names()}, **{n: f for f, n in names.items()}}
        chosen[expert] = family_of.get(use, "prior")
        log_probs[expert], picked[expert] = log_probs[use], use
        if why:
            what = (f"the {chosen[expert]} family's ({FAMILIES.get(chosen[expert]).model})" if use != "prior"
                    else "a constant prediction of the most frequent class")
            replaced[expert] = (f"{expert} scored {why}; its predictions are replaced by {what}, which scores "
                                f"{scores[use]['score']:.3f}")
    checked = [*(f"intra:{m}" for m in modalities), "inter"]
    if "i2m2" in log_probs and any(chosen[e] != own[e] for e in checked):
        chosen["i2m2"], families["i2m2"] = _product_of_chosen(evidence, log_probs, picked, checked, draws)
    return log_probs, {"intra": {m: scores[f"linear:{m}"] for m in modalities}, "joint": scores["linear:joint"],
                       "experts": {e: scores[e] for e in checked}, "model": FAMILIES.get("linear").model,
                       "validation": validation, "replaced": replaced, "families": families, "chosen": chosen,
                       "selection": experts, "trained": own}


def _product_of_chosen(evidence: Evidence, log_probs: dict[str, np.ndarray], picked: dict[str, str],
                       checked: list[str], draws: Draws) -> tuple[str, dict[str, Any]]:
    """Where a family other than the neural one won an expert, i2m2 is also the product of the chosen
    experts (intra and inter; an absent modality's intra expert drops out); the validation rows choose
    between it and the fine-tuned neural i2m2. ``log_probs["i2m2"]`` becomes the one chosen."""
    def product(pick: Callable[[str], np.ndarray], present: torch.Tensor | None) -> np.ndarray:
        parts = [pick(picked[e]) for e in checked]  # each [R or 1, N, C]
        n = parts[0].shape[1]
        active = torch.cat([present if present is not None else torch.ones(len(checked) - 1, n, dtype=torch.bool),
                            torch.ones(1, n, dtype=torch.bool)])  # [M + 1, N]: the inter expert is always active
        return np.stack([product_of_experts(torch.from_numpy(np.stack([_round(p, r) for p in parts])), active).numpy()
                         for r in range(max(len(p) for p in parts))])  # [R, N, C]

    prior_val = _constant(evidence.y_val, log_probs["i2m2"].shape[-1])[None]
    test = product(lambda n: log_probs[n], evidence.present)
    val = product(lambda n: prior_val if n == "prior" else evidence.val_log_probs[n], evidence.present_val)
    scored = {"neural": (_validation(evidence, "i2m2"), log_probs["i2m2"]),
              "product": (_nll_accuracy(val, evidence.y_val), test)}
    best = min(scored, key=lambda f: scored[f][0]["nll"])
    log_probs["i2m2"] = scored[best][1]
    return best, {f: {"validation": v, "test": score_with_ci(lp.argmax(-1) == evidence.y, draws)}
                  for f, (v, lp) in scored.items()}


def _validation(evidence: Evidence, name: str) -> dict[str, float]:
    """Accuracy and mean log-loss (nats) on the validation rows, over the seeds (or repeats)."""
    return _nll_accuracy(evidence.val_log_probs[name], evidence.y_val)


def _nll_accuracy(log_probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """[R, N, C] log-probabilities against [N] labels: accuracy and mean log-loss."""
    own = np.take_along_axis(log_probs, y[None, :, None], axis=-1)[..., 0]  # [R, N]
    return {"accuracy": float((log_probs.argmax(-1) == y).mean()), "nll": float(-own.mean())}


def profile_of(spec: Spec, evidence: Evidence, first: dict[str, list[Classifier]], plan: Any, seed: int,
               settings: dict[str, Any], min_slice_rows: int, classes: list[Any], experts: str = "auto") -> Profile:
    """The profile: scores of every expert (replacements made), shuffles, PID and slices."""
    y = evidence.y
    modalities = list(spec.modalities)
    draws = Draws.make(len(y), plan.bootstrap, seed)
    log_probs, baseline = check_experts(evidence, modalities, draws, experts)
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
        slices[column] = {}
        for v in (v for v in counts if v not in small):  # in sorted order
            rows = np.flatnonzero(values == v)
            slices[column][v] = _with_shuffles(_summarize(correct, y, rows, modalities, plan, seed),
                                               evidence.shuffle_hits, rows, plan, seed)
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


def _with_shuffles(summary: dict[str, Any], hits: dict[str, dict[str, np.ndarray]], rows: np.ndarray, plan: Any,
                   seed: int) -> dict[str, Any]:
    """A slice's summary with the scores of inter and i2m2 under every shuffle condition on its rows
    (does a question type need the order of a clip, or only its content?)."""
    draws = Draws.make(len(rows), plan.bootstrap, seed)
    return {**summary, "shuffle": {t: {e: score_with_ci(h[:, rows], draws) for e, h in by_expert.items()}
                                   for t, by_expert in hits.items()}}


def _shuffles(hits: dict[str, dict[str, np.ndarray]], correct: dict[str, np.ndarray], draws: Draws) -> dict[str, Any]:
    """Scores with one modality's (or all modalities') values permuted across test rows."""
    out: dict[str, Any] = {}
    for target, by_expert in hits.items():
        entry = {e: {**(s := score_with_ci(h, draws)), "perceptual": float(correct[e].mean() - s["score"])}
                 for e, h in by_expert.items()}
        out[target] = {**entry["inter"], "expert": "inter", "i2m2": entry["i2m2"], "label": condition_label(target)}
    return out
