"""Hostile and messy input: the contract, checked on generated inputs (hypothesis) and on the known cases.

Contract for every command: exit status 0, or 2 with one ``error:`` line naming the culprit and no
traceback (130/143 when interrupted); no file written outside the output folder; no input changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from modalyze import cli
from modalyze.errors import ModalyzeError
from modalyze.options import OPTION_TYPES, check_options
from modalyze.spec import check_name
from tests.conftest import write_images_dataset
from tests.test_bad_input import run_cli

PROPERTY = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TRAIN_FAST = ["--max-epochs", "1", "--dim", "8", "--no-progress"]


def files_under(root: Path) -> dict[str, str]:
    """Every file below ``root`` with its content hash."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_contract(code: int, err: str, root: Path, before: dict[str, str], out: Path) -> None:
    """Exit 0, or 2 with one error line; inputs unchanged and nothing new outside ``out``."""
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
    after = files_under(root)
    outside = {k: v for k, v in after.items() if not (root / k).is_relative_to(out)}
    assert outside == before, "a file outside the output folder was written or an input changed"


# --- 1. every option has a declared type, and a value outside it is a one-line error -----------------

_NOT_OPTIONS = {"data", "target", "modality", "write_spec", "run", "rows", "out", "option", "init", "groupings",
                "reference", "labels", "template", "column", "split_column", "profiles", "slices", "modality", "text", "query", "gallery", "match", "anchor", "lock", "model",
                "profile", "write_conditions", "prompt"}


def test_every_cli_option_has_a_declared_type():
    import typer

    command = typer.main.get_command(cli.app)
    for name, sub in command.commands.items():
        for param in sub.params:
            if param.name in _NOT_OPTIONS or param.name == "help":
                continue
            assert param.name in OPTION_TYPES, f"{name} --{param.name}"


_TRAIN_OPTIONS = ["lr", "seed", "max_epochs", "patience", "min_steps", "batch_size", "aux_weight", "modality_dropout",
                  "dim", "devices", "accelerator", "fusion", "unreadable"]
_VALUES = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), st.sampled_from(["0", "-1", "1e9", "nan", "inf", "bogus", "", "1,", "a\nb"]))


@PROPERTY
@given(name=st.sampled_from(_TRAIN_OPTIONS), value=_VALUES)
def test_option_values_outside_their_type_are_one_line_errors(name, value, capsys):
    try:
        check_options(**{name: value})
        assume(False)  # a valid value: the property is about the invalid ones
    except ModalyzeError:
        pass
    flag = "--" + name.replace("_", "-")
    with tempfile.TemporaryDirectory() as tmp:
        code, _, err = run_cli(["train", "synthetic-none", "--out", f"{tmp}/run", *TRAIN_FAST, f"{flag}={value}"],
                               capsys)  # last: it overrides TRAIN_FAST's value
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert f"option {flag}=" in err or f"'{flag}'" in err, err  # the flag as typed, never the parameter
        assert not Path(tmp, "run", "config.json").exists()


