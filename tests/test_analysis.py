"""The dependency study: statistics, the verdict rule, resume, and verdicts on known structures."""

from __future__ import annotations

import json

import numpy as np
import torch
import pytest

from modalyze.analysis import analyze
from modalyze.analysis.shuffle import EncodedExperts, permute_modality
from modalyze.classifier import Classifier
from modalyze.train import predict_log_probs
from modalyze.analysis.stats import Draws, chance, difference_ci, score_with_ci
from modalyze.analysis.verdict import decide, strength
from modalyze.data import load_dataset
from modalyze.data.builtin import synthetic_information
from modalyze.data.prepare import prepare
from tests.test_bad_input import run_cli


def _s(score, lo, hi):
    return {"score": score, "ci": [lo, hi]}


@pytest.mark.parametrize("intra,joint,interaction,expected", [
    ({"a": _s(0.5, 0.47, 0.53), "b": _s(0.5, 0.47, 0.53)}, _s(0.51, 0.48, 0.54), _s(0.0, -0.02, 0.02), "neither"),
    ({"a": _s(0.51, 0.48, 0.54), "b": _s(0.5, 0.47, 0.53)}, _s(0.95, 0.93, 0.96), _s(0.44, 0.41, 0.47), "inter-dominant"),
    ({"a": _s(0.97, 0.96, 0.98), "b": _s(0.5, 0.47, 0.53)}, _s(0.975, 0.96, 0.98), _s(0.005, -0.005, 0.015), "intra-dominant"),
    ({"a": _s(0.67, 0.66, 0.68), "b": _s(0.45, 0.44, 0.46)}, _s(0.98, 0.97, 0.99), _s(0.3, 0.29, 0.31), "both"),
])
def test_verdict_rule(intra, joint, interaction, expected):
    verdict = decide(0.5 if expected != "both" else 0.37, joint, "inter", intra, interaction)
    assert verdict.verdict == expected
    assert verdict.reason  # a sentence a person can read


def test_strength_is_normalised_by_chance_and_joint():
    assert strength(0.5, 0.5, 1.0) == 0.0
    assert strength(1.0, 0.5, 1.0) == 1.0
    assert strength(0.75, 0.5, 1.0) == 0.5
    assert strength(0.7, 0.5, 0.5) == 0.0  # a joint model at chance leaves nothing to normalise by


def test_bootstrap_interval_covers_the_truth_and_pairs_differences():
    rng = np.random.default_rng(0)
    correct = rng.random((2, 2000)) < 0.8  # two seeds, true accuracy 0.8
    draws = Draws.make(2000, 500, seed=1)
    scored = score_with_ci(correct, draws)
    assert scored["ci"][0] < 0.8 < scored["ci"][1] and scored["ci"][1] - scored["ci"][0] < 0.05
    same = difference_ci(correct, correct, draws=draws)
    # paired draws: a model minus itself is exactly 0 in every replicate; only the exact bound on
    # rows that never disagree remains (1 − 0.025^(1/n) either way, 0.0018 at n = 2000)
    bound = 1 - 0.025 ** (1 / 2000)
    assert same["score"] == 0 and np.allclose(same["ci"], [-bound, bound]) and bound < 0.002
    assert chance(np.array([0, 1, 1, 2])) == 0.5


def test_permuting_a_modality_moves_only_that_modality():
    spec, table = load_dataset("synthetic-unique", rows=300)
    data = prepare(spec, table).splits["test"]
    perm = np.random.default_rng(0).permutation(len(data))
    moved = permute_modality(data, "a", perm)
    batch, original = moved.__getitems__([0, 1, 2]), data.__getitems__(perm[:3].tolist())
    assert np.array_equal(batch["x"]["a"]["x"], original["x"]["a"]["x"])
    assert np.array_equal(batch["x"]["b"]["x"], data.__getitems__([0, 1, 2])["x"]["b"]["x"])
    assert np.array_equal(batch["y"], data.targets[:3])


