"""Your table in, a profile out: spec inference, several text columns, the typed spec schema, the
opening summary and progress lines."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from modalyze.data.infer import column_kind
from modalyze.errors import ModalyzeError
from tests.test_bad_input import run_cli

ROOT = Path(__file__).resolve().parent.parent


def write_reviews(root: Path, rows: int = 120) -> Path:
    """The README walk-through's table (docs/make_reviews.py: two text columns, two categorical, two
    numeric, an image path, an id and the label), as parquet."""
    spec = importlib.util.spec_from_file_location("make_reviews", ROOT / "docs" / "make_reviews.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = pd.read_csv(module.main(root, rows))
    frame.to_parquet(root / "reviews.parquet", index=False)
    return root / "reviews.parquet"


def test_column_kinds_follow_the_documented_rules(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    assert column_kind(pd.Series(["a.png", "a.png", "b.png"]), tmp_path) == "image"
    assert column_kind(pd.Series(["x.wav", "y.wav"]), tmp_path) == "tabular"  # no file exists: not a path column
    assert column_kind(pd.Series([[1.0, 2.0], [3.0, 4.0]]), tmp_path) == "timeseries"
    assert column_kind(pd.Series(["1.5", "2", None]), tmp_path) == "tabular"
    assert column_kind(pd.Series(["a long free text here", "another one there too"]), tmp_path) == "text"
    assert column_kind(pd.Series(["red", "blue", "red"] * 10), tmp_path) == "tabular"
    assert column_kind(pd.Series(range(30)), tmp_path).startswith("- ")  # a row identifier
    assert column_kind(pd.Series(["same"] * 5), tmp_path).startswith("- ")


def test_analyze_a_table_infers_prints_writes_and_reproduces_the_spec(tmp_path, capsys, tiny_budget):
    """(The README walk-through runs the same table with the default budget.)"""
    table = write_reviews(tmp_path)
    code, out, err = run_cli(["analyze", str(table), "--target", "recommended", "--write-spec",
                              str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "a"), "--dim", "8",
                              "--budget", "tiny", "--no-progress"], capsys)
    assert code == 0, err
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    assert {m: s["kind"] for m, s in spec["modalities"].items()} == {"tabular": "tabular", "text": "text",
                                                                     "photo": "image"}
    assert spec["modalities"]["text"]["columns"] == ["title", "body"]
    assert set(spec["modalities"]["tabular"]["columns"]) == {"color", "size", "price", "weight"}
    assert "inferred spec" in out and "# left out: id" in out
    assert "rows (train" in out and "the study trains 4 experts per seed" in out  # the opening summary
    code, _, err = run_cli(["analyze", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "b"), "--dim", "8",
                            "--budget", "tiny", "--no-progress"], capsys)
    assert code == 0, err
    first, second = (json.loads((tmp_path / d / "profile.json").read_text()) for d in ("a", "b"))
    for key in ("intra", "inter", "i2m2", "additive", "verdict", "pid"):
        assert first[key] == second[key], key


def test_modality_override_and_dataframe_api(tmp_path):
    from modalyze import Classifier
    from modalyze.data import load_dataset

    frame = pd.read_parquet(write_reviews(tmp_path, rows=60)).drop(columns=["photo"])
    spec, _ = load_dataset(frame, target="recommended", modalities=["words=title:text"])
    assert spec.modalities["words"].columns == ["title"] and spec.modalities["text"].columns == ["body"]
    clf = Classifier(model="inter", max_epochs=1, dim=8, progress=False).fit(frame, target="recommended")
    assert set(clf.predict(frame.head(5))) <= {"yes", "no"}
    with pytest.raises(ModalyzeError, match="needs the column to predict"):
        load_dataset(frame)
    with pytest.raises(ModalyzeError, match="expected NAME=COL1,COL2:KIND"):
        load_dataset(frame, target="recommended", modalities=["words"])
    with pytest.raises(ModalyzeError, match="'__split__' is reserved"):
        load_dataset(frame.assign(__split__="test"), target="recommended")


def test_a_table_without_target_says_how_to_name_it(tmp_path, capsys):
    table = write_reviews(tmp_path, rows=30)
    code, _, err = run_cli(["train", str(table)], capsys)
    assert code == 2 and "--target COLUMN" in err and err.count("\n") == 1, err
    code, _, err = run_cli(["train", str(table), "--target", "recomended"], capsys)
    assert code == 2 and "column 'recomended' does not exist" in err, err


@pytest.mark.parametrize("change,message", [
    (lambda r: r.update(tagret="label"), "unknown key 'tagret' (did you mean 'target'?)"),
    (lambda r: r.update(split={"vall": 0.1}), "unknown key 'split.vall' (did you mean 'val'?)"),
    (lambda r: r["modalities"]["note"].update(encoder={"layer": 2}), "(did you mean 'layers'?)"),
    (lambda r: r.update(name=["x"]), "'name': input should be a valid string"),
])
def test_spec_schema_errors_name_the_file_and_key(change, message, tiny_spec, capsys):
    raw = yaml.safe_load(tiny_spec.read_text())
    change(raw)
    tiny_spec.write_text(yaml.safe_dump(raw))
    code, _, err = run_cli(["train", str(tiny_spec), "--out", str(tiny_spec.parent / "o")], capsys)
    assert code == 2 and message in err and str(tiny_spec) in err and err.count("\n") == 1, err


def test_spec_schema_validates_the_readme_examples(capsys):
    import jsonschema

    code, out, _ = run_cli(["spec-schema"], capsys)
    assert code == 0
    schema = json.loads(out)
    examples = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(),
                                                               re.S)]
    specs = [e for e in examples if isinstance(e, dict) and "target" in e]
    assert len(specs) >= 2
    for spec in specs:
        jsonschema.validate(spec, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**specs[0], "tagret": "x"}, schema)


def test_train_to_a_log_file_prints_progress_lines(tmp_path):
    log = tmp_path / "log.txt"
    env = {**os.environ, "MODALYZE_LOG_EVERY": "1"}
    with log.open("w") as handle:
        subprocess.run([sys.executable, "-m", "modalyze.cli", "train", "synthetic-none", "--model", "inter",
                        "-o", "rows=20000", "--max-epochs", "6", "--out", str(tmp_path / "run")], stdout=handle, stderr=subprocess.STDOUT,
                       env=env, check=True, timeout=300)
    text = log.read_text()
    assert "synthetic-none: 20000 rows (train" in text and "training inter: at most 6 epochs" in text
    lines = [line for line in text.splitlines() if line.startswith("[inter] epoch")]
    assert len(lines) >= 2, text
    elapsed = [_seconds(re.search(r"· ([\d a-z]+) elapsed", line).group(1)) for line in lines]
    assert all(b - a <= 30 for a, b in zip([0, *elapsed], elapsed)), elapsed  # a line at least every 30 s
    assert "\r" not in text, "no progress-bar redraws in a log file"


def _seconds(text: str) -> int:
    minutes = re.search(r"(\d+) min", text)
    seconds = re.search(r"(\d+) s", text)
    return (int(minutes.group(1)) * 60 if minutes else 0) + (int(seconds.group(1)) if seconds else 0)


def _parts_table(path: Path, rows: int = 200) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    frame = pd.DataFrame(x.round(3), columns=["a", "b", "c"])
    frame["note"] = [f"word{i % 7} and word{i % 5} again" for i in range(rows)]
    frame["y"] = np.where(x[:, 0] > 0, "up", "down")
    frame["part"] = ["train"] * (rows - 60) + ["val"] * 30 + ["test"] * 30
    frame["group"] = ["g1", "g2"] * (rows // 2)
    frame.to_csv(path, index=False)
    return path


def test_split_and_slice_options_on_the_command_line_reach_the_spec(tmp_path, capsys):
    table = _parts_table(tmp_path / "t.csv")
    quick = ["--max-epochs", "1", "--min-steps", "1", "--no-progress"]
    code, out, err = run_cli(["train", str(table), "--target", "y", "--split-column", "part", "--slices", "group",
                              "--write-spec", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "run"), *quick], capsys)
    assert code == 0, err
    spec = yaml.safe_load((tmp_path / "s.yaml").read_text())
    assert spec["split"] == {"column": "part"} and spec["slices"] == ["group"]
    assert all("part" not in m.get("columns", [m.get("column")]) for m in spec["modalities"].values())
    assert "train 140, val 30, test 30" in out  # the rows the column names, not a random split
    code, out, err = run_cli(["train", str(table), "--target", "y", "--val", "0.3", "--test", "0.25", "--split-seed", "5",
                              "--write-spec", str(tmp_path / "f.yaml"), "--out", str(tmp_path / "run2"), *quick], capsys)
    assert code == 0, err
    assert yaml.safe_load((tmp_path / "f.yaml").read_text())["split"] == {"val": 0.3, "test": 0.25, "seed": 5}


@pytest.mark.parametrize("options,message", [
    (["--split-column", "part", "--val", "0.2"], "exclude each other"),
    (["--slices", "grp"], "option --slices: column 'grp' does not exist (did you mean 'group'?)"),
    (["--split-column", "parts"], "column 'parts' does not exist (did you mean 'part'?)"),
    (["--test", "0.9"], "must sum below 1")])
def test_bad_split_and_slice_options_are_one_line_errors(options, message, tmp_path, capsys):
    code, out, err = run_cli(["train", str(_parts_table(tmp_path / "t.csv")), "--target", "y", *options,
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_slices_and_split_column_options_match_the_same_spec_written_by_hand(tmp_path, capsys):
    table = _parts_table(tmp_path / "t.csv")
    (tmp_path / "hand.yaml").write_text(yaml.safe_dump({
        "name": "t", "source": "t.csv", "target": "y",
        "modalities": {"tabular": {"kind": "tabular", "columns": ["a", "b", "c", "group"]},  # a slice may be a feature
                       "text": {"kind": "text", "column": "note"}},
        "slices": ["group"], "split": {"column": "part"}}))
    profiles = {}
    for name, args in (("options", [str(table), "--target", "y", "--slices", "group", "--split-column", "part"]),
                       ("hand", [str(tmp_path / "hand.yaml")])):
        code, _, err = run_cli(["analyze", *args, "--budget", "quick", "--no-progress", "--out", str(tmp_path / name)],
                               capsys)
        assert code == 0, err
        profiles[name] = json.loads((tmp_path / name / "profile.json").read_text())
    options, hand = profiles["options"], profiles["hand"]
    assert options["verdict"] == hand["verdict"] and set(options["slices"]) == set(hand["slices"])
    for key in ("inter", "i2m2"):
        assert options[key]["score"] == pytest.approx(hand[key]["score"], abs=1e-9), key
    for m in ("tabular", "text"):
        assert options["intra"][m]["score"] == pytest.approx(hand["intra"][m]["score"], abs=1e-9), m
