"""The Python API and the train/evaluate/predict commands on small data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import modalyze
from modalyze import Classifier
from modalyze.data.batching import make_loader
from modalyze.train import predict_log_probs
from modalyze.errors import ModalyzeError
from tests.conftest import FAST
from tests.test_bad_input import run_cli


@pytest.mark.parametrize("model", ["intra:image", "inter", "i2m2"])
def test_save_load_predict_gives_identical_outputs(model, tiny_spec, tmp_path):
    clf = Classifier(model=model, **FAST).fit(tiny_spec)
    rows = pd.read_csv(tmp_path / "data.csv")
    before = clf.predict_proba(rows, base_dir=tmp_path)
    clf.save(tmp_path / "run")
    loaded = Classifier.load(tmp_path / "run")
    after = loaded.predict_proba(rows, base_dir=tmp_path)
    np.testing.assert_array_equal(before, after)
    assert before.shape == (80, 2)
    np.testing.assert_allclose(before.sum(1), 1, atol=1e-5)
    assert set(load_file(str(tmp_path / "run" / "weights.safetensors"))) == set(clf.expert_.state_dict())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["schema"] == "modalyze.run/1" and config["model"]["model"] == model


def test_sklearn_style_api(tiny_spec, tmp_path):
    clf = Classifier(model="inter", **FAST)
    assert clf.fit(tiny_spec) is clf
    rows = pd.read_csv(tmp_path / "data.csv")
    labels = clf.predict(rows, base_dir=tmp_path)
    assert set(labels) <= {"red", "blue"}
    assert 0.0 <= clf.score(rows, base_dir=tmp_path) <= 1.0
    with pytest.raises(ModalyzeError, match="not fitted"):
        Classifier().predict(rows)


def test_fit_on_a_frame_with_a_python_spec():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a0", "a1", "b0", "b1"])
    frame["y"] = (frame["a0"] > 0).astype(int)
    spec = modalyze.Spec(name="py", target="y", modalities={
        "a": modalyze.ModalitySpec("vector", ["a*"]), "b": modalyze.ModalitySpec("vector", ["b*"])})
    clf = Classifier(model="intra:a", max_epochs=15, progress=False).fit(spec, frame=frame)
    assert clf.score(frame) > 0.9


def test_i2m2_from_separately_trained_experts(tiny_spec, tmp_path):
    runs = []
    for model in ("intra:image", "intra:note", "intra:patient", "inter"):
        runs.append(Classifier(model=model, **FAST).fit(tiny_spec).save(tmp_path / model.replace(":", "-")))
    clf = Classifier(model="i2m2", init=runs, **{**FAST, "max_epochs": 1})
    clf.fit(tiny_spec)
    assert clf.history_["epochs"], "fine-tuning ran"
    wrong = Classifier(model="inter", **FAST).fit("synthetic-none", rows=200).save(tmp_path / "other")
    with pytest.raises(ModalyzeError, match="featurizers differ|not in the spec"):
        Classifier(model="i2m2", init=[wrong], **FAST).fit(tiny_spec)


def test_shared_i2m2_starts_from_an_inter_run_and_its_members_are_experts(tiny_spec, tmp_path):
    inter = Classifier(model="inter", **FAST).fit(tiny_spec)
    clf = Classifier(model="i2m2-shared", init=[inter], **{**FAST, "max_epochs": 4, "patience": 4}).fit(tiny_spec)
    member = clf.member("intra:note")
    assert member.model == "intra:note" and member.n_parameters < clf.n_parameters < 1.2 * inter.n_parameters
    rows = pd.read_csv(tmp_path / "data.csv").head(8)
    base = tiny_spec.parent
    batch = next(iter(make_loader(clf.featurize(rows, base), 64, shuffle=False)))
    expected = clf.expert_.eval().expert_log_probs(batch)  # the head inside the product
    view = clf.member("intra:note", at_best=False)
    np.testing.assert_allclose(view.predict_log_proba(rows, base), expected["intra:note"].detach().numpy(), atol=1e-6)
    assert set(clf.member_states_) == {"intra:image", "intra:note", "intra:patient", "inter"}
    val = clf.training_data().splits["val"]  # the inter member is kept at the epoch of its own lowest validation loss
    nll = -predict_log_probs(clf.member("inter").expert_, val)[torch.arange(len(val)), val.targets].mean().item()
    assert nll == pytest.approx(min(e["val_loss[inter]"] for e in clf.history_["epochs"]), abs=1e-5)
    reloaded = Classifier.load(member.save(tmp_path / "note"))  # a member saves as an intra run
    assert reloaded.model == "intra:note"
    np.testing.assert_allclose(reloaded.predict_log_proba(rows, base), member.predict_log_proba(rows, base), atol=1e-6)
    intra = Classifier(model="intra:note", **FAST).fit(tiny_spec)
    with pytest.raises(ModalyzeError, match="i2m2-shared starts from an inter expert only"):
        Classifier(model="i2m2-shared", init=[intra], **FAST).fit(tiny_spec)


def test_cli_train_evaluate_predict(tiny_spec, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(["train", str(tiny_spec), "--model", "i2m2", "--max-epochs", "2", "--dim", "16",
                              "--no-progress", "--out", str(run)], capsys)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val", "test", "params", "train_time_s"} <= set(metrics)
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["params"] > 0
    assert len(pd.read_csv(run / "predictions_test.csv")) == metrics["test"]["n"]

    code, out, err = run_cli(["evaluate", str(run)], capsys)
    assert code == 0 and f"{metrics['test']['accuracy']:.4f}" in out, "evaluate reproduces the stored numbers"

    rows = pd.read_csv(tmp_path / "data.csv").drop(columns=["label"]).head(6)
    rows.loc[0, "note"] = None
    (tmp_path / "img" / "2.png").unlink()
    rows.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(["predict", str(run), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 2 and "2.png: row 2" in err
    code, out, err = run_cli(["predict", str(run), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv"),
                              "--unreadable", "missing"], capsys)
    assert code == 0, err
    preds = pd.read_csv(tmp_path / "p.csv")
    assert len(preds) == 6 and preds["prediction"].isin(["red", "blue"]).all()
    assert preds.loc[0, "modalities_used"] == "image,patient"
    assert preds.loc[2, "modalities_used"] == "note,patient"
    assert preds.loc[1, "modalities_used"] == "image,note,patient"
    assert "(2 rows with a modality missing)" in out


def test_cli_lists_datasets(capsys):
    code, out, _ = run_cli(["datasets"], capsys)
    assert code == 0
    for name in ("easy-vqa", "digits", "synthetic-synergy", "synthetic-mixed"):
        assert name in out


def test_same_seed_same_model_whatever_ran_before():
    def fit():
        return Classifier(model="inter", seed=3, **FAST).fit("synthetic-unique", rows=300)
    first = fit()
    Classifier(model="intra:a", seed=9, **FAST).fit("synthetic-unique", rows=300)  # moves the global RNG
    second = fit()
    for (name, a), b in zip(first.expert_.state_dict().items(), second.expert_.state_dict().values()):
        assert (a == b).all(), name
