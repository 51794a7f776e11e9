"""Every command as a user types it: an option outside its range names the flag as typed, and every
documented combination of a command and a budget runs."""

from __future__ import annotations

import json

import pytest
import typer
from pydantic import TypeAdapter

from modalyze import cli
from modalyze.options import OPTION_TYPES
from modalyze.settings import BUDGETS
from tests.test_bad_input import run_cli

# what each command needs before its options: a built-in dataset, or a run directory (checked after the options)
POSITIONAL = {"train": ["synthetic-none"], "analyze": ["synthetic-none"], "compare": ["synthetic-none"],
              "align": ["synthetic-redundant"], "probe": ["synthetic-none"], "evaluate": ["no-such-run"],
              "predict": ["no-such-run", "rows.csv"], "robustness": ["no-such-run"], "zeroshot": ["no-such-run", "--column", "c"],
              "retrieve": ["no-such-run", "--query", "a", "--gallery", "b"], "embed": ["no-such-run", "rows.csv"]}


def _outside(name: str) -> str | None:
    """A value just outside the declared range of option ``name`` (None when it has no numeric range)."""
    schema = TypeAdapter(OPTION_TYPES[name]).json_schema()
    schema = schema.get("items", schema)
    for option in schema.get("anyOf", [schema]):
        if "minimum" in option:
            return str(option["minimum"] - 1)
        if "exclusiveMinimum" in option:
            return str(option["exclusiveMinimum"])
        if "maximum" in option:
            return str(option["maximum"] + 1)
    return None


def _ranged() -> list[tuple[str, str, str, str]]:
    group = typer.main.get_command(cli.app)
    out = []
    for command, sub in group.commands.items():
        for param in sub.params:
            if param.name in OPTION_TYPES and param.opts and (value := _outside(param.name)) is not None:
                out.append((command, param.name, max(param.opts, key=len), value))
    return out


RANGED = _ranged()


def test_the_sweep_of_ranged_options_is_not_empty():
    commands = {c for c, *_ in RANGED}
    assert {"train", "analyze", "compare", "robustness", "probe", "align"} <= commands and len(RANGED) > 30


@pytest.mark.parametrize("command,name,flag,value", RANGED, ids=[f"{c}{f}" for c, _, f, _ in RANGED])
def test_an_option_outside_its_range_names_the_flag_as_typed(command, name, flag, value, capsys, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli([command, *POSITIONAL.get(command, []), flag, value, "--out", str(tmp_path / "out")]
                           if command not in ("evaluate", "zeroshot", "retrieve")
                           else [command, *POSITIONAL[command], flag, value], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"option {flag}" in err, err
    assert f"option {name}" not in err or flag == f"--{name}", err


def test_noise_levels_names_the_flag(capsys, tmp_path):
    code, _, err = run_cli(["robustness", str(tmp_path / "run"), "--noise-levels", "2"], capsys)
    assert code == 2 and "option --noise-levels" in err and "levels=" not in err.replace("--noise-levels=", ""), err


@pytest.mark.parametrize("command", ["analyze", "compare"])
@pytest.mark.parametrize("budget", list(BUDGETS))
def test_every_command_runs_with_every_budget(command, budget, capsys, tmp_path, monkeypatch):
    """The budget's own recipe never trips an option check (compare --budget quick once failed on
    max_epochs=0). The recipe is shrunk to one epoch: this is about the combination, not the scores."""
    import dataclasses

    monkeypatch.setitem(BUDGETS, budget, dataclasses.replace(BUDGETS[budget], max_epochs=1, min_steps=0, seeds=1,
                                                             cv_repeats=1, bootstrap=50, permutations=1))
    extra = ["--fusions", "late"] if command == "compare" else []
    code, _, err = run_cli([command, "synthetic-none", "-o", "rows=1200", "--budget", budget, "--dim", "8",
                            "--no-progress", "--out", str(tmp_path / "out"), *extra], capsys)
    assert code == 0, err
    written = "profile.json" if command == "analyze" else "compare.json"
    assert json.loads((tmp_path / "out" / written).read_text())


def test_column_typos_in_target_and_modality_get_did_you_mean(capsys, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("price,colour,recommended\n1.5,red,yes\n2.5,blue,no\n" * 10)
    code, _, err = run_cli(["analyze", str(table), "--target", "recomended", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "did you mean 'recommended'?" in err and "option --target" in err, err
    code, _, err = run_cli(["analyze", str(table), "--target", "recommended", "--modality", "p=pric:tabular",
                            "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "did you mean 'price'?" in err and "option --modality" in err, err