@pytest.mark.parametrize("model", ["inter", "i2m2"])
def test_cached_shuffles_equal_rerunning_the_expert_on_permuted_inputs(model, tiny_spec):
    spec, table = load_dataset(tiny_spec)
    table.frame.loc[table.frame.index[::7], "note"] = None  # some rows miss a modality
    prepared = prepare(spec, table)
    clf = Classifier(model=model, max_epochs=1, dim=8, progress=False).fit_prepared(spec, prepared)
    data = prepared.splits["train"]
    if model == "i2m2":  # members weighed per presence pattern, as validation rows may choose
        weights = clf.expert_.member_weights.weights  # [patterns, members]
        weights.copy_(2 * torch.rand(weights.shape, generator=torch.Generator().manual_seed(0)))
    cached = EncodedExperts(clf.expert_, data, batch_size=7)
    np.testing.assert_allclose(cached.log_probs({}), predict_log_probs(clf.expert_, data).numpy(), atol=1e-5)
    rng = np.random.default_rng(0)
    perms = {"image": rng.permutation(len(data)), "note": rng.permutation(len(data))}
    naive = permute_modality(permute_modality(data, "image", perms["image"]), "note", perms["note"])
    np.testing.assert_allclose(cached.log_probs(perms), predict_log_probs(clf.expert_, naive).numpy(), atol=1e-5)


def test_rerunning_on_permuted_inputs_equals_the_cache_and_serves_a_flat_expert(tiny_spec):
    from modalyze.analysis.shuffle import PermutedInputs, shuffle_scorer

    spec, table = load_dataset(tiny_spec)
    prepared = prepare(spec, table)
    data = prepared.splits["train"]
    rng = np.random.default_rng(0)
    perms = {"image": rng.permutation(len(data)), "note": rng.permutation(len(data))}
    rows = np.sort(rng.choice(len(data), 9, replace=False))  # the PID's subset of rows, every modality
    subset = {m: rows for m in spec.modalities}
    neural = Classifier(model="inter", max_epochs=1, dim=8, progress=False).fit_prepared(spec, prepared)
    assert isinstance(shuffle_scorer(neural.expert_, data), EncodedExperts)
    for p in (perms, subset):
        np.testing.assert_allclose(PermutedInputs(neural.expert_, data).log_probs(p),
                                   EncodedExperts(neural.expert_, data).log_probs(p), atol=1e-5)
    flat = Classifier(model="inter", family="linear", progress=False).fit_prepared(spec, prepared)
    scorer = shuffle_scorer(flat.expert_, data)
    naive = permute_modality(permute_modality(data, "image", perms["image"]), "note", perms["note"])
    assert isinstance(scorer, PermutedInputs) and scorer.log_probs(subset).shape == (9, len(prepared.classes))
    np.testing.assert_allclose(scorer.log_probs(perms), predict_log_probs(flat.expert_, naive).numpy(), atol=1e-6)


@pytest.mark.parametrize("experts", ["cheap", "all"])  # the flat families alone; neural experts too
def test_analyze_writes_profile_and_report_and_resumes(experts, tmp_path, capsys):
    out = tmp_path / "rep"
    args = ["analyze", "synthetic-synergy", "-o", "rows=1500", "--out", str(out), "--no-progress", "--experts", experts]
    code, text, err = run_cli(args, capsys)
    assert code == 0, err
    profile = json.loads((out / "profile.json").read_text())
    assert profile["schema"] == "modalyze.profile/1" and profile["metric"] == "accuracy"
    assert set(profile["intra"]) == {"a", "b"} and set(profile["shuffle"]) == {"a", "b", "all"}
    for key in ("additive", "inter", "i2m2"):
        lo, hi = profile[key]["ci"]
        assert lo <= profile[key]["score"] <= hi
    assert set(profile["pid"]["a|b"]) >= {"redundancy", "unique", "synergy", "noise_floor", "units"}
    assert profile["verdict"] == "inter-dominant" and "verdict: inter-dominant" in text
    html = (out / "report.html").read_text()
    assert "inter-dominant" in html and "<script" not in html
    assert not any(ref in html for ref in ('src="http', "href=\"http", "url(http", "@import")), "no external resources"
    code, text, err = run_cli(args, capsys)
    assert code == 0 and text.count("resumed from") == 4 and "trained" not in text.replace("untrained", "")
    again = json.loads((out / "profile.json").read_text())
    assert again["inter"] == profile["inter"], "a resumed study reproduces the scores"
    code, _, err = run_cli([*args, "--dim", "8"], capsys)
    assert code == 2 and "other settings" in err


