"""The dependency study: intra, additive, inter and I2M2 experts, shuffles, PID, slices -> a profile.

Every expert gets the same budget. I2M2 starts from the trained intra and inter experts and is
fine-tuned jointly, so nothing is trained twice. Finished experts are on disk; a rerun resumes.
Small tables are cross-validated (:mod:`modalyze.analysis.crossval`), and beside every neural expert
the cheap expert families are fit on the same rows (:mod:`modalyze.families`); the validation rows
choose among them (:mod:`modalyze.analysis.scoring`). Cheap first: where every modality is tabular and
the table is small, no neural expert is trained; each expert is the flat family its
validation rows chose and i2m2 is their product, weighted per presence pattern. The ``quick``
budget trains one i2m2-shared model instead and reads every expert off its heads (the one-pass
estimate).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from modalyze.analysis import crossval, pid_estimate
from modalyze.families import NEURAL, Unsuitable, cheap_first, fitted_families, trained_family
from modalyze.analysis.parallel import Training, resolve_jobs, run_trainings
from modalyze.analysis.profile import Profile
from modalyze.analysis.robustness import Evaluator, robustness
from modalyze.analysis.scoring import Evidence, profile_of
from modalyze.analysis.shuffle import ORDER, ShuffleScorer, score_orders, shuffle_scorer
from modalyze.analysis.store import ExpertStore, origin
from modalyze.classifier import Classifier
from modalyze.data import load_dataset
from modalyze.data.batching import FeaturizedDataset
from modalyze.data.corruptions import corrupt
from modalyze.data.prepare import Prepared, prepare_checked, summary
from modalyze.data.table import SPLIT_COLUMN, Table, check_classes
from modalyze.errors import ModalyzeError
from modalyze.kind import get_kind
from modalyze.log import Log, info
from modalyze.options import check_options
from modalyze.settings import BUDGETS, Budget, StudySettings, takes_settings
from modalyze.spec import Spec


ONE_PASS = ("one-pass estimate: every expert is a head of one i2m2-shared model (shared encoders, a head "
            "per modality, a joint head; their product is i2m2, trained without modality dropout)")


@takes_settings(StudySettings)
def analyze(data: str | Path | Spec, out: str | Path | None = None, *, dataset_options: dict[str, Any] | None = None,
            target: str | None = None, modalities: list[str] | None = None, log: Log = info,
            **settings: Any) -> Profile:  # settings: StudySettings' fields
    """Measure each modality's contribution alone and in combination; returns the profile.

    ``modality_dropout`` applies to the i2m2 fine-tuning only: the intra and inter experts measure
    the dependencies as the data has them, and i2m2 is the model meant to survive a missing modality.

    ``data`` may be a table (a .csv/.parquet/.jsonl path or a DataFrame) with its ``target`` column;
    ``modalities`` overrides the inferred grouping (``NAME=COL1,COL2:KIND``, as ``--modality``).
    ``out`` keeps every finished expert (a rerun with the same settings resumes); without it the
    experts live in a temporary directory. Below ``crossval.CV_BELOW_ROWS`` rows the study
    cross-validates instead of holding out one test split.

    ``jobs`` and ``executor`` say where the independent trainings run (:mod:`modalyze.analysis.parallel`):
    one process, ``jobs`` local worker processes, or Ray tasks on the cluster at ``ray_address``.
    """
    run = StudySettings(**settings)
    check_options(**run.to_dict())
    plan, seed, unreadable = BUDGETS[run.budget], run.seed, run.unreadable
    spec, table = load_dataset(data, seed=seed, target=target, modalities=modalities, **(dataset_options or {}))
    if len(spec.modalities) < 2:
        raise ModalyzeError(f"{spec.name}: a dependency study needs at least two modalities (found "
                            f"{len(spec.modalities)}: {', '.join(spec.modalities)}); group the columns into "
                            "modalities with --modality NAME=COL1,COL2:KIND (repeatable) or in the spec")
    check_classes(spec, table.frame)
    cv = crossval.use_cross_validation(spec, table)
    params = {k: getattr(run, k) for k in ("dim", "fusion", "accelerator", "devices", "progress", "unreadable")}
    experts = cheap_first(run.experts, [s.kind for s in spec.modalities.values()], len(table.frame))
    study = Study(spec, plan, seed, params, run.modality_dropout, log,
                  {"jobs": run.jobs, "executor": run.executor, "address": run.ray_address}, experts)
    config = {"dataset": spec.name, "seed": seed, "budget": run.budget, "dim": run.dim, "fusion": run.fusion,
              "modality_dropout": run.modality_dropout, "dataset_options": dataset_options or {},
              "experts": experts, "evaluation": (f"{plan.cv_repeats} x {plan.cv_folds}-fold cross-validation" if cv
                                                 else "held-out test split"),
              "estimate": ONE_PASS if study.one_pass else "separately trained experts"}
    if run.experts == "auto" and experts == "cheap":
        kinds = " or ".join(sorted({s.kind for s in spec.modalities.values()}))
        log(f"cheap first: every modality is {kinds} and the table has {len(table.frame):,} rows, so each expert is "
            "the flat family (linear, trees) its validation rows choose and no neural expert is fitted "
            "(--experts all adds them)")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(out) / "experts" if out else Path(scratch)
        start = time.perf_counter()
        if cv:
            log(f"{spec.name}: {len(table.frame)} rows, fewer than {crossval.CV_BELOW_ROWS}: every score is "
                f"cross-validated ({plan.cv_repeats} repeats of stratified {plan.cv_folds}-fold), every row "
                "is a test row once per repeat")
            evidence, first, first_prepared = study.cross_validate(table, root, config, unreadable)
        else:
            prepared = prepare_checked(spec, table, unreadable, needs=("val", "test"), purpose="the study")
            log(summary(spec, prepared))
            first_prepared = prepared
            first = study.train_all(prepared, ExpertStore(root, config), plan.seeds)
            log("scoring: expert families (linear, trees), bootstrap intervals, shuffles, PID")
            evidence = study.measure(prepared, first)
        profile = profile_of(spec, evidence, first.models, plan, seed, config, run.min_slice_rows, first_prepared.classes,
                             experts)
        # first seed (or fold); the one-pass model gives every member from one forward pass per condition
        measured = ({"i2m2": first.models["i2m2"][0].expert_} if study.one_pass
                    else {name: models[0].expert_ for name, models in first.models.items()})
        profile.robustness = robustness(measured, first_prepared.featurizers, first_prepared.splits["test"],
                                        first_prepared.frames["test"], "inter" if run.fusion == "late" else None,
                                        list(plan.levels), members=study.one_pass, seed=seed,
                                        bootstrap=plan.bootstrap, log=log)
    profile.config["wall_time_s"] = time.perf_counter() - start
    return profile


@dataclass
class Trained:
    """Per expert name: one classifier and its test and validation log-prob matrices per seed."""

    models: dict[str, list[Classifier]]
    log_probs: dict[str, list[np.ndarray]]  # test split, [N, C] per seed
    val_log_probs: dict[str, list[np.ndarray]]  # validation split, [N_val, C] per seed

    @classmethod
    def empty(cls, names: list[str]) -> Trained:
        return cls(*({n: [] for n in names} for _ in range(3)))

    def add(self, name: str, clf: Classifier, store: ExpertStore, seed: int, stored: str, prepared: Prepared) -> None:
        """Record one seed's expert ``name`` (kept in the store as ``stored``) with its split predictions."""
        self.models[name].append(clf)
        self.log_probs[name].append(store.log_probs(seed, stored, clf, prepared.splits["test"]))
        self.val_log_probs[name].append(store.log_probs(seed, stored, clf, prepared.splits["val"], "val"))

    def repeat_first(self, name: str) -> None:
        """Seed 0's expert ``name`` and its predictions again (a fit that does not depend on the seed)."""
        for kept in (self.models, self.log_probs, self.val_log_probs):
            kept[name].append(kept[name][0])


