"""Every bad-input case gives a one-line error naming the culprit and a non-zero exit, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from modalyze import cli


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    old = sys.argv
    sys.argv = ["modalyze", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _edit(spec_path: Path, change) -> Path:
    raw = yaml.safe_load(spec_path.read_text())
    change(raw)
    out = spec_path.with_name("edited.yaml")
    out.write_text(yaml.safe_dump(raw))
    return out


def _edit_rows(spec_path: Path, change) -> Path:
    frame = pd.read_csv(spec_path.parent / "data.csv")
    frame = change(frame)
    frame.to_csv(spec_path.parent / "data.csv", index=False)
    return spec_path


CASES = {
    "missing spec key": (lambda p: _edit(p, lambda r: r.pop("target")), "missing required key 'target'"),
    "unknown kind": (lambda p: _edit(p, lambda r: r["modalities"]["note"].update(kind="smell")),
                     "unknown kind 'smell'"),
    "missing column": (lambda p: _edit(p, lambda r: r["modalities"]["note"].update(column="nope")),
                       "column 'nope', which does not exist"),
    "missing glob column": (lambda p: _edit(p, lambda r: r["modalities"]["patient"].update(columns=["zz_*"])),
                            "column 'zz_*', which does not exist"),
    "no modality": (lambda p: _edit(p, lambda r: r.update(modalities={})), "names no modality"),
    "one-class target": (lambda p: _edit_rows(p, lambda f: f.assign(label="red")), "has only one class"),
    "a label per row": (lambda p: _edit_rows(p, lambda f: f.assign(label=[i / 4 for i in range(len(f))])),
                        "target column 'label' has"),
    "missing image": (lambda p: _edit_rows(p, lambda f: f.assign(path=f["path"].where(f.index != 7, "img/none.png"))),
                      "none.png: row 7, column 'path': image file does not exist"),
    "not an image": (lambda p: (p.parent.joinpath("img/3.png").write_text("not a png"), p)[1],
                     "3.png: row 3, column 'path': image file is not a readable image"),
    "bad modality dropout": (lambda p: _edit(p, lambda r: r["modalities"]["note"].update(dropout=1.5)),
                             "modality 'note': 'dropout' must be a rate in [0, 1), not 1.5"),
    "spec file missing": (lambda p: p.with_name("absent.yaml"), "absent.yaml: spec file does not exist"),
    "source missing": (lambda p: _edit(p, lambda r: r.update(source="gone.csv")), "gone.csv: source file does not exist"),
    "malformed yaml": (lambda p: (p.write_text("name: x\nmodalities: [a, \n"), p)[1], "malformed YAML (line"),
    "semicolon-separated csv": (lambda p: (p.parent.joinpath("data.csv").write_text("path;note;label\na.png;hi;1\n"), p)[1],
                                "data.csv: the header is one column, 'path;note;label': the file looks separated by ';'"),
    "source without rows": (lambda p: (p.parent.joinpath("data.csv").write_text("path,note,label\n"), p)[1],
                            "source has no rows"),
    "non-numeric tabular cell": (lambda p: _edit_rows(p, lambda f: f.assign(age=f["age"].astype(object).where(f.index != 4, "old"))),
                                 "row 4, column 'age': 'old' is not a number"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_spec_or_rows(case, tiny_spec, capsys):
    make, message = CASES[case]
    path = make(tiny_spec)
    code, _, err = run_cli(["train", str(path), "--model", "inter", "--max-epochs", "1", "--no-progress",
                            "--out", str(tiny_spec.parent / "run")], capsys)
    assert code == 2
    assert message in err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["analyze", "train", "compare"])
def test_a_measured_target_is_one_line_before_any_training(command, tmp_path, capsys):
    """A target with a distinct value in most rows (a measurement, not classes) is refused in one line,
    by the study, training and the fusion comparison alike, instead of fitting hundreds of one-row classes."""
    import numpy as np

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)).round(3), columns=["a1", "a2", "b1", "b2"])
    frame["price"] = (frame["a1"] * 100 + rng.normal(size=300)).round(2)
    frame.to_csv(tmp_path / "prices.csv", index=False)
    code, _, err = run_cli([command, str(tmp_path / "prices.csv"), "--target", "price", "--modality", "a=a1,a2:tabular",
                            "--modality", "b=b1,b2:tabular", "--out", str(tmp_path / "out")], capsys)
    distinct = frame["price"].nunique()
    assert code == 2 and err.count("\n") == 1, err
    assert f"target column 'price' has {distinct} distinct values in 300 rows" in err and "binning" in err, err
    assert not (tmp_path / "out" / "experts").exists()


@pytest.mark.parametrize("args,message", [
    (["train", "no-such-dataset"], "unknown dataset 'no-such-dataset'"),
    (["train", "synthetic-none", "--model", "late"], "unknown model 'late'"),
    (["train", "synthetic-none", "--model", "intra:c"], "modality 'c' is not in the spec"),
    (["train", "synthetic-none", "-o", "dims=1"], "option dims=1"),
    (["train", "synthetic-none", "--unreadable", "sometimes"], "unreadable='sometimes'"),
    (["train", "synthetic-none", "--modality-dropout", "1"], "option --modality-dropout=1.0: input should be less than 1 (allowed: a number in [0, 1))"),
    (["robustness", "does/not/exist"], "run directory does not exist"),
    (["evaluate", "."], "not a modalyze run directory"),
    (["evaluate", "does/not/exist"], "run directory does not exist"),
])
def test_bad_names_and_options(args, message, capsys):
    code, _, err = run_cli(args, capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_unreadable_images_can_be_treated_as_missing(tiny_spec, capsys):
    (tiny_spec.parent / "img" / "3.png").write_text("broken")
    (tiny_spec.parent / "img" / "5.png").unlink()
    code, out, err = run_cli(["train", str(tiny_spec), "--model", "i2m2", "--max-epochs", "1", "--dim", "8",
                              "--no-progress", "--unreadable", "missing", "--out", str(tiny_spec.parent / "run")], capsys)
    assert code == 0, err
    assert "have no 'image' (kept, treated as missing)" in out
