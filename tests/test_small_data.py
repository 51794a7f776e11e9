"""Small data: cross-validation, honest intervals, the baseline check, and a withheld verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from modalyze.analysis import analyze, crossval
from modalyze.families.flat import LinearBaseline
from modalyze.analysis.stats import Draws, score_with_ci
from modalyze.analysis.verdict import INSUFFICIENT, decide
from modalyze.data import load_dataset
from modalyze.data.prepare import prepare
from modalyze.data.table import SPLIT_COLUMN
from modalyze.errors import ModalyzeError


def write_views(root: Path, rows: int = 40, classes: int = 4, seed: int = 0) -> Path:
    """Two numeric views of ``rows`` rows: ``omics_a`` separates the classes, ``omics_b`` is noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % classes
    centres = rng.standard_normal((classes, 12)) * 2.5
    frame = pd.DataFrame({**{f"a_{j}": centres[y, j] + rng.standard_normal(rows) for j in range(12)},
                          **{f"b_{j}": rng.standard_normal(rows) for j in range(12)}, "label": y})
    frame.to_csv(root / "views.csv", index=False)
    spec = {"name": "views", "source": "views.csv", "target": "label",
            "modalities": {"omics_a": {"kind": "vector", "columns": ["a_*"]},
                           "omics_b": {"kind": "vector", "columns": ["b_*"]}}}
    (root / "views.yaml").write_text(yaml.safe_dump(spec))
    return root / "views.yaml"


def test_forty_rows_are_cross_validated_with_honest_intervals(tmp_path):
    profile = analyze(write_views(tmp_path), budget="fast", progress=False, log=lambda _: None)
    assert "cross-validation" in profile.config["evaluation"]
    assert profile.n_test == 40  # every row is a test row (once per repeat)
    entries = [*profile.intra.values(), profile.additive, profile.inter, profile.i2m2, profile.interaction]
    assert all(e["ci"][1] - e["ci"][0] > 0 for e in entries), entries
    for name, entry in [*((f"intra:{m}", e) for m, e in profile.intra.items()), ("inter", profile.inter),
                        ("i2m2", profile.i2m2)]:
        assert entry["score"] >= profile.chance - 1e-9, (name, entry, profile.baseline["replaced"])
    assert profile.intra["omics_a"]["ci"][0] > profile.chance  # the informative view is found
    assert profile.verdict in ("intra-dominant", INSUFFICIENT), profile.reason
    assert set(profile.baseline["intra"]) == {"omics_a", "omics_b"} and "joint" in profile.baseline


def test_folds_cover_every_row_once_per_repeat_and_keep_a_validation_part(tmp_path):
    spec, table = load_dataset(write_views(tmp_path))
    seen = np.zeros(len(table.frame), dtype=int)
    for repeat, fold, fold_table in crossval.folds(spec, table, repeats=2, seed=0, n_folds=5):
        split = fold_table.frame[SPLIT_COLUMN]
        assert set(split) == {"train", "val", "test"}
        seen += (split == "test").to_numpy()
    assert (seen == 2).all()
    assert crossval.use_cross_validation(spec, table)


def test_a_class_with_one_row_cannot_be_cross_validated(tmp_path):
    path = write_views(tmp_path)
    frame = pd.read_csv(tmp_path / "views.csv")
    frame.loc[0, "label"] = 9
    frame.to_csv(tmp_path / "views.csv", index=False)
    spec, table = load_dataset(path)
    with pytest.raises(ModalyzeError, match="class '9' of 'label' has a single row; cross-validation"):
        next(crossval.folds(spec, table, repeats=1, seed=0, n_folds=5))
    frame.loc[1, "label"] = 8  # a second class of one row: the message counts it
    frame.to_csv(tmp_path / "views.csv", index=False)
    spec, table = load_dataset(path)
    with pytest.raises(ModalyzeError, match=r"has a single row \(2 classes have one\); cross-validation"):
        next(crossval.folds(spec, table, repeats=1, seed=0, n_folds=5))


def test_linear_baseline_sees_the_informative_view_only(tmp_path):
    spec, table = load_dataset(write_views(tmp_path, rows=400))
    prepared = prepare(spec, table)
    train, test = prepared.splits["train"], prepared.splits["test"]
    y = test.targets.numpy()
    draws = Draws.make(len(y), 200, 0)
    score = lambda members: score_with_ci(  # noqa: E731
        (LinearBaseline(members, 4).fit(train).log_probs(test).argmax(1) == y)[None], draws)["score"]
    assert score(["omics_a"]) > 0.9 and score(["omics_a", "omics_b"]) > 0.85
    assert score(["omics_b"]) < 0.45  # noise: near chance (0.25)


def test_exact_interval_is_never_zero_width_on_few_rows():
    entry = score_with_ci(np.ones((1, 8), dtype=bool), Draws.make(8, 400, 0))
    assert entry["score"] == 1.0 and entry["ci"][0] < 0.7 and entry["n"] == 8


def test_verdict_is_withheld_when_wide_intervals_straddle_the_threshold():
    s = lambda score, lo, hi: {"score": score, "ci": [lo, hi]}  # noqa: E731
    verdict = decide(0.25, s(0.9, 0.75, 0.98), "inter", {"a": s(0.85, 0.7, 0.95), "b": s(0.3, 0.15, 0.45)},
                     s(0.05, -0.1, 0.2), n_rows=40)
    assert verdict.verdict == INSUFFICIENT and "40 test rows" in verdict.reason
    narrow = decide(0.25, s(0.9, 0.88, 0.92), "inter", {"a": s(0.85, 0.83, 0.87), "b": s(0.3, 0.28, 0.32)},
                    s(0.1, 0.08, 0.12), n_rows=4000)
    assert narrow.verdict == "both"