@dataclass
class Study:
    """How experts are trained and measured; the same for one split and for each fold."""

    spec: Spec
    plan: Budget
    seed: int
    params: dict[str, Any]
    modality_dropout: float
    log: Log
    parallel: dict[str, Any] = field(default_factory=dict)  # jobs, executor, address (see analysis.parallel)
    experts: str = "all"  # --experts as cheap_first resolved it (modalyze.families)

    @property
    def modalities(self) -> list[str]:
        return list(self.spec.modalities)

    def family(self, name: str) -> str:
        """The family of the study's expert ``name`` (i2m2: the product of flat or mixed members, or the
        neural i2m2 fine-tuned from neural members)."""
        if name == "i2m2":
            flat = any(self.family(n) != NEURAL for n in self.expert_names[:-1])
            return self.experts if flat else NEURAL
        members = self.modalities if name == "inter" else [name.split(":", 1)[1]]
        return trained_family(self.experts, [self.spec.modalities[m].kind for m in members])

    @property
    def one_pass(self) -> bool:
        """The budget's one-pass estimate, where every expert is neural (it shares their encoders)."""
        return self.plan.one_pass and self.family("i2m2") == NEURAL

    @property
    def expert_names(self) -> list[str]:
        """Every expert a study scores, i2m2 last (it starts from the others)."""
        return [f"intra:{m}" for m in self.modalities] + ["inter", "i2m2"]

    def expert_params(self, name: str, s: int) -> dict[str, Any]:
        """Classifier parameters of expert ``name`` for seed slot ``s`` (i2m2 is fine-tuned from the others)."""
        finetune = name == "i2m2"
        return dict(model=name, family=self.family(name), seed=self.seed + s,
                    modality_dropout=self.modality_dropout if finetune else 0.0, **self.plan.recipe(finetune), **self.params)

    def train_parallel(self, trainings: list[Training], store: ExpertStore, prepared: Prepared) -> set[tuple[int, str]]:
        """The independent trainings on the study's executor (nothing happens with one job); returns
        the (seed, name) of those trained now, in workers."""
        jobs = resolve_jobs(self.parallel.get("jobs", 1), len(trainings), len(prepared.splits["train"]),
                            self.params["accelerator"])
        return run_trainings(trainings, store, self.spec, prepared, jobs, self.parallel.get("executor", "local"),
                             self.parallel.get("address"), self.params["accelerator"], self.log)

    def train_all(self, prepared: Prepared, store: ExpertStore, seeds: int,
                  where: str = "") -> Trained:
        if self.one_pass:
            return self.train_one_pass(prepared, store, seeds, where)
        names = self.expert_names
        neural = [n for n in names[:-1] if self.family(n) == NEURAL]
        flat = [n for n in names[:-1] if n not in neural]
        parts = ([f"{', '.join(neural)} (neural, at most {self.plan.max_epochs} epochs each)"] if neural else []) + (
            [f"{', '.join(flat)} (the flat family the validation rows choose, fitted once: it does not depend on "
             "the seed)"] if flat else [])
        then = (f"i2m2 ({self.plan.finetune_epochs} fine-tuning epoch(s))" if not flat
                else "i2m2 (their product, weighted per presence pattern)")
        self.log(f"{where}the study trains {len(names) - 1} experts per seed × {seeds} seed(s): {'; '.join(parts)}, "
                 f"then {then}")
        in_workers = self.train_parallel([Training(s, n, self.expert_params(n, s)) for s in range(seeds)
                                          for n in neural], store, prepared)
        trained = Trained.empty(names)
        for s in range(seeds):
            for i, name in enumerate(names):
                step = f"{where}[seed {s + 1}/{seeds}, expert {i + 1}/{len(names)}] {name}"
                if s and self.family(name) != NEURAL:  # flat: the same fit, and predictions, for every seed
                    trained.repeat_first(name)
                    continue
                init = [trained.models[n][s] for n in names if n != "i2m2"] if name == "i2m2" else None
                clf, fresh = store.get(s, name, lambda name=name, init=init: Classifier(
                    init=init, **self.expert_params(name, s)).fit_prepared(self.spec, prepared))
                self.log(f"{step}: {origin(fresh, (s, name) in in_workers, store.path(s, name))}")
                trained.add(name, clf, store, s, name, prepared)
        return trained

    def train_one_pass(self, prepared: Prepared, store: ExpertStore, seeds: int, where: str = "") -> Trained:
        """One i2m2-shared model per seed; its intra heads, its inter head and its product stand for
        the intra experts, the inter expert and i2m2 (the additive product follows from the heads).
        Each head is read at the epoch of its own lowest validation loss, as a separate expert is."""
        self.log(f"{where}the study trains one model per seed × {seeds} seed(s): i2m2-shared (shared encoders, "
                 f"a head per modality and a joint head, at most {self.plan.max_epochs} epochs): the one-pass estimate")
        names = self.expert_names
        params = {**self.expert_params("inter", 0), "model": "i2m2-shared"}
        members = tuple(n for n in names if n != "i2m2")
        in_workers = self.train_parallel([Training(s, "i2m2-shared", {**params, "seed": self.seed + s}, members)
                                          for s in range(seeds)], store, prepared)
        trained = Trained.empty(names)
        for s in range(seeds):
            clf, fresh = store.get(s, "i2m2-shared", lambda s=s: Classifier(
                **{**params, "seed": self.seed + s}).fit_prepared(self.spec, prepared))
            self.log(f"{where}[seed {s + 1}/{seeds}] i2m2-shared: "
                     f"{origin(fresh, (s, 'i2m2-shared') in in_workers, store.path(s, 'i2m2-shared'))}")
            for name in names:  # each member as kept at its own best validation epoch, on disk beside the model
                member = clf if name == "i2m2" else store.get(s, name, lambda name=name: clf.member(name))[0]
                trained.add(name, member, store, s, "i2m2-shared" if name == "i2m2" else name, prepared)
        return trained

    def measure(self, prepared: Prepared, trained: Trained, pid: bool = True) -> Evidence:
        """Log-probabilities of every expert and baseline, shuffles and PID on the test split."""
        test, val, train = (prepared.splits[k] for k in ("test", "val", "train"))
        n_classes = len(prepared.classes)
        y, y_val = test.targets.numpy(), val.targets.numpy()
        log_probs = {n: np.stack(lps) for n, lps in trained.log_probs.items()}  # [S, N, C]
        val_log_probs = {n: np.stack(lps) for n, lps in trained.val_log_probs.items()}  # [S, N_val, C]
        fit_seconds: dict[str, float] = {}
        for slot, members, name in [*((m, [m], f"intra:{m}") for m in self.modalities), ("joint", self.modalities, "inter")]:
            own = trained.models[name][0]  # a flat expert fitted in this run keeps every family it fitted
            fitted, seconds = getattr(own, "candidates_", {}), own.history_.get("fit_seconds", {})
            for family in fitted_families(self.experts, [self.spec.modalities[m].kind for m in members]):
                start, key = time.perf_counter(), f"{family.name}:{slot}"
                try:
                    model = fitted[family.name].model if family.name in fitted else (
                        family.create(members, n_classes, self.seed).fit(train, val))
                except Unsuitable as why:
                    self.log(f"{family.name} family skipped for {slot}: {why}")
                    continue
                log_probs[key], val_log_probs[key] = model.log_probs(test)[None], model.log_probs(val)[None]
                fit_seconds[key] = seconds[family.name] if family.name in fitted else time.perf_counter() - start
        encoded = {e: [shuffle_scorer(clf.expert_, test) for clf in trained.models[e]] for e in ("inter", "i2m2")}
        estimate = {}
        if pid:
            alone = {m: trained.log_probs[f"intra:{m}"][0] for m in self.modalities}
            bound = pid_estimate.information_bound(trained.log_probs["inter"][0], y)
            estimate = {k: {**e, "bound": bound}
                        for k, e in pid_estimate.estimate(encoded["inter"][0], alone, y, self.seed).items()}
        hits = {**_shuffle_hits(encoded, y, self.modalities, self.plan, self.seed), **self.order_hits(prepared, trained)}
        return Evidence(y=y, present=torch.stack([test.features[m].present for m in self.modalities]),
                        log_probs=log_probs, shuffle_hits=hits,
                        frame=prepared.frames["test"], pid=estimate,
                        y_val=y_val, val_log_probs=val_log_probs,
                        present_val=torch.stack([val.features[m].present for m in self.modalities]),
                        fit_seconds=fit_seconds,
                        own={n: trained.models[n][0].config_.family for n in self.expert_names[:-1]})

    def order_hits(self, prepared: Prepared, trained: Trained) -> dict[str, dict[str, np.ndarray]]:
        """The temporal-order condition: hits [S, N] of inter and i2m2 with one modality's time shuffled
        within each row (its kind's ``order`` corruption at level 1), for every modality whose kind has one."""
        test, out = prepared.splits["test"], {}
        for m in self.modalities:
            order = get_kind(self.spec.modalities[m].kind).order
            if order is not None:
                shuffled = corrupt(prepared.featurizers[m], prepared.frames["test"], order, 1.0, self.seed)
                data = FeaturizedDataset({**test.features, m: shuffled}, test.targets)
                out[f"{ORDER}{m}"] = {e: np.stack([Evaluator({e: clf.expert_}, test).correct(data)[e]
                                                   for clf in trained.models[e]]) for e in ("inter", "i2m2")}
        return out

    def cross_validate(self, table: Table, root: Path, settings: dict[str, Any],
                       unreadable: str) -> tuple[Evidence, Trained, Prepared]:
        """Train and measure on every fold; the evidence covers every row once per repeat."""
        parts: list[tuple[int, np.ndarray, Evidence]] = []
        first: tuple[Trained, Prepared] | None = None
        for repeat, fold, fold_table in crossval.folds(self.spec, table, self.plan.cv_repeats, self.seed,
                                                       self.plan.cv_folds):
            prepared = prepare_checked(self.spec, fold_table, unreadable, needs=("val", "test"),
                                       purpose=f"fold {fold + 1} of repeat {repeat + 1}")
            if first is None:
                self.log(f"[repeat 1, fold 1] {summary(self.spec, prepared)}")
            store = ExpertStore(root / f"repeat-{repeat}-fold-{fold}", settings)
            trained = replace(self, seed=self.seed + repeat).train_all(
                prepared, store, 1, where=f"[repeat {repeat + 1}, fold {fold + 1}] ")
            rows = np.flatnonzero(fold_table.frame[SPLIT_COLUMN].to_numpy() == "test")
            parts.append((repeat, rows, self.measure(prepared, trained, pid=repeat == 0)))
            first = first or (trained, prepared)
        return _merge(parts, table.frame), *first


