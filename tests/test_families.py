"""Expert families: trees and the tuned linear model fit where they should, the study keeps the family
with the lowest validation log-loss per expert, and ``--experts`` restricts the choice."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from modalyze.families import FAMILIES, GradientBoostedTrees, Unsuitable, cheap_first, fitted_families, trained_family
from modalyze.families.flat import C_GRID, LinearBaseline, _nll
from modalyze.data.prepare import load_prepared
from modalyze.settings import EXPERT_FAMILIES, MODEL_FAMILIES
from tests.test_bad_input import run_cli


def thresholds(rows: int, seed: int = 0) -> pd.DataFrame:
    """A table whose label is a step function of two numbers (a tree's shape, not a line's) and a
    text column that says the label in a third of the rows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(rows, 4))
    label = ((a[:, 0] > 0.3) ^ (a[:, 1] < -0.2)).astype(int)
    words = np.where(rng.random(rows) < 1 / 3, np.where(label == 1, "yes indeed", "no way"), "maybe so")
    frame = pd.DataFrame(a.round(4), columns=["a1", "a2", "a3", "a4"])
    frame["note"] = [f"{w} {rng.choice(['red', 'blue', 'green'])}" for w in words]
    frame["y"] = np.where(label == 1, "hi", "lo")
    return frame


@pytest.fixture(scope="module")
def prepared():
    return load_prepared(thresholds(3000), 0, "error", target="y",
                         modalities=["a=a1,a2,a3,a4:tabular", "note=note:text"])


def test_trees_beat_a_line_on_a_step_function_and_stop_on_validation_rows(prepared):
    spec, data = prepared
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    trees = GradientBoostedTrees(["a"], 2, 0).fit(train, val)
    linear = LinearBaseline(["a"], 2, 0).fit(train, val)
    assert _nll(trees.log_probs(test), test) < _nll(linear.log_probs(test), test) - 0.2
    assert (trees.log_probs(test).argmax(1) == test.targets.numpy()).mean() > 0.9
    assert 1 <= trees.trees_ == len(trees.predictors_) and linear.c_ in C_GRID


def test_trees_cut_to_their_best_stage_predict_as_trees_grown_to_it(prepared):
    """The trees grown past the best validation stage are dropped once: the model then predicts as one
    grown to that stage from the start, and so does the model saved and loaded."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    _, data = prepared
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    trees = GradientBoostedTrees(["a"], 2, 0).fit(train, val)
    fresh = HistGradientBoostingClassifier(max_iter=trees.trees_, early_stopping=False, l2_regularization=1.0,
                                           random_state=0).fit(trees._x(train).toarray(), train.targets.numpy())
    expected = np.log(fresh.predict_proba(trees._x(test).toarray()))
    np.testing.assert_allclose(trees.log_probs(test), expected, atol=1e-6)
    np.testing.assert_allclose(GradientBoostedTrees(["a"], 2, 0).load(trees.state()).log_probs(test), expected, atol=1e-6)


def test_trees_with_many_classes_predict_as_scikit_learn_and_as_saved():
    """With more than two classes a stage holds one tree per class and probabilities are a softmax:
    the kept trees predict as scikit-learn's model grown to them, and so does the model saved and loaded."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    _, data = load_prepared(numeric_classes(600, 4), 0, "error", target="y", modalities=["a=a1,a2,a3:tabular"])
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    trees = GradientBoostedTrees(["a"], 4, 0).fit(train, val)
    assert all(len(stage) == 4 for stage in trees.predictors_)
    fresh = HistGradientBoostingClassifier(max_iter=trees.trees_, early_stopping=False, l2_regularization=1.0,
                                           random_state=0).fit(trees._x(train).toarray(), train.targets.numpy())
    expected = np.log(fresh.predict_proba(trees._x(test).toarray()))
    np.testing.assert_allclose(trees.log_probs(test), expected, atol=1e-6)
    np.testing.assert_allclose(GradientBoostedTrees(["a"], 4, 0).load(trees.state()).log_probs(test), expected, atol=1e-6)


