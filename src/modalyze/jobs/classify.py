"""Jobs of a classifier run: train it, evaluate it, predict a file, measure its robustness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modalyze.classifier import Classifier, split_metrics
from modalyze.data import load_dataset
from modalyze.data.prepare import prepare_checked, summary
from modalyze.data.table import check_classes, read_source
from modalyze.experts import PRODUCTS
from modalyze.errors import ModalyzeError, naming
from modalyze.log import Log, info
from modalyze.options import check_options
from modalyze.outputs import output_dir, output_file, write_json, write_with
from modalyze.settings import ROBUSTNESS
from modalyze.spec import Spec
from modalyze.train import predict_log_probs


def train_run(data: str | Path | Spec, out: str | Path, dataset_options: dict[str, Any] | None = None,
              log: Log = info, **params: Any) -> dict[str, Any]:
    """Train ``Classifier(**params)`` on ``data``, evaluate on val and test, write the run directory."""
    clf = Classifier(**params)
    clf.check_params()
    with output_dir(out, "train"):
        spec, table = load_dataset(data, seed=clf.seed, **(dataset_options or {}))
        check_classes(spec, table.frame)
        prepared = prepare_checked(spec, table, clf.unreadable)
        log(summary(spec, prepared))
        if clf.family in ("neural", "auto"):
            log(f"training {clf.model}: at most {clf.max_epochs} epochs, stopping after {clf.patience} without "
                "improvement on the val split")
        if clf.family != "neural":
            what = "each member of " + clf.model if clf.model in PRODUCTS else clf.model
            log(f"fitting {what} as {'every family that reads its inputs' if clf.family == 'auto' else clf.family}")
        clf.fit_prepared(spec, prepared)
        metrics: dict[str, Any] = {}
        for split in ("val", "test"):
            if split in prepared.splits:
                metrics[split], log_probs = split_metrics(clf.expert_, prepared.splits[split])
                if split == "test":
                    _write_predictions(Path(out), prepared.frames["test"], clf, log_probs)
        metrics.update(model=clf.model, family=clf.config_.members or clf.config_.family, dataset=spec.name,
                       params=clf.n_parameters,
                       train_time_s=clf.history_["train_time_s"], epochs=len(clf.history_["epochs"]),
                       samples_per_s=clf.history_["samples_per_s"],
                       missing={s: d.missing_counts() for s, d in prepared.splits.items()})
        clf.save(out, metrics)
    return metrics


def _write_predictions(out: Path, frame: pd.DataFrame, clf: Classifier, log_probs: np.ndarray) -> None:
    table = pd.DataFrame({"row": frame.index, "target": frame[clf.spec_.target].to_numpy(),
                          "prediction": np.asarray(clf.classes_, dtype=object)[log_probs.argmax(1)]})
    probs = pd.DataFrame(np.exp(log_probs), columns=[f"p_{c}" for c in clf.classes_])
    write_with(out / "predictions_test.csv", pd.concat([table, probs], axis=1).to_csv, index=False)


def evaluate_run(run: str | Path) -> dict[str, Any]:
    """Recompute val and test metrics of a saved run on its own dataset and split."""
    return Classifier.load(run).evaluate()


def predict_file(run: str | Path, rows: str | Path, out: str | Path | None = None,
                 unreadable: str | None = None) -> pd.DataFrame:
    """Predict every row of a .csv/.parquet/.jsonl file; image paths resolve against its folder.

    Output columns: the input columns, ``prediction``, ``modalities_used`` and ``p_<class>``.
    """
    rows = Path(rows)
    if out is not None:
        output_file(out, inputs=(rows,))
    clf = Classifier.load(run)
    frame = read_source(rows)
    added = ["prediction", "modalities_used", *(f"p_{c}" for c in clf.classes_)]
    taken = [c for c in added if c in frame.columns]
    if taken:
        raise ModalyzeError(f"{rows}: has a column '{taken[0]}', which the predictions would overwrite; rename it")
    with naming(rows):
        data = clf.featurize(frame, base_dir=rows.resolve().parent, unreadable=unreadable)
    log_probs = predict_log_probs(clf.expert_, data).numpy()
    used = [",".join(m for m, f in data.features.items() if bool(f.present[i])) for i in range(len(frame))]
    result = frame.copy()
    result["prediction"] = np.asarray(clf.classes_, dtype=object)[log_probs.argmax(1)]
    result["modalities_used"] = used
    result.attrs["modalities"] = list(data.features)
    for j, c in enumerate(clf.classes_):
        result[f"p_{c}"] = np.exp(log_probs[:, j])
    if out is not None:
        write_with(out, result.to_csv, index=False)
    return result


def robustness_to_dir(run: str | Path, out: str | Path | None = None,
                      levels: list[float] | tuple[float, ...] = ROBUSTNESS.levels, reference: str | Path | None = None,
                      seed: int = ROBUSTNESS.seed, bootstrap: int = ROBUSTNESS.bootstrap,
                      log: Log = info) -> dict[str, Any]:
    """Missing-modality matrix and corruption curves of a saved run on its test split.

    The late-fusion reference is ``reference`` (an ``inter`` run with late fusion on the same
    split), else the run's own inter expert when it uses late fusion; writes ``robustness.json``
    and ``robustness.html`` into ``out`` (default ``RUN/robustness``).
    """
    from modalyze.analysis.robustness import robustness
    from modalyze.report.html import write_robustness_report

    check_options(levels=list(levels or [0.0]), seed=seed, bootstrap=bootstrap)
    out = Path(out) if out is not None else Path(run) / "robustness"
    clf = Classifier.load(run)
    experts = {clf.model: clf.expert_}
    ref_name = "inter" if clf.fusion == "late" and clf.model in ("inter", "i2m2", "i2m2-shared") else None
    if reference is not None:
        ref = Classifier.load(reference)
        if ref.model != "inter" or ref.fusion != "late":
            raise ModalyzeError(f"option reference {reference}: must be an inter run with late fusion, "
                                f"not {ref.model} with {ref.fusion} fusion")
        if ref.featurizer_states() != clf.featurizer_states():
            raise ModalyzeError(f"option reference {reference}: trained on another dataset, split or seed than {run}")
        ref_name = "reference (late fusion)"
        experts[ref_name] = ref.expert_
    prepared = clf.training_data()
    if "test" not in prepared.splits:
        raise ModalyzeError(f"{run}: its dataset has no test rows to measure robustness on")
    result = robustness(experts, clf.featurizers_, prepared.splits["test"], prepared.frames["test"], ref_name,
                        list(levels), members=True, seed=seed, bootstrap=bootstrap, log=log)
    result.update(run=str(run), dataset=clf.spec_.name, model=clf.model, metric="accuracy")
    with output_dir(out, "robustness"):
        write_json(out / "robustness.json", result)
        write_robustness_report(result, out)
    return result
