"""Every command on datasets drawn from the space of valid inputs (:mod:`tests.generated`).

The contract, for every generated dataset and every command: exit 0 with every output written, or —
for an input that is truly invalid — exit 2 with one ``error:`` line and no traceback. The default
suite runs a bounded sweep (the first cases of the matrix take every variant of every kind once, and
every row count, class count, label type, format and declaration); ``-m slow`` runs a wider one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modalyze
from tests.generated import Case, Written, cases, write_case
from tests.test_bad_input import run_cli

TRAIN = ["--max-epochs", "1", "--min-steps", "0", "--dim", "8", "--no-progress"]
MODELS = ("i2m2", "inter", "additive", "i2m2-shared", "intra")
FUSIONS = ("late", "early", "cross-attention", "tensor", "low-rank")
DEFAULT_CASES = cases(8, sizes=(3, 4))  # 8 cases take each of the 28 variants once
WIDE_CASES = cases(30, seed=1, rows=(20, 40, 300, 1200, 2000), sizes=(1, 2, 3, 4, 5))


def ok(args: list[str], capsys, outputs: list[Path]) -> str:
    """Run a command; it must exit 0 and write ``outputs``. Returns its standard output."""
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "Traceback" not in err, f"modalyze {' '.join(args)}\n{err}"
    for path in outputs:
        assert path.exists(), f"modalyze {' '.join(args)} did not write {path}"
    return out


def run_every_command(written: Written, out: Path, capsys, index: int, wide: bool) -> None:
    """analyze (quick, fast or tiny by turn), train (a model by turn, and i2m2), evaluate, predict,
    robustness, probe and compare (a fusion by turn) on one written case."""
    data = written.data_args
    budget = ("quick", "tiny", "tiny", "fast" if wide else "tiny")[index % 4]  # fast: many epochs, 5 folds
    profile_out = out / "analyze"
    if len(written.case.modalities) == 1 and written.case.declare == "spec":  # a study needs two: one line
        code, _, err = run_cli(["analyze", *data, "--budget", budget, "--out", str(profile_out)], capsys)
        assert code == 2 and err.count("\n") == 1 and "at least two modalities" in err and "--modality NAME=COL1,COL2:KIND" in err, err
    else:
        ok(["analyze", *data, "--budget", budget, "--out", str(profile_out), "--no-progress"], capsys,
           [profile_out / "profile.json", profile_out / "report.html"])
        profile = json.loads((profile_out / "profile.json").read_text())
        assert profile["verdict"] and set(written.names) <= set(profile["intra"])  # + inferred (the slice column)
    model = MODELS[index % len(MODELS)]
    model = f"intra:{written.names[index % len(written.names)]}" if model == "intra" else model
    runs = {}
    for name in dict.fromkeys(["i2m2", model]):
        runs[name] = out / f"run-{name.replace(':', '-')}"
        ok(["train", *data, "--model", name, *TRAIN, "--out", str(runs[name])], capsys,
           [runs[name] / "weights.safetensors", runs[name] / "metrics.json"])
    run = str(runs["i2m2"])
    ok(["evaluate", run], capsys, [])
    predictions = out / "predictions.csv"
    ok(["predict", run, str(written.new_rows), "--out", str(predictions)], capsys, [predictions])
    predicted = pd.read_csv(predictions)
    assert len(predicted) == len(_read(written.new_rows)) and predicted["prediction"].notna().all()
    ok(["robustness", run, "--noise-levels", "0,1", "--bootstrap", "50", "--out", str(out / "robustness")], capsys,
       [out / "robustness" / "robustness.json", out / "robustness" / "robustness.html"])
    ok(["probe", *data, "--model", f"run:{run}", "--permutations", "1", "--bootstrap", "50",
        "--out", str(out / "probe")], capsys, [out / "probe" / "probe.json", out / "probe" / "probe.html"])
    ok(["compare", *data, "--fusions", FUSIONS[index % len(FUSIONS)], "--budget", "tiny", "--out",
        str(out / "compare"), "--no-progress"], capsys, [out / "compare" / "compare.json"])


def run_python_api(written: Written, out: Path) -> None:
    """The DataFrame route: analyze, fit, predict new rows, save, load."""
    frame = written.frame
    if len(written.case.modalities) > 1:  # (the slice column makes a second modality of a one-modality table)
        profile = modalyze.analyze(frame, target=written.target, budget="tiny", modalities=written.modalities,
                                   progress=False)
        assert profile.verdict and set(written.names) <= set(profile.intra)
    clf = modalyze.Classifier(model="i2m2", max_epochs=1, min_steps=0, dim=8, progress=False,
                              modalities=written.modalities).fit(frame.drop(columns="label"), frame["label"])
    new = _read(written.new_rows)
    probs = clf.predict_proba(new)
    assert probs.shape == (len(new), len(clf.classes_)) and np.allclose(probs.sum(1), 1, atol=1e-4)
    clf.save(out / "run")
    again = modalyze.Classifier.load(out / "run")
    assert (again.predict(new) == clf.predict(new)).all()


def _read(path: Path) -> pd.DataFrame:
    return {".csv": pd.read_csv, ".parquet": pd.read_parquet,
            ".jsonl": lambda p: pd.read_json(p, lines=True)}[path.suffix](path)


def _sweep(case: Case, index: int, tmp_path: Path, capsys, monkeypatch, wide: bool = False) -> None:
    written = write_case(case, tmp_path / "data")
    monkeypatch.chdir(tmp_path / "data")  # a DataFrame's file paths are relative to the working directory
    if case.fmt == "frame":
        run_python_api(written, tmp_path / "out")
    else:
        run_every_command(written, tmp_path / "out", capsys, index, wide)


@pytest.mark.parametrize("index", range(len(DEFAULT_CASES)), ids=[c.name for c in DEFAULT_CASES])
def test_every_command_runs_on_generated_datasets(index, tmp_path, capsys, monkeypatch, tiny_budget):
    _sweep(DEFAULT_CASES[index], index, tmp_path, capsys, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(WIDE_CASES)), ids=[c.name for c in WIDE_CASES])
def test_every_command_runs_on_a_wide_sweep(index, tmp_path, capsys, monkeypatch, tiny_budget):
    _sweep(WIDE_CASES[index], index, tmp_path, capsys, monkeypatch, wide=True)