@pytest.mark.parametrize("val_classes", ["unseen only", "seen and unseen"])
def test_trees_stop_on_the_validation_rows_of_classes_the_training_rows_hold(val_classes):
    """Validation rows of a class the training rows lack cannot move the best stage: with only such
    rows there is nothing to stop on (``WITHOUT_VAL`` trees are grown); with some, the trees stop on the
    others, as trees given only those would. Either way every class of the study gets a probability."""
    _, data = load_prepared(numeric_classes(600, 4), 0, "error", target="y", modalities=["a=a1,a2,a3:tabular"])
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    y = train.targets.numpy()
    train = train.subset(np.flatnonzero(y < 3))  # class 3 only in the validation rows
    unseen = np.flatnonzero(val.targets.numpy() == 3)
    if val_classes == "unseen only":
        trees = GradientBoostedTrees(["a"], 4, 0).fit(train, val.subset(unseen))
        assert trees.trees_ == GradientBoostedTrees.WITHOUT_VAL
    else:
        trees = GradientBoostedTrees(["a"], 4, 0).fit(train, val)
        seen_only = GradientBoostedTrees(["a"], 4, 0).fit(train, val.subset(np.flatnonzero(val.targets.numpy() < 3)))
        assert trees.trees_ == seen_only.trees_ < GradientBoostedTrees.MAX_TREES
        np.testing.assert_array_equal(trees.log_probs(test), seen_only.log_probs(test))
    log_probs = trees.log_probs(test)  # [N, 4]
    assert log_probs.shape == (len(test), 4) and np.allclose(np.exp(log_probs).sum(1), 1)
    assert (log_probs[:, 3] < np.log(1e-6)).all() and (log_probs[:, :3].argmax(1) == test.targets.numpy()).mean() > 0.5


def numeric_classes(rows: int, classes: int, seed: int = 0) -> pd.DataFrame:
    """Three numbers; the label is one of ``classes`` bands of the first two."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(rows, 3))
    bands = np.digitize(a[:, 0] + 0.5 * a[:, 1], np.quantile(a[:, 0] + 0.5 * a[:, 1], np.linspace(0, 1, classes + 1)[1:-1]))
    return pd.DataFrame({"a1": a[:, 0].round(4), "a2": a[:, 1].round(4), "a3": a[:, 2].round(4), "y": [f"c{b}" for b in bands]})


def test_trees_fit_and_predict_on_one_openmp_thread(prepared, monkeypatch):
    """Two OpenMP runtimes (scikit-learn's and PyTorch's) made multi-threaded tree fits 4-60x slower when
    scikit-learn was imported first (docs/measured.md): every fit and prediction runs on one thread."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from threadpoolctl import threadpool_info

    fits, predictions = [], []
    fit, predict = HistGradientBoostingClassifier.fit, TreePredictor.predict

    def spy_fit(self, *args, **kwargs):
        fits.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"})
        return fit(self, *args, **kwargs)

    def spy_predict(self, x, known, index, n_threads):
        predictions.append(n_threads)
        return predict(self, x, known, index, n_threads)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", spy_fit)
    monkeypatch.setattr(TreePredictor, "predict", spy_predict)
    _, data = prepared
    GradientBoostedTrees(["a"], 2, 0).fit(data.splits["train"], data.splits["val"]).log_probs(data.splits["test"])
    assert fits == [{1}] and predictions and set(predictions) == {1}


def test_trees_refuse_inputs_too_wide_for_dense_features(prepared, monkeypatch):
    _, data = prepared
    monkeypatch.setattr(GradientBoostedTrees, "MAX_WIDTH", 3)
    with pytest.raises(Unsuitable, match="features"):
        GradientBoostedTrees(["a"], 2, 0).fit(data.splits["train"], data.splits["val"])


@pytest.mark.parametrize("choice,kinds,expected", [
    ("auto", ["tabular"], ["linear", "trees"]), ("auto", ["text"], ["linear"]),
    ("auto", ["tabular", "text"], ["linear"]), ("auto", ["vector", "timeseries"], ["linear", "trees"]),
    ("neural", ["tabular"], ["linear"]), ("trees", ["tabular"], ["linear", "trees"]), ("linear", ["tabular"], ["linear"])])
def test_the_families_fitted_follow_the_kinds_each_accepts(choice, kinds, expected):
    assert [f.name for f in fitted_families(choice, kinds)] == expected


@pytest.mark.parametrize("choice,kinds,rows,resolved", [
    ("auto", ["tabular", "tabular"], 40, "cheap"), ("auto", ["tabular"] * 3, 49_999, "cheap"),
    ("auto", ["tabular", "vector"], 40, "all"),
    ("auto", ["tabular", "tabular"], 50_000, "all"), ("auto", ["tabular", "text"], 40, "all"),
    ("auto", ["image", "text"], 40, "all"), ("all", ["tabular"], 40, "all"), ("trees", ["tabular"], 40, "trees")])