def _merge(parts: list[tuple[int, np.ndarray, Evidence]], frame: pd.DataFrame) -> Evidence:
    """Out-of-fold evidence: each repeat's folds placed on their rows, repeats stacked."""
    n = len(frame)
    repeats = sorted({r for r, _, _ in parts})
    by_repeat = [[(rows, e) for r, rows, e in parts if r == repeat] for repeat in repeats]
    place = lambda pick, axis: np.concatenate([crossval.place([(rows, pick(e)) for rows, e in folds], n, axis)  # noqa: E731
                                               for folds in by_repeat])
    first = by_repeat[0]
    sample = first[0][1]
    kept = set.intersection(*(set(e.log_probs) for _, _, e in parts))  # a family skipped in a fold is dropped
    sample = replace(sample, log_probs={k: v for k, v in sample.log_probs.items() if k in kept},
                     val_log_probs={k: v for k, v in sample.val_log_probs.items() if k in kept})
    return Evidence(
        y=crossval.place([(rows, e.y) for rows, e in first], n, 0),
        present=torch.from_numpy(crossval.place([(rows, e.present.numpy()) for rows, e in first], n, 1)),
        log_probs={k: place(lambda e, k=k: e.log_probs[k], 1) for k in sample.log_probs},
        shuffle_hits={t: {x: place(lambda e, t=t, x=x: e.shuffle_hits[t][x], 1) for x in hits}
                      for t, hits in sample.shuffle_hits.items()},
        frame=frame, pid=_mean([e.pid for _, e in first]),
        y_val=np.concatenate([e.y_val for _, _, e in parts]),
        val_log_probs={k: np.concatenate([e.val_log_probs[k] for _, _, e in parts], axis=1) for k in sample.val_log_probs},
        present_val=torch.cat([e.present_val for _, _, e in parts], dim=1),
        fit_seconds={k: sum(e.fit_seconds.get(k, 0.0) for _, _, e in parts) for k in kept},
        own={n: _per_fold({e.own[n] for _, _, e in parts}) for n in sample.own})


def _per_fold(families: set[str]) -> str:
    """The family of an expert over the folds: one, or each fold's choice (``linear/trees (per fold)``)."""
    return families.pop() if len(families) == 1 else f"{'/'.join(sorted(families))} (per fold)"


def _mean(trees: list[Any]) -> Any:
    """Leaf-wise mean of equally shaped dicts of numbers (strings are kept)."""
    if isinstance(trees[0], dict):
        return {k: _mean([t[k] for t in trees]) for k in trees[0] if all(k in t for t in trees)}
    if isinstance(trees[0], (int, float)):
        return float(np.mean(trees))
    return trees[0]


def _shuffle_hits(encoded: dict[str, list[ShuffleScorer]], y: np.ndarray, modalities: list[str], plan: Budget,
                  seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Hits [S·P, N] with one modality's (or all modalities') values permuted across test rows."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for target in [*modalities, "all"]:
        moved = modalities if target == "all" else [target]
        perms = [{m: rng.permutation(len(y)) for m in moved} for _ in range(plan.permutations)]
        out[target] = {expert: np.stack([lp.argmax(1) == y for model in models for lp in score_orders(model, perms, len(y))])
                       for expert, models in encoded.items()}
    return out