@pytest.mark.parametrize("args,message", [
    (["--lr", "-1"], "option --lr=-1.0"),
    (["--devices", "0"], "option --devices=0"),
    (["--accelerator", "bogus"], "option --accelerator='bogus'"),
    (["--seed", "-1"], "option --seed=-1"),
    (["-o", "rows=abc"], "option rows='abc'"),
    (["--lr", "abc"], "'--lr'"),
    (["-o", "bogus=1"], "unknown option 'bogus'"),
])
def test_issue_option_examples(args, message, capsys, tmp_path):
    code, _, err = run_cli(["train", "synthetic-none", *args, "--out", str(tmp_path / "r"), *TRAIN_FAST], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


# --- 2. specs: names, kinds, options ---------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_images_dataset(tmp_path_factory.mktemp("hostile-data"), rows=40)


def _spec_copy(spec: Path, tmp: Path, change) -> Path:
    for item in spec.parent.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, tmp / item.name)
    raw = yaml.safe_load(spec.read_text())
    change(raw)
    (tmp / "spec.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    return tmp / "spec.yaml"


_HOSTILE_NAMES = st.one_of(st.text(max_size=10), st.sampled_from(
    ["../x", "a/b", "a.b", "$x$", "training", "forward", "", ".", "..", "a b", "ok-name", "名前", "x" * 80]))


@PROPERTY
@given(name=_HOSTILE_NAMES, command=st.sampled_from(["train", "analyze"]))
def test_modality_names_never_leave_the_output_folder(name, command, dataset, capsys):
    try:
        check_name(name, "modality", "t")
        valid = True
    except ModalyzeError:
        valid = False
    assume(not valid or command == "train")  # a valid name in analyze trains a whole study: covered elsewhere
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = _spec_copy(dataset, root, lambda raw: raw["modalities"].update({name: raw["modalities"].pop("note")}))
        before = files_under(root)
        extra = TRAIN_FAST if command == "train" else ["--no-progress"]
        code, _, err = run_cli([command, str(spec), "--out", str(root / "out"), *extra], capsys)
        assert_contract(code, err, root, before, root / "out")
        assert code == (0 if valid else 2), err
        if not valid:
            assert "name" in err


@pytest.mark.parametrize("change,message", [
    (lambda r: r["modalities"]["image"].update(options={"imgsize": 32}), "unknown option 'imgsize' (did you mean 'size'?)"),
    (lambda r: r["modalities"]["image"].update(options={"size": 0}), "option size=0"),
    (lambda r: r["modalities"]["note"].update(encoder={"layers": 0}), "encoder option layers=0"),
    (lambda r: r["modalities"]["note"].update(kind="txt"), "unknown kind 'txt' (did you mean 'text'?)"),
    (lambda r: r["modalities"]["patient"]["columns"].append("label"), "reads the target column 'label'"),
    (lambda r: r["modalities"].update({"a.b": r["modalities"].pop("note")}), "modality name 'a.b' is not allowed"),
])
def test_spec_values_are_checked_before_any_work(change, message, dataset, tmp_path, capsys):
    spec = _spec_copy(dataset, tmp_path, change)
    code, _, err = run_cli(["train", str(spec), "--out", str(tmp_path / "out"), *TRAIN_FAST], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


# --- 3. tables with empty, mixed-type and non-finite cells in every role ----------------------------

ROLES = ("numeric", "text", "target", "split", "slice")
CORRUPTIONS = ("empty", "mixed", "inf", "nan-word")
_COLUMN = {"numeric": "n1", "text": "note", "target": "label", "split": "part", "slice": "grp"}


def clean_table(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n1 = rng.normal(size=rows)
    label = np.where(n1 > 0, "yes", "no")
    label[:2] = ["yes", "no"]
    return pd.DataFrame({"n1": n1.round(3), "n2": rng.normal(size=rows).round(3),
                         "cat": rng.choice(["a", "b", "c"], rows), "note": [f"row {i} {v}" for i, v in enumerate(label)],
                         "grp": rng.choice(["g1", "g2"], rows), "part": (["train"] * 5 + ["val", "test"]) * (rows // 7)
                         + ["train"] * (rows % 7), "label": label})


def corrupt(frame: pd.DataFrame, role: str, kind: str, rows: list[int]) -> pd.DataFrame:
    column = _COLUMN[role]
    value = {"empty": None, "inf": math.inf, "nan-word": "NaN",
             "mixed": "abc" if role == "numeric" else 12345}[kind]
    frame = frame.astype({column: object})
    for row in rows:
        frame.at[row, column] = value
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({k: (None if v is None else v) for k, v in row.items()}) + "\n"
                                for row in frame.to_dict(orient="records")))
    else:
        frame.to_parquet(path, index=False)
    return path


def table_spec(root: Path, source: str, split_column: bool) -> Path:
    spec = {"name": "hostile", "source": source, "target": "label", "slices": ["grp"],
            "modalities": {"num": {"kind": "tabular", "columns": ["n1", "n2", "cat"]},
                           "note": {"kind": "text", "column": "note"}},
            "split": {"column": "part"} if split_column else {"val": 0.2, "test": 0.3, "seed": 0}}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root / "spec.yaml"


TABLES = st.fixed_dictionaries({
    "role": st.sampled_from(ROLES), "kind": st.sampled_from(CORRUPTIONS),
    "rows": st.lists(st.integers(0, 39), min_size=1, max_size=3, unique=True),
    "format": st.sampled_from([".csv", ".jsonl", ".parquet"])})


def _run_on_table(case: dict, command: list[str], capsys) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame = corrupt(clean_table(), case["role"], case["kind"], case["rows"])
        try:
            write_table(frame, root / f"data{case['format']}")
        except Exception:  # parquet cannot store a column of mixed types: such a table is written as JSONL
            case = {**case, "format": ".jsonl"}
            write_table(frame, root / "data.jsonl")
        spec = table_spec(root, f"data{case['format']}", split_column=case["role"] == "split")
        before = files_under(root)
        code, _, err = run_cli([command[0], str(spec), "--out", str(root / "out"), *command[1:]], capsys)
        assert_contract(code, err, root, before, root / "out")
        if case["role"] == "numeric" and case["kind"] in ("inf", "mixed"):
            assert code == 2 and "'n1'" in err, err  # never learned from, never silently categorical
        if case["role"] == "target" and case["kind"] == "empty":
            assert code == 2 and "'label'" in err and "empty" in err, err
        if case["role"] == "split" and case["kind"] != "nan-word":
            assert code == 2 and "'part'" in err, err
        if case["role"] == "slice" or case["role"] == "text":
            assert code == 0, err  # empty or odd slice and text cells are data, not errors
        return code, err


@PROPERTY
@given(case=TABLES)
def test_train_on_hostile_tables(case, capsys):
    _run_on_table(case, ["train", "--model", "i2m2", *TRAIN_FAST], capsys)


@settings(PROPERTY, max_examples=4)
@given(case=TABLES)
def test_analyze_on_hostile_tables(case, capsys, tiny_budget):
    _run_on_table(case, ["analyze", "--budget", "tiny", "--dim", "8", "--no-progress", "--min-slice-rows", "1"], capsys)


@settings(PROPERTY, max_examples=4)
@given(case=TABLES)
def test_compare_on_hostile_tables(case, capsys, tiny_budget):
    _run_on_table(case, ["compare", "--fusions", "late", "--budget", "tiny", "--dim", "8", "--no-progress"], capsys)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile-run")
    write_table(clean_table(), root / "data.csv")
    code = subprocess.run([sys.executable, "-m", "modalyze.cli", "train", str(table_spec(root, "data.csv", False)),
                           "--out", str(root / "run"), "--model", "inter", *TRAIN_FAST], capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    return root / "run"


@PROPERTY
@given(case=TABLES.filter(lambda c: c["role"] in ("numeric", "text")))
def test_predict_on_hostile_rows(case, table_run, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame = corrupt(clean_table(), case["role"], case["kind"], case["rows"]).drop(columns=["label"])
        write_table(frame, root / "rows.jsonl")
        before = files_under(root)
        code, _, err = run_cli(["predict", str(table_run), str(root / "rows.jsonl"), "--out", str(root / "out" / "p.csv")],
                               capsys)
        assert_contract(code, err, root, before, root / "out")
        if code == 0:
            assert len(pd.read_csv(root / "out" / "p.csv")) == len(frame)


def test_labels_keep_their_written_values(tmp_path, capsys):
    frame = clean_table()
    frame["label"] = (["01", "1", "010", "10"] * 10)[: len(frame)]
    write_table(frame, tmp_path / "data.csv")
    code, _, err = run_cli(["train", str(table_spec(tmp_path, "data.csv", False)), "--out", str(tmp_path / "run"),
                            "--model", "inter", *TRAIN_FAST], capsys)
    assert code == 0, err
    assert sorted(json.loads((tmp_path / "run" / "config.json").read_text())["classes"]) == ["01", "010", "1", "10"]


def test_duplicate_headers_are_an_error(tmp_path, capsys):
    (tmp_path / "data.csv").write_text("n1,n2,n2,cat,note,grp,label\n" + "1,2,3,a,x,g,yes\n2,3,4,b,y,g,no\n" * 20)
    code, _, err = run_cli(["train", str(table_spec(tmp_path, "data.csv", False)), "--out", str(tmp_path / "o"),
                            *TRAIN_FAST], capsys)
    assert code == 2 and "column 'n2' appears more than once" in err, err


def test_empty_slice_cells_form_their_own_slice(tmp_path, tiny_budget):
    from modalyze.analysis import analyze

    frame = clean_table(70)
    frame.loc[frame.index % 3 == 0, "grp"] = None
    write_table(frame, tmp_path / "data.jsonl")
    profile = analyze(str(table_spec(tmp_path, "data.jsonl", False)), budget="tiny", min_slice_rows=1, dim=8, progress=False,
                      log=lambda line: None)
    assert "(empty)" in profile.slices["grp"] and {"g1", "g2"} <= set(profile.slices["grp"])


# --- 4. run directories and user files --------------------------------------------------------------

RUN_MUTATIONS = st.one_of(
    st.tuples(st.just("config"), st.sampled_from(["", "model", "train"]), st.text(min_size=1, max_size=6),
              st.one_of(st.integers(), st.text(max_size=5), st.none())),
    st.tuples(st.just("drop"), st.sampled_from(["model", "train", "spec", "classes"]), st.just(""), st.none()),
    st.tuples(st.just("weights"), st.sampled_from(["shape", "bytes"]), st.just(""), st.none()),
    st.tuples(st.just("featurizers"), st.sampled_from(["junk", "list", "attr"]), st.just(""), st.none()),
)


def mutate_run(run: Path, mutation: tuple) -> None:
    what, where, key, value = mutation
    config = json.loads((run / "config.json").read_text())
    if what == "config":
        (config[where] if where else config)[key] = value
        (run / "config.json").write_text(json.dumps(config))
    elif what == "drop":
        del config[where]
        (run / "config.json").write_text(json.dumps(config))
    elif what == "weights" and where == "bytes":
        (run / "weights.safetensors").write_bytes(b"\x00\x01 not safetensors")
    elif what == "weights":
        from safetensors.torch import load_file, save_file

        state = load_file(str(run / "weights.safetensors"))
        name = next(iter(state))
        state[name] = np.zeros(tuple(s + 1 for s in state[name].shape), dtype=np.float32)
        import torch

        save_file({k: torch.as_tensor(v) for k, v in state.items()}, str(run / "weights.safetensors"))
    else:
        states = json.loads((run / "featurizers.json").read_text())
        if where == "junk":
            states = "junk"
        elif where == "list":
            states = [states]
        else:
            next(iter(states.values()))["fitted"]["transform"] = 1
        (run / "featurizers.json").write_text(json.dumps(states))


@PROPERTY
@given(mutation=RUN_MUTATIONS)
def test_damaged_run_directories_are_one_line_errors(mutation, table_run, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(table_run, run)
        mutate_run(run, mutation)
        code, _, err = run_cli(["evaluate", str(run)], capsys)
        assert code in (0, 2) and "Traceback" not in err, err
        if code == 2:
            assert err.count("\n") == 1 and str(run) in err, err
        if mutation[0] in ("weights", "featurizers", "drop"):
            assert code == 2, err


def test_huge_png_is_an_unreadable_image_not_a_crash(dataset, tmp_path, capsys):
    spec = _spec_copy(dataset, tmp_path, lambda raw: None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a 16x16 image is then a decompression bomb
        code, _, err = run_cli(["train", str(spec), "--out", str(tmp_path / "o"), *TRAIN_FAST], capsys)
    assert code == 2 and "more pixels than Pillow decodes safely" in err and err.count("\n") == 1, err


# --- 5. output destinations -------------------------------------------------------------------------

def test_train_refuses_a_folder_of_the_users_own_files(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    code, _, err = run_cli(["train", "synthetic-none", "-o", "rows=200", "--out", str(mine), *TRAIN_FAST], capsys)
    assert code == 2 and "was not written by 'modalyze train'" in err, err
    assert (mine / "config.json").read_text() == '{"my": "settings"}'


def test_outputs_are_claimed_once_per_command_and_locked(tmp_path, capsys):
    from filelock import FileLock

    run = tmp_path / "run"
    assert run_cli(["train", "synthetic-none", "-o", "rows=200", "--out", str(run), *TRAIN_FAST], capsys)[0] == 0
    assert run_cli(["train", "synthetic-none", "-o", "rows=200", "--out", str(run), *TRAIN_FAST], capsys)[0] == 0
    code, _, err = run_cli(["compare", "synthetic-none", "--out", str(run)], capsys)
    assert code == 2 and "holds the output of 'modalyze train'" in err, err
    with FileLock(str(run / ".modalyze.lock")):
        code, _, err = run_cli(["train", "synthetic-none", "-o", "rows=200", "--out", str(run), *TRAIN_FAST], capsys)
    assert code == 2 and "another modalyze process" in err, err
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(["train", "synthetic-none", "--out", str(tmp_path / "afile"), *TRAIN_FAST], capsys)
    assert code == 2 and "is a file" in err


def test_predict_refuses_a_folder_or_the_input_as_output(table_run, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    clean_table().drop(columns=["label"]).to_csv(rows, index=False)
    code, _, err = run_cli(["predict", str(table_run), str(rows), "--out", str(tmp_path)], capsys)
    assert code == 2 and "is a folder" in err, err
    code, _, err = run_cli(["predict", str(table_run), str(rows), "--out", str(rows)], capsys)
    assert code == 2 and "is also the input" in err, err
    clean_table().drop(columns=["label"]).assign(prediction=1).to_csv(rows, index=False)
    code, _, err = run_cli(["predict", str(table_run), str(rows), "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 2 and "'prediction'" in err, err


# --- 6. interruption --------------------------------------------------------------------------------

@pytest.mark.parametrize("command,signum", [
    (["train", "synthetic-none", "--max-epochs", "100000", "--min-steps", "10000000"], signal.SIGTERM),
    (["train", "synthetic-none", "--max-epochs", "100000", "--min-steps", "10000000"], signal.SIGINT),
    (["analyze", "synthetic-none"], signal.SIGTERM),
])
def test_signals_end_the_command_promptly_with_the_resume_message(command, signum, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "modalyze.cli", *command, "--no-progress", "--out",
                             str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / ".modalyze.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # training has started
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signum)
    start = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 20
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "rerun the same command to resume" in err and "Traceback" not in err, err


def test_import_and_help_load_no_heavy_library():
    code = ("import sys, modalyze; from modalyze import cli; "
            "print(sorted(m for m in ('torch', 'lightning', 'clarabel', 'sklearn', 'pandas') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", loaded
    version = subprocess.run([sys.executable, "-m", "modalyze.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("modalyze "), version
