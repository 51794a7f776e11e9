"""Fusion comparison: the inter expert and I2M2 with each fusion block, on one split and one budget.

The intra experts are trained once and shared; each fusion gets its own inter expert, I2M2 is
fine-tuned from the intra experts and that inter expert (the recipe of the dependency study), and
the shared-encoder I2M2 is trained from scratch as one model. Per
(fusion, model) it records the test score with a bootstrap interval, the parameter count, the
training time (I2M2: including its members), the inference latency per row and the memory one
training step needs. Finished experts are on disk; a rerun resumes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from modalyze.analysis.parallel import Training, resolve_jobs, run_trainings
from modalyze.analysis.stats import Draws, score_with_ci
from modalyze.analysis.store import ExpertStore, origin
from modalyze.settings import BUDGETS, CompareSettings, takes_settings
from modalyze.classifier import Classifier
from modalyze.data import load_dataset
from modalyze.data.batching import FeaturizedDataset, make_loader
from modalyze.data.prepare import prepare_checked
from modalyze.data.table import check_classes
from modalyze.log import Log, info
from modalyze.options import check_options
from modalyze.fusion import list_fusions
from modalyze.run import versions
from modalyze.train import predict_log_probs
from modalyze.train.task import ExpertTask

COMPARE_SCHEMA = "modalyze.compare/1"


@takes_settings(CompareSettings)
def compare(data: str | Path, fusions: list[str] | None = None, out: str | Path | None = None, *,
            dataset_options: dict[str, Any] | None = None, target: str | None = None, log: Log = info,
            **settings: Any) -> dict[str, Any]:  # settings: CompareSettings' fields
    """Train and measure every fusion in ``fusions`` (default: all registered); returns the table as a dict.
    The trainings that need no other (intra experts, and per fusion the inter expert and i2m2-shared)
    run on ``jobs`` workers or Ray (:mod:`modalyze.analysis.parallel`)."""
    fusions = list(list_fusions() if fusions is None else fusions)
    run = CompareSettings(**settings)
    check_options(fusions=fusions, **run.to_dict())
    plan, seed = BUDGETS[run.budget], run.seed
    spec, table = load_dataset(data, seed=seed, target=target, **(dataset_options or {}))
    check_classes(spec, table.frame)
    prepared = prepare_checked(spec, table, run.unreadable, needs=("val", "test"), purpose="the comparison")
    params = {k: getattr(run, k) for k in ("dim", "seed", "accelerator", "devices", "progress", "unreadable")}
    config = {"dataset": spec.name, "seed": seed, "budget": run.budget, "dim": run.dim,
              "dataset_options": dataset_options or {}, "purpose": "compare"}
    test = prepared.splits["test"]
    # a copy: sending the splits to worker processes moves their tensors into shared memory, which
    # leaves a NumPy view taken before it pointing at freed memory
    y = test.targets.numpy().copy()
    draws = Draws.make(len(y), plan.bootstrap, seed)

    def kwargs(model: str, fusion: str = "late", finetune: bool = False) -> dict[str, Any]:
        return dict(model=model, fusion=fusion, **plan.recipe(finetune), **params)

    def fit(model: str, fusion: str = "late", init: list[Classifier] | None = None) -> Callable[[], Classifier]:
        return lambda: Classifier(init=init, **kwargs(model, fusion, bool(init))).fit_prepared(spec, prepared)

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        store = ExpertStore(Path(out) / "experts" if out else Path(scratch), config)
        independent = [Training(0, f"intra:{m}", kwargs(f"intra:{m}")) for m in spec.modalities]
        independent += [Training(0, f"{model}-{f}", kwargs(model, f)) for f in fusions for model in ("inter", "i2m2-shared")]
        in_workers = run_trainings(independent, store, spec, prepared,
                                   resolve_jobs(run.jobs, len(independent), len(prepared.splits["train"]), run.accelerator),
                                   run.executor, run.ray_address, run.accelerator, log)

        def said(name: str, fresh: bool) -> str:
            return origin(fresh, (0, name) in in_workers, store.path(0, name))
        intra = []
        for m in spec.modalities:
            clf, fresh = store.get(0, f"intra:{m}", fit(f"intra:{m}"))
            log(f"intra:{m}: {said(f'intra:{m}', fresh)}")
            intra.append(clf)
        intra_time = sum(c.history_["train_time_s"] for c in intra)
        for fusion in fusions:
            inter, fresh = store.get(0, f"inter-{fusion}", fit("inter", fusion))
            log(f"{fusion}: inter {said(f'inter-{fusion}', fresh)}")
            i2m2, fresh = store.get(0, f"i2m2-{fusion}", fit("i2m2", fusion, [*intra, inter]))
            log(f"{fusion}: i2m2 {said(f'i2m2-{fusion}', fresh)}")
            shared, fresh = store.get(0, f"i2m2-shared-{fusion}", fit("i2m2-shared", fusion))
            log(f"{fusion}: i2m2-shared {said(f'i2m2-shared-{fusion}', fresh)}")
            inter_time = inter.history_["train_time_s"]
            for model, clf, train_time in (("inter", inter, inter_time),
                                           ("i2m2", i2m2, intra_time + inter_time + i2m2.history_["train_time_s"]),
                                           ("i2m2-shared", shared, shared.history_["train_time_s"])):
                log_probs = store.log_probs(0, f"{model}-{fusion}", clf, test)
                rows.append({"fusion": fusion, "model": model,
                             **score_with_ci((log_probs.argmax(1) == y)[None], draws),
                             "params": clf.n_parameters, "train_time_s": train_time,
                             "epochs": len(clf.history_["epochs"]),
                             "latency_ms_per_row": latency_ms(clf.expert_, test),
                             "train_memory_mb": training_memory_mb(clf.expert_, prepared.splits["train"],
                                                                   clf.batch_size)})
    return {"schema": COMPARE_SCHEMA, "dataset": spec.name, "metric": "accuracy", "n_test": int(len(y)),
            "budget": run.budget, "seed": seed, "dim": run.dim, "rows": rows, "versions": versions()}


def latency_ms(expert: torch.nn.Module, data: FeaturizedDataset, batch_size: int = 512, repeats: int = 5) -> float:
    """Inference milliseconds per row over the test split (best of ``repeats`` passes, after a warm-up)."""
    predict_log_probs(expert, data.subset(torch.arange(min(batch_size, len(data)))), batch_size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict_log_probs(expert, data, batch_size)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / max(len(data), 1)


def training_memory_mb(expert: torch.nn.Module, train: FeaturizedDataset, batch_size: int) -> float:
    """Memory one training step needs, counted rather than sampled (so it depends neither on the
    allocator nor on what else the process holds): 4 × the parameter bytes (weights, gradients and
    AdamW's two moments) + every activation the forward pass saves for backward, at ``batch_size`` rows."""
    batch = next(iter(make_loader(train, batch_size, shuffle=False)))
    params = {p.untyped_storage().data_ptr() for p in expert.parameters()}
    saved: dict[int, int] = {}  # storage address -> bytes (views and repeats of one tensor count once)

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    expert.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        ExpertTask(expert).compute_loss(batch)
    expert.eval()
    param_bytes = sum(p.numel() * p.element_size() for p in expert.parameters())
    return (4 * param_bytes + sum(saved.values())) / 2**20