@pytest.mark.parametrize("structure,expected", [
    ("redundant", "intra-dominant"), ("unique", "intra-dominant"), ("synergy", "inter-dominant"),
    ("mixed", "both"), ("none", "neither")])
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_verdicts_and_pid_on_known_structures(structure, expected, seed):
    """The verdict, and each PID term the structure constructs within 0.15 bits of its true value."""
    profile = analyze(f"synthetic-{structure}", budget="fast", seed=seed, progress=False, log=lambda _: None)
    assert profile.verdict == expected, profile.reason
    pid = profile.pid["a|b"]
    flat = {"redundancy": pid["redundancy"], "synergy": pid["synergy"],
            **{f"unique:{m}": u for m, u in pid["unique"].items()}}
    truth = synthetic_information(structure)
    for term, value in truth.items():
        assert abs(flat[term] - value) < 0.15, (term, flat[term], value, pid)
    assert pid["total"] <= pid["bound"]["label_entropy"] + 1e-9
    if structure == "synergy":  # the constructed term stands clear of the estimator's noise floor
        assert pid["synergy"] > pid["noise_floor"]["synergy"] + 0.5


@pytest.mark.parametrize("structure,expected", [
    ("redundant", "intra-dominant"), ("unique", "intra-dominant"), ("synergy", "inter-dominant"),
    ("mixed", "both"), ("none", "neither")])
def test_the_one_pass_estimate_finds_the_known_structures(structure, expected):
    profile = analyze(f"synthetic-{structure}", budget="quick", progress=False, log=lambda _: None)
    assert "one-pass" in profile.config["estimate"]
    assert profile.verdict == expected, profile.reason
    assert set(profile.params) >= {"intra:a", "intra:b", "inter", "i2m2"}
    assert profile.params["inter"] < profile.params["i2m2"] < 1.1 * profile.params["inter"]  # one shared model


def test_quick_study_trains_one_model_reports_it_and_resumes(tmp_path, capsys):
    out = tmp_path / "quick"
    args = ["analyze", "synthetic-mixed", "-o", "rows=1500", "--budget", "quick", "--out", str(out), "--no-progress",
            "--dim", "16"]
    code, text, err = run_cli(args, capsys)
    assert code == 0, err
    # one training; its members are kept beside it, each at its own best validation epoch
    assert {p.name for p in (out / "experts" / "seed-0").iterdir()} == {"i2m2-shared", "intra-a", "intra-b", "inter"}
    assert "one-pass estimate" in text and text.count("trained") == 1 and "i2m2-shared: trained" in text
    html = (out / "report.html").read_text()
    assert 'id="one-pass"' in html and "i2m2-shared" in html
    first = json.loads((out / "profile.json").read_text())
    code, text, err = run_cli(args, capsys)
    assert code == 0 and "i2m2-shared: resumed" in text
    assert json.loads((out / "profile.json").read_text())["intra"] == first["intra"], "a resumed study reproduces it"


@pytest.mark.parametrize("chance,low,start", [(0.82, 0.80, "0.75"), (0.5, 0.9, "0.45"), (0.1, 0.05, None)])
def test_score_charts_start_the_axis_just_below_chance_or_the_lowest_interval(chance, low, start):
    """On a table with chance 0.82 every bar would look the same on an axis from 0."""
    from modalyze.report.charts import scores_chart

    entry = {"score": 0.9, "ci": [low, 0.95]}
    profile = {"intra": {"a": entry, "b": entry}, "additive": entry, "inter": entry, "i2m2": entry, "chance": chance,
               "metric": "accuracy"}
    svg = scores_chart(profile)
    assert (f"axis from {start}" in svg) if start else "axis from" not in svg
