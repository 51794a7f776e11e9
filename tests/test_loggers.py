"""Experiment trackers and messages: --logger csv|tensorboard|mlflow, and the 'modalyze' logger."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys

import pandas as pd
import pytest

from modalyze import Classifier
from modalyze.errors import ModalyzeError
from tests.conftest import FAST
from tests.test_bad_input import run_cli


def test_csv_logger_writes_the_training_curves(tiny_spec, tmp_path, capsys):
    logs = tmp_path / "logs"
    code, out, err = run_cli(["train", str(tiny_spec), "--model", "inter", "--max-epochs", "3", "--patience", "3",
                              "--dim", "16", "--no-progress", "--logger", "csv", "--log-dir", str(logs),
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    [metrics] = list(logs.rglob("metrics.csv"))
    curves = pd.read_csv(metrics)
    assert {"epoch", "train_loss", "val_loss", "val_acc"} <= set(curves.columns)
    assert curves["val_loss"].notna().sum() == 3  # one validation row per epoch
    assert (tmp_path / "run" / "config.json").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="the tensorboard extra is not installed")
def test_tensorboard_logger_writes_event_files_that_tensorboard_reads(tiny_spec, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    Classifier(model="i2m2", logger="tensorboard", log_dir=str(tmp_path / "tb"), **{**FAST, "max_epochs": 3,
                                                                                    "patience": 3}).fit(tiny_spec)
    [events] = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    reader = EventAccumulator(str(events.parent))
    reader.Reload()
    tags = reader.Tags()["scalars"]
    assert "val_loss" in tags and "train_loss" in tags and any(t.startswith("val_loss[") for t in tags)
    assert len(reader.Scalars("val_loss")) == 3


def test_a_missing_tracker_is_a_one_line_error_naming_the_extra(tiny_spec, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ModalyzeError, match=r"pip install 'modalyze\[mlflow\]'"):
        Classifier(model="inter", logger="mlflow", **FAST).fit(tiny_spec)
    with pytest.raises(ModalyzeError, match="option logger='wandb'"):
        Classifier(model="inter", logger="wandb", **FAST).fit(tiny_spec)


def test_messages_go_through_the_modalyze_logger(tiny_spec, caplog):
    from modalyze.jobs.classify import train_run

    with caplog.at_level(logging.INFO, logger="modalyze"):
        train_run(tiny_spec, tiny_spec.parent / "run", model="inter", **FAST)
    assert any("training inter" in r.getMessage() for r in caplog.records if r.name == "modalyze")


def test_importing_modalyze_changes_no_logger_level():
    """Beyond what importing its dependencies does."""
    code = ("import logging, lightning, torch, sklearn  # Lightning sets its own loggers' levels when imported\n"
            "names = ['', 'lightning', 'lightning.pytorch', 'lightning.pytorch.utilities.rank_zero', 'modalyze']\n"
            "before = [logging.getLogger(n).level for n in names]\n"
            "import modalyze, modalyze.classifier, modalyze.aligner, modalyze.analysis, modalyze.jobs\n"
            "after = [logging.getLogger(n).level for n in names]\n"
            "assert before == after, (before, after)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
