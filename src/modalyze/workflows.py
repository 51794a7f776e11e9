"""The jobs behind the CLI commands, callable from Python: train a run, evaluate it, predict a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modalyze.analysis import analyze
from modalyze.classifier import Classifier, split_metrics
from modalyze.data import table_spec
from modalyze.data.prepare import load_prepared, summary
from modalyze.data.table import read_source
from modalyze.errors import ModalyzeError, naming, reading
from modalyze.log import Log, info
from modalyze.options import check_options
from modalyze.outputs import output_dir, output_file, write_json, write_text, write_with
from modalyze.settings import ROBUSTNESS
from modalyze.spec import Spec, spec_yaml
from modalyze.train import predict_log_probs


def open_data(data: str | Path, target: str | None = None, modalities: list[str] | None = None,
              write_spec: str | Path | None = None) -> tuple[str | Path | Spec, str]:
    """What a command trains on: ``data`` as given, or for a table with ``target`` its inferred
    :class:`Spec` (written to ``write_spec`` as YAML when given, so the user can edit and reuse it);
    also the inferred spec as YAML with the left-out columns as comments (empty for other data)."""
    if target is None and not modalities and write_spec is None:
        return data, ""
    spec, left_out = table_spec(data, target, modalities)
    notes = "".join(f"# left out: {column} ({why})\n" for column, why in left_out.items())
    if write_spec is not None:
        write_text(output_file(write_spec, inputs=(data,)), notes + spec_yaml(spec, Path(write_spec).parent))
    return spec, notes + spec_yaml(spec)


def train_run(data: str | Path | Spec, out: str | Path, dataset_options: dict[str, Any] | None = None,
              log: Log = info, **params: Any) -> dict[str, Any]:
    """Train ``Classifier(**params)`` on ``data``, evaluate on val and test, write the run directory."""
    clf = Classifier(**params)
    clf.check_params()
    with output_dir(out, "train"):
        spec, prepared = load_prepared(data, clf.seed, clf.unreadable, dataset_options)
        log(summary(spec, prepared))
        log(f"training {clf.model}: at most {clf.max_epochs} epochs, stopping after {clf.patience} without "
            "improvement on the val split")
        clf.fit_prepared(spec, prepared)
        metrics: dict[str, Any] = {}
        for split in ("val", "test"):
            if split in prepared.splits:
                metrics[split], log_probs = split_metrics(clf.expert_, prepared.splits[split])
                if split == "test":
                    _write_predictions(Path(out), prepared.frames["test"], clf, log_probs)
        metrics.update(model=clf.model, dataset=spec.name, params=clf.n_parameters,
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


def embed_file(run: str | Path, rows: str | Path, out: str | Path) -> pd.DataFrame:
    """Embed every row of a .csv/.parquet/.jsonl file with a trained aligner; writes ``out`` (.parquet,
    one list column per modality, an empty cell where the modality is absent) and returns the table."""
    from modalyze.aligner import Aligner

    rows = Path(rows)
    output_file(out, inputs=(rows,))
    aligner = Aligner.load(run)
    z = aligner.embed(aligner.featurize(read_source(rows), base_dir=rows.resolve().parent))
    table = pd.DataFrame({m: [None if np.isnan(row[0]) else row.tolist() for row in v] for m, v in z.items()})
    write_with(out, table.to_parquet, index=False)
    return table


def zero_shot_run(run: str | Path, column: str, labels: str | Path | None = None, templates: list[str] | None = None,
                  text: str | None = None, modality: str | None = None, gap_shift: float = 0.0) -> list[dict[str, Any]]:
    """Zero-shot results of a saved aligner on its test pairs (``labels``: a file of one label per line);
    a second result after the gap shift when ``gap_shift`` is set."""
    from modalyze.aligner import Aligner
    from modalyze.analysis.alignment import paired_test_embeddings, zero_shot

    check_options(gap_shift=gap_shift)
    names = None
    if labels is not None:
        if not Path(labels).is_file():
            raise ModalyzeError(f"{labels}: labels file does not exist")
        with reading(Path(labels), "labels file"):
            names = [line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines() if line.strip()]
    aligner = Aligner.load(run)
    pairs = paired_test_embeddings(aligner, columns=(column,))
    return [zero_shot(aligner, column, names, templates, text, modality, gap_shift=shift, pairs=pairs)
            for shift in ([0.0, gap_shift] if gap_shift else [0.0])]


def retrieve_run(run: str | Path, queries: list[str], gallery: str, match: str | None = None,
                 gap_shift: float = 0.0) -> tuple[str, dict[str, dict[str, float]]]:
    """Retrieval metrics of a saved aligner on its test pairs, keyed by direction (and gap shift)."""
    from modalyze.aligner import Aligner
    from modalyze.analysis.alignment import paired_test_embeddings, retrieve

    check_options(gap_shift=gap_shift)
    aligner = Aligner.load(run)
    pairs = paired_test_embeddings(aligner, columns=(match,) if match else ())
    direction = f"{'+'.join(queries)}→{gallery}"
    results = {direction: retrieve(aligner, queries, gallery, match=match, pairs=pairs)}
    if gap_shift:
        results[f"{direction} (gap shift {gap_shift})"] = retrieve(aligner, queries, gallery, gap_shift, match=match,
                                                                   pairs=pairs)
    return aligner.spec_.name, results


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


def analyze_to_dir(data: str | Path, out: str | Path, **options: Any):
    """Run the dependency study; write ``profile.json`` and ``report.html`` into ``out``."""
    from modalyze.report.html import write_report  # matplotlib: imported only when a report is drawn

    with output_dir(out, "analyze"):
        profile = analyze(data, out=out, **options)
        profile.save(out)
        write_report(profile.to_dict(), out)
    return profile


def analyze_groupings_to_dir(data: str | Path, groupings: str | Path, out: str | Path, **options: Any) -> dict[str, Any]:
    """The study for the spec's grouping and each one in ``groupings`` (a YAML file): one profile and
    report per grouping under ``out/<name>/``, and ``groupings.json`` + ``groupings.html`` side by side."""
    from modalyze.analysis.groupings import analyze_groupings, load_groupings
    from modalyze.report.html import write_groupings_report, write_report

    alternatives = load_groupings(groupings)
    with output_dir(out, "groupings"):
        result = analyze_groupings(data, alternatives, out, **options)
        for name, profile in result["profiles"].items():
            write_json(Path(out) / name / "profile.json", profile)
            write_report(profile, Path(out) / name)
        write_json(Path(out) / "groupings.json", result)
        write_groupings_report(result, out)
    return result


def compare_to_dir(data: str | Path, out: str | Path, **options: Any) -> dict[str, Any]:
    """Compare fusion blocks; write ``compare.json``, ``compare.csv`` and ``compare.html`` into ``out``."""
    from modalyze.analysis.compare import compare
    from modalyze.report.html import write_compare_report

    out = Path(out)
    with output_dir(out, "compare"):
        result = compare(data, out=out, **options)
        write_json(out / "compare.json", result)
        table = pd.DataFrame(result["rows"]).assign(ci_low=lambda t: t["ci"].str[0], ci_high=lambda t: t["ci"].str[1])
        write_with(out / "compare.csv", table.drop(columns="ci").to_csv, index=False)
        write_compare_report(result, out)
    return result


def map_to_file(profiles: list[str | Path], out: str | Path, slices: bool = False) -> dict[str, Any]:
    """The benchmark map of ``profiles`` (profile.json files) as one self-contained HTML page ``out``."""
    from modalyze.analysis.benchmark_map import benchmark_map
    from modalyze.report.html import render_map

    out = output_file(out, inputs=tuple(profiles))
    result = benchmark_map(list(profiles), slices=slices)
    write_text(out, render_map(result))
    return result


def align_to_dir(data: str | Path, out: str | Path, dataset_options: dict[str, Any] | None = None,
                 **params: Any) -> dict[str, Any]:
    """Train an :class:`~modalyze.aligner.Aligner`, evaluate retrieval in every direction and the
    modality gap on the test pairs, write the run directory with ``metrics.json`` and ``align.html``."""
    from modalyze.aligner import Aligner

    aligner = Aligner(**params)
    aligner.check_params()
    with output_dir(out, "align"):
        spec, prepared = load_prepared(data, aligner.seed, aligner.unreadable, dataset_options)
        return _evaluate_alignment(aligner.fit_prepared(spec, prepared), prepared, out)


def _evaluate_alignment(aligner: Any, prepared: Any, out: str | Path) -> dict[str, Any]:
    from modalyze.analysis.alignment import gaps, paired_test_embeddings, retrieve
    from modalyze.report.html import write_align_report

    names = list(aligner.spec_.modalities)
    pairs = paired_test_embeddings(aligner, prepared)  # embedded once for every metric below
    retrieval = {f"{q}→{g}": retrieve(aligner, [q], g, pairs=pairs) for q in names for g in names if q != g}
    if len(names) > 2:  # each modality from all the others together
        retrieval.update({f"{'+'.join(n for n in names if n != g)}→{g}":
                          retrieve(aligner, [n for n in names if n != g], g, pairs=pairs) for g in names})
    z, _ = pairs
    metrics = {"dataset": aligner.spec_.name, "loss": aligner.loss, "modalities": names, "lock": aligner.config_.lock,
               "word_dropout": aligner.word_dropout,
               "n_test_pairs": int(len(next(iter(z.values())))), "retrieval": retrieval, "gap": gaps(aligner, pairs),
               "train_time_s": aligner.history_["train_time_s"], "epochs": len(aligner.history_["epochs"]),
               "logit_scale": float(aligner.model_.loss.scale.detach())}
    aligner.save(out, metrics)
    write_align_report(metrics, aligner.history_, z, out)
    return metrics


def probe_to_dir(data: str | Path, models: list[str], out: str | Path, profile: str | Path | None = None,
                 **options: Any) -> dict[str, Any]:
    """Probe ``models`` on ``data``; write ``probe.json`` and ``probe.html`` (the answers are cached in
    ``out/cache``, so a rerun asks the models only what is missing)."""
    from modalyze.analysis.probe import probe
    from modalyze.report.html import write_probe_report
    from modalyze.run import read_json

    dataset_profile = None
    if profile is not None:
        with reading(Path(profile), "profile"):
            dataset_profile = read_json(profile)
        if not isinstance(dataset_profile, dict) or not {"intra", "chance", "verdict"} <= set(dataset_profile):
            raise ModalyzeError(f"{profile}: not a profile.json written by modalyze analyze")
    with output_dir(out, "probe"):
        result = probe(data, models, out, dataset_profile, **options)
        write_json(Path(out) / "probe.json", result)
        write_probe_report(result, out)
    return result


def write_conditions_to_dir(data: str | Path, out: str | Path, **options: Any) -> list[str]:
    """The inputs of every probe condition as CSV files (see :func:`modalyze.analysis.probe.write_conditions`)."""
    from modalyze.analysis.probe import write_conditions

    with output_dir(out, "probe-conditions"):
        return write_conditions(data, out, **options)
