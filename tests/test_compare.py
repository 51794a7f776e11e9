"""`modalyze compare`: every fusion trains as inter and inside i2m2, the table and page are written,
a rerun resumes, and bad options are one-line errors."""

from __future__ import annotations

import json

import pandas as pd

from .test_bad_input import run_cli


def test_compare_trains_each_fusion_and_writes_table_and_page(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "synthetic-mixed", "-o", "rows=300", "--fusions", "late,tensor,early", "--dim", "16",
            "--no-progress", "--out", str(out)]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    result = json.loads((out / "compare.json").read_text())
    assert [(r["fusion"], r["model"]) for r in result["rows"]] == [
        (f, m) for f in ("late", "tensor", "early") for m in ("inter", "i2m2", "i2m2-shared")]
    for r in result["rows"]:
        assert 0 <= r["ci"][0] <= r["score"] <= r["ci"][1] <= 1
        assert r["params"] > 0 and r["train_time_s"] > 0 and r["latency_ms_per_row"] > 0 and r["train_memory_mb"] > 0
    by = {(r["fusion"], r["model"]): r for r in result["rows"]}
    assert by[("tensor", "inter")]["params"] > by[("late", "inter")]["params"], "the outer product is larger"
    assert by[("late", "i2m2")]["params"] > by[("late", "inter")]["params"], "i2m2 adds the intra experts"
    assert by[("late", "i2m2")]["train_time_s"] > by[("late", "inter")]["train_time_s"], "i2m2 time includes members"
    for f in ("late", "tensor", "early"):  # shared encoders: the inter expert plus one small head per modality
        assert by[(f, "inter")]["params"] < by[(f, "i2m2-shared")]["params"] < by[(f, "i2m2")]["params"]
    assert len(pd.read_csv(out / "compare.csv")) == 9
    page = (out / "compare.html").read_text()
    assert page.count("<svg") == 1 and "low-rank" not in page and "tensor" in page

    code, stdout, err = run_cli(args, capsys)
    assert code == 0 and "tensor: inter resumed" in stdout and "trained" not in stdout


def test_compare_rejects_unknown_fusion(capsys):
    code, _, err = run_cli(["compare", "synthetic-mixed", "--fusions", "late,sum"], capsys)
    assert code == 2 and "option --fusions=['late', 'sum']" in err and "'sum'" in err and err.count("\n") == 1
