"""The dependency study: intra, additive, inter and I2M2 experts, shuffles, PID, slices -> a profile.

Every expert gets the same budget. I2M2 starts from the trained intra and inter experts and is
fine-tuned jointly, so nothing is trained twice. Finished experts are on disk; a rerun resumes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modalyze.analysis.pid import decompose, joint_distribution
from modalyze.analysis.profile import PROFILE_SCHEMA, Profile
from modalyze.analysis.robustness import robustness
from modalyze.analysis.shuffle import EncodedExperts
from modalyze.analysis.stats import Draws, chance, difference_ci, score_with_ci
from modalyze.analysis.store import ExpertStore
from modalyze.analysis.verdict import decide, strength
from modalyze.classifier import Classifier
from modalyze.data import load_dataset
from modalyze.data.prepare import Prepared, prepare, summary
from modalyze.data.table import slice_labels
from modalyze.errors import ModalyzeError
from modalyze.options import check_options
from modalyze.experts import product_of_experts
from modalyze.run import versions
from modalyze.spec import Spec


@dataclass(frozen=True)
class Budget:
    seeds: int
    max_epochs: int
    patience: int
    min_steps: int
    finetune_epochs: int
    permutations: int
    bootstrap: int
    levels: tuple[float, ...]  # corruption levels of the robustness section


BUDGETS = {
    "fast": Budget(seeds=1, max_epochs=40, patience=3, min_steps=600, finetune_epochs=1, permutations=3,
                   bootstrap=400, levels=(0.0, 0.5, 1.0)),
    "standard": Budget(seeds=3, max_epochs=60, patience=4, min_steps=1000, finetune_epochs=5, permutations=5,
                       bootstrap=1000, levels=(0.0, 0.25, 0.5, 0.75, 1.0)),
    "thorough": Budget(seeds=5, max_epochs=100, patience=6, min_steps=2000, finetune_epochs=10, permutations=10,
                       bootstrap=2000, levels=tuple(i / 10 for i in range(11))),
}
PID_CLUSTERS = 8
Log = Callable[[str], None]


def analyze(data: str | Path | Spec, budget: str = "fast", out: str | Path | None = None, seed: int = 0,
            fusion: str = "late", dim: int = 64, accelerator: str = "auto", devices: int | str = 1,
            unreadable: str = "error", min_slice_rows: int = 50, modality_dropout: float = 0.2, progress: bool = True,
            dataset_options: dict[str, Any] | None = None, target: str | None = None, log: Log = print) -> Profile:
    """Measure each modality's contribution alone and in combination; returns the profile.

    ``modality_dropout`` applies to the i2m2 fine-tuning only: the intra and inter experts measure
    the dependencies as the data has them, and i2m2 is the model meant to survive a missing modality.

    ``data`` may be a table (a .csv/.parquet/.jsonl path or a DataFrame) with its ``target`` column.
    ``out`` keeps every finished expert (a rerun with the same settings resumes); without it the
    experts live in a temporary directory.
    """
    check_options(budget=budget, seed=seed, fusion=fusion, dim=dim, accelerator=accelerator, devices=devices,
                  unreadable=unreadable, min_slice_rows=min_slice_rows, modality_dropout=modality_dropout,
                  progress=progress)
    plan = BUDGETS[budget]
    spec, table = load_dataset(data, seed=seed, target=target, **(dataset_options or {}))
    if len(spec.modalities) < 2:
        raise ModalyzeError(f"{spec.name}: a dependency study needs at least two modalities (found {len(spec.modalities)})")
    prepared = prepare(spec, table, unreadable)
    if "test" not in prepared.splits or "val" not in prepared.splits:
        raise ModalyzeError(f"{spec.name}: the study needs rows in the val and test splits")
    log(summary(spec, prepared))
    log(f"the study trains {len(spec.modalities) + 2} experts per seed × {plan.seeds} seed(s): "
        f"{', '.join(f'intra:{m}' for m in spec.modalities)}, inter (at most {plan.max_epochs} epochs each), "
        f"then i2m2 ({plan.finetune_epochs} fine-tuning epoch(s)); then scoring")
    params = dict(dim=dim, fusion=fusion, patience=plan.patience, accelerator=accelerator, devices=devices,
                  progress=progress, unreadable=unreadable)
    settings = {"dataset": spec.name, "seed": seed, "budget": budget, **{k: params[k] for k in ("dim", "fusion")},
                "modality_dropout": modality_dropout, "dataset_options": dataset_options or {}}
    with tempfile.TemporaryDirectory() as scratch:
        store = ExpertStore(Path(out) / "experts" if out else Path(scratch), settings)
        start = time.perf_counter()
        trained = _train_all(spec, prepared, store, plan, seed, params, modality_dropout, log)
        log("scoring: bootstrap intervals, shuffles, PID")
        profile = _profile(spec, prepared, trained, plan, seed, settings, min_slice_rows)
        experts = {name: models[0].expert_ for name, models in trained.models.items()}  # first seed
        profile.robustness = robustness(experts, prepared.featurizers, prepared.splits["test"], prepared.frames["test"],
                                        "inter" if fusion == "late" else None, list(plan.levels), seed=seed,
                                        bootstrap=plan.bootstrap, log=log)
    profile.config["wall_time_s"] = time.perf_counter() - start
    return profile


@dataclass
class Trained:
    """Per expert name: one classifier and one test log-prob matrix per seed."""

    models: dict[str, list[Classifier]]
    log_probs: dict[str, list[np.ndarray]]


def _train_all(spec: Spec, prepared: Prepared, store: ExpertStore, plan: Budget, seed: int,
               params: dict[str, Any], modality_dropout: float, log: Log) -> Trained:
    names = [f"intra:{m}" for m in spec.modalities] + ["inter", "i2m2"]
    trained = Trained({n: [] for n in names}, {n: [] for n in names})
    test = prepared.splits["test"]
    for s in range(plan.seeds):
        train_seed = seed + s
        for i, name in enumerate(names):
            step = f"[seed {s + 1}/{plan.seeds}, expert {i + 1}/{len(names)}] {name}"
            init = [trained.models[n][s] for n in names if n != "i2m2"] if name == "i2m2" else None
            epochs, steps, drop = ((plan.finetune_epochs, 0, modality_dropout) if name == "i2m2"
                                   else (plan.max_epochs, plan.min_steps, 0.0))
            clf_factory = lambda name=name, init=init, epochs=epochs, steps=steps, drop=drop: Classifier(  # noqa: E731
                model=name, seed=train_seed, max_epochs=epochs, min_steps=steps, init=init, modality_dropout=drop,
                **params,
            ).fit_prepared(spec, prepared)
            clf, fresh = store.get(s, name, clf_factory)
            log(f"{step}: {'trained' if fresh else 'resumed from ' + str(store.path(s, name))}")
            trained.models[name].append(clf)
            trained.log_probs[name].append(store.test_log_probs(s, name, clf, test))
    return trained


def _profile(spec: Spec, prepared: Prepared, trained: Trained, plan: Budget, seed: int,
             settings: dict[str, Any], min_slice_rows: int) -> Profile:
    test = prepared.splits["test"]
    y = test.targets.numpy()
    modalities = list(spec.modalities)
    present = torch.stack([test.features[m].present for m in modalities])  # [M, N]
    correct = {n: np.stack([lp.argmax(1) == y for lp in lps]) for n, lps in trained.log_probs.items()}  # [S, N]
    additive = [product_of_experts(torch.from_numpy(np.stack([trained.log_probs[f"intra:{m}"][s] for m in modalities])),
                                   present).numpy() for s in range(plan.seeds)]
    correct["additive"] = np.stack([lp.argmax(1) == y for lp in additive])
    rows = np.arange(len(y))
    summary = _summarize(correct, y, rows, modalities, plan, seed)
    shuffle = _shuffles(trained, test, y, modalities, correct, plan, seed)
    pid = _pid(trained.models["inter"][0], prepared, modalities, y, seed)
    slices = {}
    for column in spec.slices:
        values = slice_labels(prepared.frames["test"][column])
        counts = {v: int((values == v).sum()) for v in sorted(set(values))}
        small = {v: n for v, n in counts.items() if n < min_slice_rows}
        slices[column] = {v: _summarize(correct, y, np.flatnonzero(values == v), modalities, plan, seed)
                          for v, n in counts.items() if v not in small}
        if len(small) <= 10:  # listed, marked, not scored: a handful of rows supports no score
            slices[column].update({v: {"n": n, "few_rows": True} for v, n in small.items()})
        elif small:
            slices[column][f"({len(small)} other values)"] = {"n": sum(small.values()), "few_rows": True}
    joint = summary["interaction"]["joint"]
    confusion = {"model": joint, "classes": prepared.classes,
                 "matrix": confusion_matrix(y, trained.log_probs[joint][0].argmax(1),
                                            labels=np.arange(len(prepared.classes))).tolist()}
    curves = {n: (models[0].history_ or {}).get("epochs", []) for n, models in trained.models.items()}
    return Profile(
        dataset=spec.name, target=spec.target, metric="accuracy", n_test=int(len(y)), classes=prepared.classes,
        chance=summary["chance"], intra=summary["intra"], additive=summary["additive"], inter=summary["inter"],
        i2m2=summary["i2m2"], interaction=summary["interaction"], verdict=summary["verdict"], reason=summary["reason"],
        shuffle=shuffle, pid=pid, slices=slices, curves=curves, confusion=confusion,
        params={n: models[0].n_parameters for n, models in trained.models.items()},
        config={**settings, "budget_settings": asdict(plan), "pid_clusters": PID_CLUSTERS,
                "min_slice_rows": min_slice_rows,
                "modalities": {m: spec.modalities[m].kind for m in modalities}},
        versions=versions(), schema=PROFILE_SCHEMA,
    )


def _summarize(correct: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, modalities: list[str],
               plan: Budget, seed: int) -> dict[str, Any]:
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
    decision = decide(c, joint, joint_name, intra, interaction)
    return {"n": int(len(rows)), "chance": c, "intra": intra, "additive": scores["additive"],
            "inter": {**scores["inter"], "strength": strength(c + interaction["score"], c, joint["score"])},
            "i2m2": scores["i2m2"], "interaction": {**interaction, "joint": joint_name, "best_intra": best_intra},
            "verdict": decision.verdict, "reason": decision.reason, "margin": decision.margin}


def _shuffles(trained: Trained, test, y: np.ndarray, modalities: list[str], correct: dict[str, np.ndarray],
              plan: Budget, seed: int) -> dict[str, Any]:
    """Scores with one modality's (or all modalities') values permuted across test rows."""
    rng = np.random.default_rng(seed)
    draws = Draws.make(len(y), plan.bootstrap, seed)
    encoded = {e: [EncodedExperts(clf.expert_, test) for clf in trained.models[e]] for e in ("inter", "i2m2")}
    out: dict[str, Any] = {}
    for target in [*modalities, "all"]:
        moved = modalities if target == "all" else [target]
        perms = [{m: rng.permutation(len(y)) for m in moved} for _ in range(plan.permutations)]
        entry: dict[str, Any] = {}
        for expert, models in encoded.items():
            hits = np.stack([model.log_probs(p).argmax(1) == y for model in models for p in perms])
            scored = score_with_ci(hits, draws)
            entry[expert] = {**scored, "perceptual": float(correct[expert].mean() - scored["score"])}
        out[target] = {**entry["inter"], "expert": "inter", "i2m2": entry["i2m2"]}
    return out


def _pid(inter: Classifier, prepared: Prepared, modalities: list[str], y: np.ndarray, seed: int) -> dict[str, Any]:
    """BROJA PID per modality pair, on modalities discretised by clustering the inter expert's view of them."""
    train_z = _embed(inter, prepared.splits["train"], limit=5000, seed=seed)
    test_z = _embed(inter, prepared.splits["test"])
    codes = {}
    for m in modalities:
        k = min(PID_CLUSTERS, len(np.unique(train_z[m].round(5), axis=0)))
        dims = min(8, train_z[m].shape[1])
        model = make_pipeline(StandardScaler(), PCA(dims, random_state=seed),
                              KMeans(k, n_init=4, random_state=seed)).fit(train_z[m])
        codes[m] = model.predict(test_z[m])
    rng = np.random.default_rng(seed)
    shuffled_y = rng.permutation(y)
    out = {}
    for i, a in enumerate(modalities):
        for b in modalities[i + 1:]:
            real = decompose(joint_distribution(codes[a], codes[b], y))
            floor = decompose(joint_distribution(codes[a], codes[b], shuffled_y))
            out[f"{a}|{b}"] = {"redundancy": real.redundancy, "unique": {a: real.unique[0], b: real.unique[1]},
                               "synergy": real.synergy, "total": real.total, "units": "bits",
                               "noise_floor": {"redundancy": floor.redundancy, "unique": {a: floor.unique[0], b: floor.unique[1]},
                                               "synergy": floor.synergy, "total": floor.total}}
    return out


@torch.no_grad()
def _embed(clf: Classifier, data, limit: int | None = None, seed: int = 0, batch_size: int = 512) -> dict[str, np.ndarray]:
    """The inter expert's pooled per-modality representations [N, D] (a row subset if ``limit``)."""
    rows = np.arange(len(data))
    if limit is not None and len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    inter = clf.expert_.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(rows), batch_size):
        outputs = inter.encode(data.__getitems__(rows[start:start + batch_size].tolist()))
        for m, out in outputs.items():
            parts.setdefault(m, []).append(out.pooled.numpy())
    return {m: np.concatenate(v) for m, v in parts.items()}
