"""Accuracy targets that prove the models learn what the data holds (issue: core, 'what must be shown')."""

from __future__ import annotations

import pytest

from modalyze import Classifier
from modalyze.data import load_dataset
from modalyze.data.prepare import prepare


def _test_accuracies(name: str, models: list[str], dataset_options: dict | None = None, **kw) -> dict[str, float]:
    spec, table = load_dataset(name, seed=0, **(dataset_options or {}))
    prepared = prepare(spec, table)
    out = {}
    for model in models:
        clf = Classifier(model=model, progress=False, seed=0, **kw).fit_prepared(spec, prepared)
        out[model] = clf.evaluate(("test",))["test"]["accuracy"]
    return out


def test_digits_halves():
    acc = _test_accuracies("digits", ["intra:top", "intra:bottom", "inter", "i2m2"])
    print("digits test accuracy:", acc)
    assert acc["intra:top"] >= 0.80 and acc["intra:bottom"] >= 0.80
    assert acc["inter"] >= 0.95 and acc["i2m2"] >= 0.95


@pytest.mark.parametrize("form", ["vector", "timeseries"])
def test_synthetic_synergy_needs_both_modalities(form):
    acc = _test_accuracies("synthetic-synergy", ["intra:a", "intra:b", "inter"], {"form": form})
    print(f"synthetic-synergy ({form}) test accuracy:", acc)
    chance = 0.5
    assert abs(acc["intra:a"] - chance) <= 0.05 and abs(acc["intra:b"] - chance) <= 0.05
    assert acc["inter"] >= 0.90


def test_av_digits_each_modality_is_imperfect_and_together_they_are_not():
    acc = _test_accuracies("av-digits", ["intra:image", "intra:audio", "inter", "i2m2"])
    print("av-digits test accuracy:", acc)
    assert 0.5 <= acc["intra:image"] <= 0.9 and 0.5 <= acc["intra:audio"] <= 0.9
    assert acc["inter"] >= 0.95 and acc["i2m2"] >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("model,low,high", [
    ("i2m2", 0.97, 1.0), ("inter", 0.95, 1.0), ("intra:question", 0.66, 0.678), ("intra:image", 0.0, 0.48)])
def test_easy_vqa_targets(model, low, high):
    acc = _test_accuracies("easy-vqa", [model])[model]
    print(f"easy-vqa {model} test accuracy: {acc:.4f}")
    assert low <= acc <= high


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["clip", "siglip"])
def test_easy_vqa_captions_zero_shot_and_retrieval_targets(loss):
    """Issue 'alignment', what must be shown 1: shape and colour from label names alone, image→caption R@1."""
    from modalyze.aligner import Aligner
    from modalyze.analysis.alignment import retrieve, zero_shot

    aligner = Aligner(loss=loss, progress=False).fit("easy-vqa-captions")  # defaults: word dropout 0.2, patience 10
    shape, color = (zero_shot(aligner, c, templates=["a {}"])["top1"] for c in ("shape", "color"))
    recall = retrieve(aligner, ["image"], "caption")["R@1"]
    print(f"easy-vqa-captions {loss}: zero-shot shape {shape:.3f}, colour {color:.3f}, image→caption R@1 {recall:.3f}")
    assert shape >= 0.95 and color >= 0.95 and recall >= 0.90
