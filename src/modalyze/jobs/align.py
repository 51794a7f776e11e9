"""Jobs of an aligner run: train and evaluate it, embed a file, zero-shot, retrieve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modalyze.data.prepare import load_prepared
from modalyze.data.table import read_source
from modalyze.errors import ModalyzeError, reading
from modalyze.options import check_options
from modalyze.outputs import output_dir, output_file, write_with


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
