"""Specs, tables, splits and featurizers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from modalyze.data import load_dataset
from modalyze.data.builtin import question_type
from modalyze.data.featurizers import Featurizer, create_featurizer
from modalyze.data.table import SPLIT_COLUMN
from modalyze.spec import Spec, load_spec


def test_spec_yaml_round_trip_and_globs(tiny_spec):
    spec, table = load_dataset(tiny_spec)
    assert table.columns["patient"] == ["age", "sex", "lab_a", "lab_b"]
    assert Spec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()
    assert spec.modalities["image"].options == {"size": 16}


def test_split_is_deterministic_stratified_and_seeded(tiny_spec):
    _, a = load_dataset(tiny_spec)
    _, b = load_dataset(tiny_spec)
    assert (a.frame[SPLIT_COLUMN] == b.frame[SPLIT_COLUMN]).all()
    counts = a.frame.groupby(SPLIT_COLUMN)["label"].value_counts().unstack()
    assert (counts["red"] == counts["blue"]).all(), "each split keeps the class balance"
    assert counts.sum(axis=1).to_dict() == {"test": 16, "train": 48, "val": 16}
    raw = yaml.safe_load(tiny_spec.read_text())
    raw["split"]["seed"] = 1
    tiny_spec.write_text(yaml.safe_dump(raw))
    _, c = load_dataset(tiny_spec)
    assert not (a.frame[SPLIT_COLUMN] == c.frame[SPLIT_COLUMN]).all()


def test_source_per_split_files_and_split_column(tmp_path, tiny_spec):
    frame = pd.read_csv(tmp_path / "data.csv")
    frame.iloc[:60].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[60:].to_parquet(tmp_path / "test.parquet")
    raw = yaml.safe_load(tiny_spec.read_text())
    raw["source"] = {"train": "train.csv", "test": "test.parquet"}
    (tmp_path / "split.yaml").write_text(yaml.safe_dump(raw))
    _, table = load_dataset(tmp_path / "split.yaml")
    sizes = table.frame[SPLIT_COLUMN].value_counts().to_dict()
    assert sizes["test"] == 20 and sizes["train"] + sizes["val"] == 60 and sizes["val"] > 0

    frame["which"] = ["train"] * 50 + ["val"] * 10 + ["test"] * 20
    frame.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    raw["source"], raw["split"] = "rows.jsonl", {"column": "which"}
    (tmp_path / "col.yaml").write_text(yaml.safe_dump(raw))
    _, table = load_dataset(tmp_path / "col.yaml")
    assert table.frame[SPLIT_COLUMN].tolist() == frame["which"].tolist()


def test_featurizers_fit_on_train_only_and_state_is_json():
    train = pd.DataFrame({"t": ["red disc", "blue disc"], "n": [1.0, 3.0], "c": ["x", "y"]})
    other = pd.DataFrame({"t": ["green square", None], "n": [None, 5.0], "c": ["z", None]})
    text = create_featurizer("text", ["t"]).fit(train)
    assert "green" not in text.vocab_
    ids = text.transform(other)
    assert ids.tensors["ids"][0, :2].tolist() == [1, 1]  # unseen words -> <unk>
    assert ids.present.tolist() == [True, False]
    tab = create_featurizer("tabular", ["n", "c"]).fit(train)
    assert tab.mean_ == [2.0] and tab.categories_ == {"c": ["x", "y"]}
    feats = tab.transform(other)
    assert feats.tensors["num_missing"][:, 0].tolist() == [1.0, 0.0]
    assert feats.tensors["num"][1, 0].item() == pytest.approx((5 - 2) / 1)
    assert feats.tensors["cat"][:, 0].tolist() == [1, 0]  # unseen -> 1, missing -> 0
    for featurizer in (text, tab):
        state = json.loads(json.dumps(featurizer.state()))
        again = Featurizer.from_state(state)
        for key, value in featurizer.transform(other).tensors.items():
            assert np.array_equal(value.numpy(), again.transform(other).tensors[key].numpy())


def test_empty_cells_are_kept_as_missing(tmp_path, tiny_spec):
    frame = pd.read_csv(tmp_path / "data.csv")
    frame.loc[[0, 5], "note"] = None
    frame.loc[[1], "path"] = None
    frame.loc[[2], ["age", "sex", "lab_a", "lab_b"]] = None
    frame.to_csv(tmp_path / "data.csv", index=False)
    from modalyze.data.prepare import prepare

    spec, table = load_dataset(tiny_spec)
    assert len(table.frame) == 80, "rows with empty cells are kept"
    prepared = prepare(spec, table)
    missing = {m: sum(d.missing_counts()[m] for d in prepared.splits.values()) for m in spec.modalities}
    assert missing == {"image": 1, "note": 2, "patient": 1}


def test_builtin_datasets_declare_their_structure():
    spec, table = load_dataset("easy-vqa")
    sizes = table.frame[SPLIT_COLUMN].value_counts().to_dict()
    assert sizes["test"] == 9673 and sizes["train"] + sizes["val"] == 38575
    assert table.frame["answer"].nunique() == 13
    assert set(table.frame["question_type"]) == {"what-color", "what-shape", "yes/no-color", "yes/no-shape"}
    spec, table = load_dataset("digits")
    assert list(spec.modalities) == ["top", "bottom"] and len(table.columns["top"]) == 32
    for structure in ("redundant", "unique", "synergy", "mixed", "none"):
        spec, table = load_dataset(f"synthetic-{structure}", seed=3, rows=500, dims=4)
        assert len(table.frame) == 500 and table.columns["a"] == [f"a_{i}" for i in range(4)]
    _, a = load_dataset("synthetic-synergy", seed=1)
    _, b = load_dataset("synthetic-synergy", seed=1)
    pd.testing.assert_frame_equal(a.frame, b.frame)


@pytest.mark.parametrize("question,answer,expected", [
    ("what color is the circle?", "red", "what-color"),
    ("what is the blue shape?", "circle", "what-shape"),
    ("is there a red shape?", "no", "yes/no-color"),
    ("does the image not contain a triangle?", "yes", "yes/no-shape"),
])
def test_easy_vqa_question_types(question, answer, expected):
    assert question_type(question, answer) == expected


def test_load_spec_paths_are_relative_to_the_spec_file(tiny_spec):
    spec = load_spec(tiny_spec)
    assert spec.base_dir == str(tiny_spec.parent.resolve())


def test_timeseries_cells_columns_masks_and_errors():
    import torch

    from modalyze.errors import ModalyzeError

    frame = pd.DataFrame({"s": [[1.0, 2.0, 3.0], "4 5", "[6, null, 8, 9]", "", np.array([[1.0], [2.0]])]})
    f = create_featurizer("timeseries", ["s"]).fit(frame)
    feats = f.transform(frame)
    assert feats.tensors["values"].shape == (5, 4, 1) and f.spec_info == {"channels": 1}
    assert feats.tensors["steps"].tolist()[:3] == [[True, True, True, False], [True, True, False, False],
                                                  [True, False, True, True]]
    assert feats.present.tolist() == [True, True, True, False, True], "an empty cell is a missing row"
    assert float(feats.tensors["values"][2, 1, 0]) == 0.0, "an empty step is masked and reads as 0"
    state = json.loads(json.dumps(f.state()))
    again = Featurizer.from_state(state).transform(frame)
    assert torch.equal(again.tensors["values"], feats.tensors["values"])

    steps = pd.DataFrame({"t0": [1.0, 2.0], "t1": [3.0, None], "t2": [5.0, None]})
    g = create_featurizer("timeseries", ["t0", "t1", "t2"]).fit(steps)
    assert g.transform(steps).tensors["steps"].tolist() == [[True, True, True], [True, False, False]], \
        "one column per step; trailing empty cells make a row shorter"

    two = pd.DataFrame({"s": ["[[1, 2], [3, 4]]", "[[5, 6]]"]})
    assert create_featurizer("timeseries", ["s"]).fit(two).spec_info == {"channels": 2}
    with pytest.raises(ModalyzeError, match="row 1, column 's': 'a b' is not a numeric sequence"):
        f.transform(pd.DataFrame({"s": ["1 2", "a b"]}))
    with pytest.raises(ModalyzeError, match="row 0, column 's': a sequence with 2 channels"):
        f.transform(two)


def test_synthetic_timeseries_variant():
    spec, table = load_dataset("synthetic-synergy", form="timeseries", rows=200, steps=16)
    assert spec.name == "synthetic-synergy-timeseries"
    assert {m.kind for m in spec.modalities.values()} == {"timeseries"}
    assert len(table.frame["a"].iloc[0]) == 16


def test_audio_files_resampled_to_log_mel_and_bad_files_named(tmp_path):
    import soundfile

    from modalyze.errors import ModalyzeError

    t = np.arange(16000) / 16000
    soundfile.write(str(tmp_path / "a.flac"), 0.5 * np.sin(2 * np.pi * 440 * t), 16000)  # 1 s at 16 kHz
    soundfile.write(str(tmp_path / "b.wav"), 0.5 * np.sin(2 * np.pi * 880 * np.arange(4000) / 8000), 8000)  # 0.5 s, 8 kHz
    (tmp_path / "c.wav").write_text("not audio")
    frame = pd.DataFrame({"clip": ["a.flac", "b.wav", ""]})
    f = create_featurizer("audio", ["clip"], base_dir=tmp_path, sample_rate=8000, n_fft=256, hop=128).fit(frame)
    feats = f.transform(frame)
    assert feats.tensors["mel"].shape == (3, 40, 8000 // 128 + 1), "resampled to 8 kHz, padded to the longest clip"
    assert feats.tensors["frames"].sum(1).tolist() == [63, 32, 0] and feats.present.tolist() == [True, True, False]
    mel = feats.tensors["mel"]
    assert mel[0, :, :60].mean(1).argmax() < mel[1, :, :30].mean(1).argmax(), "440 Hz sits in a lower mel band than 880 Hz"
    with pytest.raises(ModalyzeError, match=r"c.wav: row 0, column 'clip': audio file is not a readable audio file"):
        f.transform(pd.DataFrame({"clip": ["c.wav"]}))
    with pytest.raises(ModalyzeError, match=r"none.wav: row 0, column 'clip': audio file does not exist"):
        f.transform(pd.DataFrame({"clip": ["none.wav"]}))
    lenient = Featurizer.from_state(f.state(), tmp_path, unreadable="missing")
    assert lenient.transform(pd.DataFrame({"clip": ["c.wav", "b.wav"]})).present.tolist() == [False, True]


def test_av_digits_writes_real_files(tmp_path, monkeypatch):
    import soundfile

    monkeypatch.setenv("MODALYZE_CACHE", str(tmp_path))
    spec, table = load_dataset("av-digits")
    row = table.frame.iloc[0]
    info = soundfile.info(row["audio"])
    assert info.samplerate == 8000 and info.frames == 3200 and info.format == "WAV"
    assert {m.kind for m in spec.modalities.values()} == {"image", "audio"} and len(table.frame) == 1797
    again = load_dataset("av-digits")[1].frame
    assert again["audio"].tolist() == table.frame["audio"].tolist(), "a seed gives the same files"
