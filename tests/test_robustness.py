"""Modality dropout, corruptions (level 0 = identity, level 1 = the documented extreme, deterministic),
the missing-modality matrix, the robustness summaries and the `robustness` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from modalyze import Classifier
from modalyze.analysis.robustness import check_levels, summarize_curves
from modalyze.data import load_dataset
from modalyze.data.corruptions import all_corruptions, corrupt, corruptions_for
from modalyze.data.featurizers import create_featurizer
from modalyze.data.prepare import prepare
from modalyze.errors import ModalyzeError
from modalyze.experts import presence_patterns
from modalyze.kinds.text import UNK
from modalyze.spec import kinds
from modalyze.train.task import drop_modalities

from .conftest import FAST
from .test_bad_input import run_cli


@pytest.fixture
def tiny(tiny_spec):
    spec, table = load_dataset(tiny_spec)
    prepared = prepare(spec, table)
    return prepared.featurizers, prepared.frames["test"]


def _same(a, b) -> bool:
    return (torch.equal(a.present, b.present) and all(torch.equal(a.take(torch.arange(len(a)))[k],
                                                                  b.take(torch.arange(len(b)))[k]) for k in a.tensors))


def _kind_data(kind: str, tiny, tmp_path):
    """A fitted featurizer of ``kind`` and rows for it."""
    if kind in ("image", "text", "tabular"):
        featurizers, frame = tiny
        return featurizers[{"image": "image", "text": "note", "tabular": "patient"}[kind]], frame
    if kind == "audio":
        import soundfile

        rng = np.random.default_rng(0)
        for i in range(6):
            soundfile.write(str(tmp_path / f"{i}.wav"), 0.3 * np.sin(np.arange(8000) * (0.2 + 0.1 * i))
                            + 0.01 * rng.standard_normal(8000), 8000)  # 1 s: ten segments for segment-order
        frame = pd.DataFrame({"clip": [f"{i}.wav" for i in range(6)]})
        return create_featurizer("audio", ["clip"], base_dir=tmp_path, sample_rate=8000, n_fft=256, hop=128) \
            .fit(frame), frame
    if kind == "video":
        from modalyze.data.builtin import moving_clip, write_clip

        rng = np.random.default_rng(0)
        for i in range(6):
            write_clip(tmp_path / f"{i}.mp4", moving_clip("red", ("left", "right")[i % 2], bool(i % 3), rng))
        frame = pd.DataFrame({"clip": [f"{i}.mp4" for i in range(6)]})
        return create_featurizer("video", ["clip"], base_dir=tmp_path, frames=8, size=16).fit(frame), frame
    spec, table = load_dataset("synthetic-redundant", rows=300, form="timeseries" if kind == "timeseries" else "vector")
    prepared = prepare(spec, table)
    return prepared.featurizers["a"], prepared.frames["test"]


@pytest.mark.parametrize("kind,corruption", all_corruptions(), ids=lambda c: getattr(c, "name", c))
def test_corruption_level_zero_is_identity_and_a_seed_fixes_the_damage(kind, corruption, tiny, tmp_path):
    name = f"{kind}/{corruption.name}"
    featurizer, frame = _kind_data(kind, tiny, tmp_path)
    clean = featurizer.transform(frame)
    assert _same(corrupt(featurizer, frame, name, 0.0, seed=1), clean)
    assert _same(corrupt(featurizer, frame, name, 0.6, seed=1), corrupt(featurizer, frame, name, 0.6, seed=1))
    assert not _same(corrupt(featurizer, frame, name, 1.0, seed=1), clean), "level 1 changes the input"
    if corruption.random:
        assert not _same(corrupt(featurizer, frame, name, 0.6, seed=1), corrupt(featurizer, frame, name, 0.6, seed=2))


def test_corruption_extremes_are_as_documented(tiny):
    featurizers, frame = tiny
    image, note, patient = featurizers["image"], featurizers["note"], featurizers["patient"]
    pixels = lambda feats: feats.take(torch.arange(len(feats)))["pixels"].float()  # noqa: E731  [N, 3, S, S]
    clean = pixels(image.transform(frame))
    assert (pixels(corrupt(image, frame, "occlusion", 1.0)) == 128).all(), "a grey square over the whole image"
    half = pixels(corrupt(image, frame, "occlusion", 0.25))
    assert ((half == 128).all(1).float().mean((1, 2)) >= 0.24).all(), "a quarter of the area at level 0.25"
    noisy = pixels(corrupt(image, frame, "gaussian-noise", 1.0))
    assert (noisy - clean).abs().mean() > 60, "noise with the full pixel range as standard deviation"
    blurred = pixels(corrupt(image, frame, "blur", 1.0))
    assert blurred.std((2, 3)).mean() < 0.5 * clean.std((2, 3)).mean(), "blur flattens the image"
    assert not corrupt(note, frame, "word-dropout", 1.0).present.any(), "no words left: the text is absent"
    swapped = corrupt(note, frame, "char-swap", 1.0).tensors["ids"]
    words = swapped[swapped > 0]
    assert (words == UNK).float().mean() > 0.5, "swapped words fall out of the vocabulary"
    assert not corrupt(patient, frame, "cells-missing", 1.0).present.any(), "every cell empty: absent"
    moved = corrupt(patient, frame, "row-swap", 1.0).tensors["num"]
    kept = patient.transform(frame).tensors["num"]
    assert torch.equal(moved.sort(0).values, kept.sort(0).values), "values move between rows, none invented"
    assert not torch.equal(moved, kept)


def test_vector_timeseries_and_audio_extremes_and_registry_coverage(tiny, tmp_path):
    featurizer, frame = _kind_data("vector", tiny, tmp_path)
    diff = corrupt(featurizer, frame, "gaussian-noise", 1.0).tensors["x"] - featurizer.transform(frame).tensors["x"]
    assert 0.9 < float(diff.std()) < 1.1, "level 1: noise with each feature's standard deviation"
    series, series_frame = _kind_data("timeseries", tiny, tmp_path)
    assert not corrupt(series, series_frame, "dropped-steps", 1.0).present.any(), "no steps left: absent"
    half = corrupt(series, series_frame, "dropped-steps", 0.5).tensors["steps"].float().mean()
    assert 0.4 < float(half) < 0.6
    audio, audio_frame = _kind_data("audio", tiny, tmp_path)
    clean, noisy = audio.transform(audio_frame).tensors["mel"], corrupt(audio, audio_frame, "additive-noise", 1.0).tensors["mel"]
    assert noisy.std(2).mean() < clean.std(2).mean(), "noise fills the spectrogram: bands lose their structure"
    assert all(corruptions_for(kind) for kind in kinds()), "every modality kind has corruptions"
    with pytest.raises(ModalyzeError, match="outside"):
        corrupt(featurizer, frame, "gaussian-noise", 1.5)
    with pytest.raises(ModalyzeError, match="applies to image"):
        corrupt(featurizer, frame, "image/blur", 0.5)


def test_modality_dropout_hides_at_its_rate_and_never_empties_a_row():
    torch.manual_seed(0)
    n = 20000
    present = {"a": torch.ones(n, dtype=torch.bool), "b": torch.rand(n) < 0.5}
    dropped = drop_modalities(present, {"a": 0.3})
    assert torch.equal(dropped["b"], present["b"]), "a modality without a rate is untouched"
    alone = ~present["b"]
    assert dropped["a"][alone].all(), "a row's only modality is never hidden"
    assert abs(float(dropped["a"][~alone].float().mean()) - 0.7) < 0.02
    both = drop_modalities(present, {"a": 0.5, "b": 0.5})
    assert (both["a"] | both["b"]).all()
    assert not (both["a"] & ~present["a"]).any() and not (both["b"] & ~present["b"]).any(), "never invents presence"


def test_modality_dropout_teaches_the_inter_expert_to_predict_without_a_modality():
    """Digit halves: trained on complete rows only, the inter expert's missing embedding is never
    learned; with dropout it is, and each half alone scores far better, at no cost with both halves.
    Averaged over three seeds (one seed's 360 test rows move either score by ±0.02; measured means
    0.67 -> 0.83 alone, 0.968 -> 0.961 with both halves)."""
    from modalyze.analysis.robustness import Evaluator, keep_only

    spec, table = load_dataset("digits")
    prepared = prepare(spec, table)
    test = prepared.splits["test"]
    alone, full = {0.0: [], 0.5: []}, {0.0: [], 0.5: []}
    for seed in (0, 1, 2):
        for rate in (0.0, 0.5):
            clf = Classifier(model="inter", max_epochs=15, min_steps=300, progress=False, dim=32, seed=seed,
                             modality_dropout=rate).fit_prepared(spec, prepared)
            evaluator = Evaluator({"inter": clf.expert_}, test)
            alone[rate].append(float(evaluator.correct(keep_only(test, ("top",)))["inter"].mean()))
            full[rate].append(float(evaluator.correct(test)["inter"].mean()))
            untouched = all(float(p.detach().abs().sum()) == 0 for p in clf.expert_.missing.values())
            assert untouched == (rate == 0.0), "the missing embedding learns only from dropped rows"
    assert np.mean(alone[0.5]) > np.mean(alone[0.0]) + 0.1, alone
    assert np.mean(full[0.5]) > np.mean(full[0.0]) - 0.02, full


def test_subsets_and_levels():
    assert len(presence_patterns(["a", "b", "c"])) == 7 and presence_patterns(["a", "b"])[0] == ("a", "b")
    many = presence_patterns([f"m{i}" for i in range(8)])
    assert len(many) == 1 + 8 + 8 and len(many[0]) == 8 and len(many[1]) == 7 and len(many[-1]) == 1
    assert check_levels([1, 0.5]) == [0.0, 0.5, 1.0]
    with pytest.raises(ModalyzeError, match="outside"):
        check_levels([2])


def test_relative_and_effective_robustness():
    levels = [0.0, 0.5, 1.0]
    curves = {"late": [0.9, 0.7, 0.5], "i2m2": [0.8, 0.7, 0.6], "flat": [0.6, 0.6, 0.6], "intra:a": [0.5, 0.4, 0.3]}
    out = summarize_curves(levels, curves, "late", joint=["late", "i2m2", "flat"])
    assert out["flat"]["relative"] == pytest.approx(1.0)
    assert out["late"]["effective"] == pytest.approx(0.0)
    assert out["late"]["area"] == pytest.approx(0.7)
    # i2m2 loses 0.2 where late loses 0.4: shifted reference 0.8, 0.6, 0.4 -> mean gap 0.1
    assert out["i2m2"]["effective"] == pytest.approx(0.1)
    assert "effective" not in out["intra:a"], "a one-modality expert is not compared with a fusion model"
    assert "effective" not in summarize_curves(levels, curves, None, joint=["i2m2"])["i2m2"]


def test_robustness_command_writes_matrix_curves_and_page(tiny_spec, tmp_path, capsys):
    run = Classifier(model="i2m2", **FAST).fit(tiny_spec).save(tmp_path / "run")
    code, out, err = run_cli(["robustness", str(run), "--noise-levels", "0.5,1", "--bootstrap", "50"], capsys)
    assert code == 0, err
    result = json.loads((run / "robustness" / "robustness.json").read_text())
    assert result["levels"] == [0.0, 0.5, 1.0] and result["reference"] == "inter"
    assert len(result["missing"]) == 7
    assert set(result["missing"][0]["scores"]) == {"i2m2", "inter", "intra:image", "intra:note", "intra:patient"}
    only_note = next(r for r in result["missing"] if r["present"] == ["note"])
    assert set(only_note["scores"]) == {"i2m2", "inter", "intra:note"}
    names = {(c["modality"], c["corruption"]) for c in result["corruptions"]}
    assert ("image", "blur") in names and ("note", "char-swap") in names and ("patient", "row-swap") in names
    blur = next(c for c in result["corruptions"] if c["corruption"] == "blur")
    assert set(blur["curves"]) == {"i2m2", "inter", "intra:image"} and "effective" in blur["summary"]["i2m2"]
    assert (run / "robustness" / "robustness.html").read_text().count("<svg") == 3
    assert "with modalities missing" in out and "intra:note" in out

    code, _, err = run_cli(["robustness", str(run), "--noise-levels", "0,x"], capsys)
    assert code == 2 and "--noise-levels" in err
    intra = Classifier(model="intra:note", **FAST).fit(tiny_spec).save(tmp_path / "intra")
    code, _, err = run_cli(["robustness", str(run), "--reference", str(intra)], capsys)
    assert code == 2 and "must be an inter run with late fusion" in err


@pytest.mark.parametrize("model", ["i2m2-shared", "i2m2"])
def test_a_product_reuses_what_a_condition_left_unchanged_with_the_same_answers(model):
    """Robustness reruns only what a condition changed: a shared-encoder product encodes each unaltered
    modality once, a product of separate experts keeps its unaltered intra members' outputs. The
    answers are those of a full forward pass under every condition."""
    from modalyze.analysis.robustness import Evaluator, keep_only
    from modalyze.data.corruptions import corrupt

    spec, table = load_dataset("digits")
    prepared = prepare(spec, table)
    test = prepared.splits["test"]
    clf = Classifier(model=model, max_epochs=3, progress=False, dim=16).fit_prepared(spec, prepared)
    noisy = corrupt(prepared.featurizers["top"], prepared.frames["test"], "gaussian-noise", 1.0, 0)
    conditions = [(test, set()), (keep_only(test, ("bottom",)), {"top"}),
                  (type(test)({**test.features, "top": noisy}, test.targets), {"top"})]
    warm = Evaluator({model: clf.expert_}, test, members=True)
    clean = warm.correct(test)  # fills the caches of clean encodings and intra outputs
    for data, changed in conditions:
        fresh = Evaluator({model: clf.expert_}, test, members=True)
        fresh._clean_encodings = lambda *args: None  # a full forward pass, nothing reused
        expected, got = fresh.correct(data), warm.correct(data, changed, clean)
        assert expected.keys() == got.keys() and all(np.array_equal(expected[k], got[k]) for k in expected)


@pytest.mark.parametrize("model", ["i2m2", "i2m2-shared"])
def test_a_fitted_product_is_not_below_its_best_present_member_on_validation_rows(model):
    """Member weights are chosen per presence pattern on validation rows; there, with any subset of
    modalities present, the product scores at least its best present member (and robustness says so)."""
    from modalyze.analysis.robustness import Evaluator, below_best_member, keep_only
    from modalyze.analysis.stats import score_with_ci

    spec, table = load_dataset("digits")
    prepared = prepare(spec, table)
    val = prepared.splits["val"]
    clf = Classifier(model=model, max_epochs=3, progress=False, dim=16).fit_prepared(spec, prepared)
    assert set(clf.history_["member_weights"]) == {"top+bottom", "top", "bottom"}
    evaluator = Evaluator({model: clf.expert_}, val, members=True)
    for kept in [("top", "bottom"), ("top",), ("bottom",)]:
        correct = evaluator.correct(keep_only(val, kept))
        members = [k for k in correct if k == "inter" or k.split(":", 1)[-1] in kept]
        assert correct[model].mean() >= max(correct[m].mean() for m in members), (kept, clf.history_["member_weights"])
        scores = {k: score_with_ci(correct[k][None], evaluator.draws) for k in [model, *members]}
        assert below_best_member(scores, evaluator) == {}
    made_up = {model: {"score": 0.5}, "inter": {"score": 0.7}, "intra:top": {"score": 0.6}}
    assert below_best_member(made_up, evaluator) == {model: {"member": "inter", "gap": pytest.approx(0.2)}}