def test_auto_is_cheap_first_on_small_tables_of_numbers_and_categories(choice, kinds, rows, resolved):
    assert cheap_first(choice, kinds, rows) == resolved


@pytest.mark.parametrize("choice,kinds,family", [
    ("cheap", ["tabular"], "cheap"), ("cheap", ["image"], "cheap"), ("all", ["tabular"], "neural"),
    ("neural", ["tabular"], "neural"), ("trees", ["tabular", "vector"], "trees"), ("trees", ["tabular", "text"], "neural"),
    ("linear", ["audio"], "linear")])
def test_a_study_trains_each_expert_in_the_family_its_choice_allows(choice, kinds, family):
    assert trained_family(choice, kinds) == family


def test_every_family_is_an_experts_choice():
    assert set(EXPERT_FAMILIES) == {"auto", "all", "cheap", "neural", *FAMILIES.names()}
    assert set(MODEL_FAMILIES) == set(EXPERT_FAMILIES) - {"all"}


def test_the_study_keeps_the_family_with_the_lowest_validation_log_loss(tmp_path, capsys):
    thresholds(1500).to_csv(tmp_path / "t.csv", index=False)
    args = ["analyze", str(tmp_path / "t.csv"), "--target", "y", "--modality", "a=a1,a2,a3,a4:tabular",
            "--modality", "note=note:text", "--budget", "quick", "--no-progress"]
    code, out, err = run_cli([*args, "--out", str(tmp_path / "auto")], capsys)
    assert code == 0, err
    section = json.loads((tmp_path / "auto" / "profile.json").read_text())["baseline"]
    assert set(section["families"]["intra:a"]) == {"neural", "linear", "trees"}
    assert set(section["families"]["intra:note"]) == {"neural", "linear"}  # trees do not read text
    for expert in ("intra:a", "intra:note", "inter"):
        families = section["families"][expert]
        assert section["chosen"][expert] == min(families, key=lambda f: families[f]["validation"]["nll"])
    assert section["chosen"]["intra:a"] == "trees"  # the step function: trees win it on the validation rows
    assert "│ intra:a " in out and "trees" in out and (tmp_path / "auto" / "report.html").read_text().count(
        'class="chosen"') == len(section["chosen"])
    code, out, err = run_cli([*args, "--experts", "neural", "--out", str(tmp_path / "neural")], capsys)
    assert code == 0, err
    section = json.loads((tmp_path / "neural" / "profile.json").read_text())["baseline"]
    assert "trees" not in section["families"]["intra:a"]
    assert all(section["chosen"][e] in ("neural", "linear", "prior") for e in section["chosen"])
    assert not any("validation rows" in why for why in section["replaced"].values())


@pytest.mark.parametrize("family", ["linear", "trees"])
def test_a_run_of_another_family_saves_without_pickle_and_serves_every_command(family, tmp_path, capsys):
    from safetensors.numpy import load_file

    from modalyze import Classifier

    table = thresholds(800)
    table.to_csv(tmp_path / "t.csv", index=False)
    base = [str(tmp_path / "t.csv"), "--target", "y", "--modality", "a=a1,a2,a3,a4:tabular", "--modality", "note=note:text"]
    run = tmp_path / "run"
    code, out, err = run_cli(["train", *base, "--model", "intra:a", "--family", family, "--out", str(run),
                              "--no-progress"], capsys)
    assert code == 0, err
    assert {p.suffix for p in run.iterdir()} <= {".json", ".safetensors", ".csv", ".lock"}  # no pickle
    assert set(load_file(str(run / "weights.safetensors"))) >= {"widths"}  # the fitted model's arrays
    clf = Classifier.load(run)
    assert clf.config_.family == family and clf.n_parameters > 0
    accuracy = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    assert clf.evaluate()["test"]["accuracy"] == pytest.approx(accuracy)  # reloaded: the same predictions
    assert (accuracy > 0.9) == (family == "trees")  # the step function: trees get it, a line does not
    for command in (["evaluate", str(run)], ["predict", str(run), str(tmp_path / "t.csv"), "--out", str(tmp_path / "p.csv")],
                    ["robustness", str(run), "--out", str(tmp_path / "rob")],
                    ["probe", *base, "--model", f"run:{run}", "--out", str(tmp_path / "probe")]):
        code, out, err = run_cli(command, capsys)
        assert code == 0, (command, err)