def test_the_early_stopping_floor_scales_with_the_training_rows(tmp_path):
    from modalyze.classifier import Classifier
    from modalyze.train.engine import FLOOR_STEPS, MIN_EPOCH_ROWS, TrainSettings, step_floor

    settings = TrainSettings(min_steps=600, batch_size=128)
    assert step_floor(60, settings) == FLOOR_STEPS  # a tiny table: the floor's minimum
    assert step_floor(1000, settings) == 250  # 32 passes over 1,000 rows
    assert step_floor(100_000, settings) == 600  # large data: min_steps
    # 60 training rows stop once validation stops improving, long before 600 steps
    clf = Classifier(model="intra:omics_a", max_epochs=40, min_steps=600, patience=3, batch_size=128, dim=8,
                     progress=False).fit(write_views(tmp_path, rows=80))
    steps_per_epoch = MIN_EPOCH_ROWS // 128
    assert len(clf.history_["epochs"]) * steps_per_epoch < 600, len(clf.history_["epochs"])
    assert clf.history_["epochs"][-1]["val_acc"] > 0.5  # and it has learned the informative view


def _evidence(val_expert_right: float, test_expert_right: float, n: int = 200, seed: int = 0):
    """Evidence of one modality ``a`` and the inter expert, two classes: the baseline is right on 70%
    of the validation and test rows; the experts on the given shares (confident either way)."""
    from modalyze.analysis.scoring import Evidence

    rng = np.random.default_rng(seed)
    y, y_val = rng.integers(0, 2, n), rng.integers(0, 2, n)

    def log_probs(labels, right, confidence):
        hit = rng.random(len(labels)) < right
        predicted = np.where(hit, labels, 1 - labels)
        probs = np.where(np.arange(2)[None] == predicted[:, None], confidence, 1 - confidence)
        return np.log(probs)[None]  # [1, N, 2]

    test = {"intra:a": log_probs(y, test_expert_right, 0.9), "inter": log_probs(y, 0.7, 0.8),
            "linear:a": log_probs(y, 0.7, 0.7), "linear:joint": log_probs(y, 0.7, 0.7)}
    val = {"intra:a": log_probs(y_val, val_expert_right, 0.9), "inter": log_probs(y_val, 0.7, 0.8),
           "linear:a": log_probs(y_val, 0.7, 0.7), "linear:joint": log_probs(y_val, 0.7, 0.7)}
    return Evidence(y=y, present=torch.ones(1, n, dtype=torch.bool), log_probs=test, shuffle_hits={}, frame=pd.DataFrame(),
                    pid={}, y_val=y_val, val_log_probs=val)


def test_the_baseline_check_selects_on_validation_rows_and_keeps_the_experts_own_score():
    from modalyze.analysis.scoring import check_experts

    draws = Draws.make(200, 200, 0)
    # weaker than the baseline on the validation rows: replaced, even though it scores higher on test
    log_probs, section = check_experts(_evidence(val_expert_right=0.55, test_expert_right=0.8), ["a"], draws)
    assert "intra:a" in section["replaced"] and "validation rows" in section["replaced"]["intra:a"]
    assert np.array_equal(log_probs["intra:a"], log_probs["linear:a"]) and section["chosen"]["intra:a"] == "linear"
    assert section["experts"]["intra:a"]["score"] > section["intra"]["a"]["score"]  # its own score is kept
    v = section["validation"]["intra:a"]
    assert v["n"] == 200 and v["expert"]["nll"] > v["baseline"]["nll"]
    # stronger on the validation rows and on test: kept
    log_probs, section = check_experts(_evidence(val_expert_right=0.9, test_expert_right=0.9), ["a"], draws)
    assert "intra:a" not in section["replaced"] and section["chosen"]["intra:a"] == "neural"
    assert not np.array_equal(log_probs["intra:a"], log_probs["linear:a"])


def test_each_expert_takes_the_family_with_the_lowest_validation_log_loss_and_experts_restricts_the_choice():
    from modalyze.analysis.scoring import check_experts

    draws = Draws.make(200, 200, 0)
    evidence = _evidence(val_expert_right=0.75, test_expert_right=0.75)
    sure = lambda labels: np.log(np.where(np.arange(2)[None] == labels[:, None], 0.95, 0.05))[None]  # noqa: E731
    evidence.log_probs["trees:a"], evidence.val_log_probs["trees:a"] = sure(evidence.y), sure(evidence.y_val)
    log_probs, section = check_experts(evidence, ["a"], draws)
    assert section["chosen"]["intra:a"] == "trees" and np.array_equal(log_probs["intra:a"], log_probs["trees:a"])
    assert set(section["families"]["intra:a"]) == {"neural", "linear", "trees"}
    assert "trees family" in section["replaced"]["intra:a"]
    assert section["chosen"]["inter"] in ("neural", "linear")  # no trees entry for the joint slot: not a candidate
    log_probs, section = check_experts(evidence, ["a"], draws, experts="neural")
    assert section["chosen"]["intra:a"] == "neural" and "intra:a" not in section["replaced"]
    log_probs, section = check_experts(evidence, ["a"], draws, experts="linear")
    assert section["chosen"]["intra:a"] == "linear" and "intra:a" not in section["replaced"]  # chosen, not replaced
