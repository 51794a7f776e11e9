"""Run folders are untrusted and their data can change: every value of ``config.json`` is checked by
its type, and commands that read a run's data check the source's columns against the run's spec."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest

from modalyze import Classifier
from modalyze.errors import ModalyzeError
from tests.conftest import FAST, write_images_dataset
from tests.test_bad_input import run_cli

WRONG = {"list": [1, 2], "text": "x", "number": 3.5, "object": {"a": 1}, "null": None, "bool": True}


def leaves(tree: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, path + (k,))
    elif isinstance(tree, list) and tree:
        for i, v in enumerate(tree):
            yield from leaves(v, path + (i,))
    else:
        yield path, tree


def json_type(value: Any) -> str:
    return {bool: "bool", str: "text", int: "number", float: "number", list: "list", dict: "object"}.get(
        type(value), "null")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    clf = Classifier(model="i2m2", **FAST).fit(write_images_dataset(root / "data", rows=40))
    return clf.save(root / "run")


def _with_config(run: Path, where: Path, change) -> Path:
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(run, where)
    config = json.loads((run / "config.json").read_text())
    change(config)
    (where / "config.json").write_text(json.dumps(config))
    return where


def test_every_config_value_of_the_wrong_type_is_one_line_naming_the_key(trained_run, tmp_path):
    """Each leaf of config.json replaced by a value of every other JSON type: loading either accepts
    it (a value that is still valid: null for an optional field, 1 for 1.0) or fails with a one-line
    ModalyzeError naming config.json — never another exception from deep inside."""
    config = json.loads((trained_run / "config.json").read_text())
    rejected = 0
    for path, value in leaves(config):
        if path[0] == "versions":  # informational: any text is fine, and other types are still refused below
            continue
        for kind, wrong in WRONG.items():
            if kind == json_type(value):
                continue

            def change(c, path=path, wrong=wrong):
                node = c
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = copy.deepcopy(wrong)
            run = _with_config(trained_run, tmp_path / "run", change)
            try:
                Classifier.load(run)
            except ModalyzeError as exc:
                message = str(exc)
                assert "config.json" in message and "\n" not in message, (path, wrong, message)
                rejected += 1
                if json_type(value) == "text" and kind in ("list", "object"):
                    assert "'" + ".".join(map(str, path)) in message or "config.json" in message
            else:  # accepted only where the replacement can be a valid value: an optional field's null or
                # value, a number for a number, or a free-form mapping's entry (featurizer options, versions)
                numeric = {kind, json_type(value)} <= {"number", "bool"}
                assert kind == "null" or value is None or numeric, (path, value, wrong)
    assert rejected > 50


@pytest.mark.parametrize("path,wrong", [(("schema",), [1, 2]), (("spec", "name"), [1, 2]), (("classes",), "ab"),
                                        (("train", "lr"), "fast"), (("model", "dim"), 3.5),
                                        (("model", "modalities", "patient", "info", "n_numeric"), 3.5),
                                        (("spec", "split", "seed"), -1), (("unreadable",), "ignore")])
def test_named_wrong_values_are_refused(trained_run, tmp_path, path, wrong):
    def change(c):
        node = c
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = wrong
    run = _with_config(trained_run, tmp_path / "run", change)
    with pytest.raises(ModalyzeError, match="config.json"):
        Classifier.load(run)


def test_a_run_whose_source_lost_a_column_is_one_line_naming_run_file_and_column(tmp_path, capsys):
    spec = write_images_dataset(tmp_path / "data", rows=40)
    code, _, err = run_cli(["train", str(spec), "--model", "inter", "--max-epochs", "1", "--dim", "8",
                            "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    table = tmp_path / "data" / "data.csv"
    pd.read_csv(table).drop(columns=["lab_a"]).to_csv(table, index=False)
    rows = tmp_path / "new.csv"
    pd.read_csv(table).to_csv(rows, index=False)
    for args in (["evaluate", str(tmp_path / "run")],
                 ["robustness", str(tmp_path / "run"), "--out", str(tmp_path / "rob")],
                 ["predict", str(tmp_path / "run"), str(rows), "--out", str(tmp_path / "p.csv")],
                 ["probe", str(spec), "--model", f"run:{tmp_path / 'run'}", "--out", str(tmp_path / "probe")]):
        code, _, err = run_cli(args, capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert "lab_a" in err, (args, err)
        if args[0] != "probe":
            assert "data.csv" in err or "new.csv" in err, (args, err)