def test_a_mixed_family_i2m2_is_saved_loaded_and_serves_predict_and_robustness(tmp_path, capsys):
    """Each member of the product in the family its validation rows chose (the step function's numbers in
    trees, the note in whichever reads it best), weighted per presence pattern, kept without pickle."""
    from safetensors.numpy import load_file

    from modalyze import Classifier

    table = thresholds(800)
    table.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", str(tmp_path / "t.csv"), "--target", "y", "--modality", "a=a1,a2,a3,a4:tabular",
                              "--modality", "note=note:text", "--model", "i2m2", "--family", "auto", "--max-epochs", "4",
                              "--out", str(run), "--no-progress"], capsys)
    assert code == 0, err
    assert {p.suffix for p in run.iterdir()} <= {".json", ".safetensors", ".csv", ".lock"}  # no pickle
    clf = Classifier.load(run)
    members = clf.config_.members
    assert set(members) == {"intra:a", "intra:note", "inter"} and members["intra:a"] == "trees"
    assert any(k.startswith("intra.a.") for k in load_file(str(run / "weights.safetensors")))  # the trees' arrays
    history = json.loads((run / "history.json").read_text())
    assert set(history["members"]["intra:a"]["validation_nll"]) == {"neural", "linear", "trees"}
    assert clf.evaluate()["test"]["accuracy"] == pytest.approx(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])
    blank = table.tail(50).assign(note="")  # the note missing: the product of what is present
    blank.to_csv(tmp_path / "blank.csv", index=False)
    code, out, err = run_cli(["predict", str(run), str(tmp_path / "blank.csv"), "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 0, err
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 50 and (predicted.filter(regex="^p_").sum(axis=1).round(4) == 1).all()
    assert (predicted["modalities_used"] == "a").all()
    assert (predicted["prediction"] == blank["y"].to_numpy()).mean() >= 0.9  # the trees member carries the step
    code, out, err = run_cli(["robustness", str(run), "--out", str(tmp_path / "rob")], capsys)
    assert code == 0, err


def test_a_study_with_a_flat_and_a_neural_member_measures_every_expert_it_trained(tmp_path, capsys):
    """``--experts trees`` on numbers and text: the numbers' expert is trees, the note's and the joint one
    neural (trees do not read text), i2m2 their weighted product; shuffles, PID and robustness run on them."""
    thresholds(900).to_csv(tmp_path / "t.csv", index=False)
    code, out, err = run_cli(["analyze", str(tmp_path / "t.csv"), "--target", "y", "--modality", "a=a1,a2,a3,a4:tabular",
                              "--modality", "note=note:text", "--budget", "quick", "--experts", "trees", "--no-progress",
                              "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    profile = json.loads((tmp_path / "r" / "profile.json").read_text())
    assert profile["baseline"]["trained"] == {"intra:a": "trees", "intra:note": "neural", "inter": "neural"}
    assert profile["config"]["estimate"] == "separately trained experts"  # no one-pass model of mixed families
    assert profile["intra"]["a"]["score"] > 0.9 and profile["i2m2"]["score"] > 0.9  # the step function, via trees
    assert profile["shuffle"] and profile["pid"] and profile["robustness"]
    assert not profile["baseline"]["replaced"]  # each expert is the family its choice allows


def test_a_product_takes_its_members_as_trained_from_init():
    from modalyze import Classifier

    frame, modalities = thresholds(600), ["a=a1,a2,a3,a4:tabular", "note=note:text"]
    members = [Classifier(model=m, family="cheap", modalities=modalities).fit(frame, target="y")
               for m in ("intra:a", "intra:note", "inter")]
    product = Classifier(model="i2m2", family="cheap", modalities=modalities, init=members).fit(frame, target="y")
    assert product.expert_.intra["a"] is members[0].expert_ and product.expert_.inter is members[2].expert_
    assert product.config_.members == {"intra:a": "trees", "intra:note": "linear", "inter": members[2].config_.family}
    assert set(members[0].candidates_) == {"linear", "trees"}  # every flat family fitted, kept for the study


def test_family_auto_keeps_the_lowest_validation_log_loss_and_bad_families_are_one_line_errors(tmp_path, capsys):
    from modalyze import Classifier

    frame = thresholds(800)
    clf = Classifier(model="intra:a", family="auto", max_epochs=3, progress=False,
                     modalities=["a=a1,a2,a3,a4:tabular", "note=note:text"]).fit(frame, target="y")
    losses = clf.history_["validation_nll"]
    assert set(losses) == {"neural", "linear", "trees"} and clf.config_.family == min(losses, key=losses.get)
    frame.to_csv(tmp_path / "t.csv", index=False)
    base = ["train", str(tmp_path / "t.csv"), "--target", "y", "--out", str(tmp_path / "r")]
    for options, message in ((["--model", "intra:text", "--family", "trees"], "trees does not read text inputs"),
                             (["--model", "i2m2-shared", "--family", "linear"], "only the neural family builds it"),
                             (["--family", "forest"], "--family")):
        code, out, err = run_cli([*base, *options], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_saved_trees_are_node_arrays_checked_on_load(prepared):
    """A saved tree model is plain arrays; a state whose splits point outside their tree or backwards (a
    walk that never ends), read a feature the model lacks, or miss an array is a one-line error."""
    from modalyze.errors import ModalyzeError

    _, data = prepared
    trees = GradientBoostedTrees(["a"], 2, 0).fit(data.splits["train"], data.splits["val"])
    state = trees.state()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    first_split = int(np.flatnonzero(state["node_is_leaf"] == 0)[0])
    for field, value, message in [("node_left", 0, "points outside its tree or backwards"),
                                  ("node_right", 10 ** 6, "points outside its tree or backwards"),
                                  ("node_feature_idx", 99, "reads a feature outside")]:
        broken = {k: v.copy() for k, v in state.items()}
        broken[field][first_split] = value
        with pytest.raises(ModalyzeError, match=message):
            GradientBoostedTrees(["a"], 2, 0).load(broken)
    with pytest.raises(ModalyzeError, match="lack the array 'baseline'"):
        GradientBoostedTrees(["a"], 2, 0).load({k: v for k, v in state.items() if k != "baseline"})
    loaded = GradientBoostedTrees(["a"], 2, 0).load(state)
    assert loaded.size() == trees.size()
    np.testing.assert_array_equal(loaded.log_probs(data.splits["test"]), trees.log_probs(data.splits["test"]))


@pytest.mark.parametrize("model", [LinearBaseline, GradientBoostedTrees])
def test_one_class_in_the_training_rows_is_unsuitable_not_a_crash(model, prepared):
    import torch

    from modalyze.data.batching import FeaturizedDataset

    _, data = prepared
    train = data.splits["train"]
    one_class = FeaturizedDataset(train.features, torch.zeros_like(train.targets))
    with pytest.raises(Unsuitable, match="single class"):
        model(["a"], 2, 0).fit(one_class, data.splits["val"])


def test_the_linear_family_fits_columns_that_are_zero_on_every_training_row():
    """Only the columns the training rows use are fitted; a modality of constant numbers (every
    column zero after scaling) still gives a model, at the class frequencies."""
    frame = thresholds(400)
    frame["c1"], frame["c2"] = 5.0, -1.0
    _, data = load_prepared(frame, 0, "error", target="y", modalities=["c=c1,c2:tabular", "note=note:text"])
    constant = LinearBaseline(["c"], 2, 0).fit(data.splits["train"], data.splits["val"])
    log_probs = constant.log_probs(data.splits["test"])
    assert np.isfinite(log_probs).all() and np.allclose(log_probs, log_probs[0])
    text = LinearBaseline(["note"], 2, 0).fit(data.splits["train"], data.splits["val"])
    assert len(text.used_) < sum(text.widths_)  # most hashed word pairs never occur
    again = LinearBaseline(["note"], 2, 0).load(text.state())
    np.testing.assert_allclose(again.log_probs(data.splits["test"]), text.log_probs(data.splits["test"]))


def test_the_linear_family_reads_a_long_text_past_the_neural_encoders_tokens():
    """The label's word sits after 300 filler words: past the neural encoder's first max_len (128)
    tokens, inside the flat families' bag (bag_len, 1,024), so the linear family reads it as a user's
    TF-IDF would, while the encoder's input stays the first 128 tokens."""
    from modalyze.kinds.text import TextEncoder

    rng = np.random.default_rng(0)
    label = rng.choice(["hi", "lo"], 400)
    filler = ["the", "a", "day", "item", "was", "and", "it"]
    frame = pd.DataFrame({"note": [" ".join(rng.choice(filler, 300)) + (" great" if y == "hi" else " awful")
                                   for y in label], "n1": rng.normal(size=400).round(3), "y": label})
    _, data = load_prepared(frame, 0, "error", target="y", modalities=["note=note:text", "n=n1:tabular"])
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    assert train.features["note"].tensors["ids"].shape[1] == 301  # every token (fewer than bag_len)
    linear = LinearBaseline(["note"], 2, 0).fit(train, val)
    assert (linear.log_probs(test).argmax(1) == test.targets.numpy()).mean() > 0.95
    info = data.featurizers["note"].spec_info
    encoder = TextEncoder(info, 8)
    assert info["max_len"] == 128 and encoder(train.features["note"].take(torch.arange(4))).tokens.shape[1] == 128


def test_a_text_featurizer_saved_before_the_bag_keeps_its_length():
    """A run saved before ``bag_len`` existed has only ``max_len_`` in its fitted state: its ids stay that
    wide, so the flat models saved with it read the features they were fitted on."""
    from modalyze.data.featurizers import Featurizer

    frame = pd.DataFrame({"note": [" ".join(["word"] * 200), "short text"]})
    fitted = Featurizer.from_state({"kind": "text", "columns": ["note"], "options": {},
                                    "fitted": {"vocab_": ["<pad>", "<unk>", "text", "short", "word"], "max_len_": 128}})
    assert fitted.transform(frame).tensors["ids"].shape == (2, 128)


def test_each_family_fits_saves_and_loads_on_every_kind_it_accepts(tmp_path):
    """The family contract on one generated table holding a modality of every kind (files included):
    every family that accepts a kind fits it, gives normalised log-probabilities on every test row and
    comes back from its saved arrays predicting the same."""
    from tests.generated import VARIANTS, Case, write_case

    modalities = tuple(f"{kind}:{variants[0]}" for kind, variants in VARIANTS.items())
    written = write_case(Case(modalities, rows=120, declare="target"), tmp_path)
    spec, data = load_prepared(written.table, 0, "error", target="label", modalities=written.modalities)
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    fitted = set()
    for name, modality in spec.modalities.items():
        for family in FAMILIES.entries.values():
            if not family.accepts([modality.kind]):
                continue
            model = family.create([name], len(data.classes), 0).fit(train, val)
            log_probs = model.log_probs(test)
            assert log_probs.shape == (len(test), len(data.classes)) and np.isfinite(log_probs).all()
            np.testing.assert_allclose(np.exp(log_probs).sum(1), 1, atol=1e-6)
            again = family.create([name], len(data.classes), 0).load(model.state())
            np.testing.assert_allclose(again.log_probs(test), log_probs, atol=1e-6)
            fitted.add((family.name, modality.kind))
    assert fitted == {(f.name, k) for f in FAMILIES.entries.values() for k in VARIANTS if f.accepts([k])}


def test_row_orders_scored_together_equal_each_order_scored_alone(prepared, monkeypatch):
    """Shuffles and PID partners join row orders into one call of the expert (trees pay a cost per call);
    each row's prediction is unchanged, across the boundaries of the calls too."""
    from modalyze.analysis import shuffle
    from modalyze.families import FlatExpert

    _, data = prepared
    train, val, test = (data.splits[s] for s in ("train", "val", "test"))
    scorer = shuffle.PermutedInputs(FlatExpert("trees", ["a"], 2, GradientBoostedTrees(["a"], 2, 0).fit(train, val)), test)
    rng, n = np.random.default_rng(0), len(test)
    orders = [{"a": rng.permutation(n)} for _ in range(4)] + [{"a": np.arange(n // 2), "note": np.full(n // 2, 3)}]
    monkeypatch.setattr(shuffle, "ROWS_PER_CALL", int(2.5 * n))  # calls of 2, 2 and 1 orders
    together = shuffle.score_orders(scorer, orders, n)
    assert [len(lp) for lp in together] == [n, n, n, n, n // 2]
    for order, log_probs in zip(orders, together):
        alone = scorer.log_probs({"a": order["a"], "note": order.get("note", np.arange(len(order["a"])))})
        np.testing.assert_array_equal(log_probs, alone)
