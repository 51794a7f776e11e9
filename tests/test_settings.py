"""One source for every setting: CLI options and library parameters take their defaults from
modalyze.settings, and these tests fail when any of them drifts."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import pytest
import typer

from modalyze import Aligner, Classifier
from modalyze.analysis.compare import compare
from modalyze.analysis.probe import probe
from modalyze.analysis.study import analyze
from modalyze.cli import app
from modalyze.cli_common import _devices
from modalyze.settings import ALIGN, TRAIN, AlignSettings, TrainSettings
from modalyze.jobs.classify import robustness_to_dir

# command -> the library callable whose parameters its options set
LIBRARY: dict[str, Callable[..., Any]] = {
    "train": Classifier, "align": Aligner, "analyze": analyze, "compare": compare, "robustness": robustness_to_dir,
    "probe": probe,
}


def _cli_defaults(command: str) -> dict[str, Any]:
    group = typer.main.get_command(app)
    params = group.commands[command].params
    return {p.name: p.default for p in params if not p.required and p.name not in ("help",)}


def _normalise(name: str, value: Any) -> Any:
    if name in ("devices", "jobs") and isinstance(value, str):
        return _devices(value)
    if name == "levels" and isinstance(value, str):
        return tuple(float(v) for v in value.split(","))
    return str(value) if isinstance(value, Path) else value


@pytest.mark.parametrize("command", sorted(LIBRARY))
def test_every_cli_default_equals_the_library_default(command):
    signature = inspect.signature(LIBRARY[command]).parameters
    shared = {n: d for n, d in _cli_defaults(command).items() if n in signature and
              signature[n].default is not inspect.Parameter.empty}
    assert shared, f"{command}: no option shares a name with the library's parameters"
    drift = {n: (_normalise(n, d), signature[n].default) for n, d in shared.items()
             if _normalise(n, d) != signature[n].default}
    assert not drift, f"modalyze {command}: CLI default != library default: {drift}"


@pytest.mark.parametrize("estimator, settings, defaults, command", [
    (Classifier, TrainSettings, TRAIN, "train"), (Aligner, AlignSettings, ALIGN, "align")])
def test_estimator_parameters_and_cli_options_cover_every_setting(estimator, settings, defaults, command):
    signature = inspect.signature(estimator).parameters
    options = _cli_defaults(command)
    for name in settings.names():
        assert signature[name].default == getattr(defaults, name), (estimator.__name__, name)
        assert name in options, f"modalyze {command} has no --{name.replace('_', '-')} option"


def test_the_defaults_test_catches_a_drift(monkeypatch):
    """The check above is not vacuous: a changed CLI default is reported."""
    group = typer.main.get_command(app)
    param = next(p for p in group.commands["train"].params if p.name == "max_epochs")
    monkeypatch.setattr(param, "default", TRAIN.max_epochs + 1)
    monkeypatch.setattr(typer.main, "get_command", lambda _: group)
    with pytest.raises(AssertionError, match="max_epochs"):
        test_every_cli_default_equals_the_library_default("train")


@pytest.mark.parametrize("command", ["train", "analyze", "align", "compare"])
def test_the_data_loading_options_take_their_defaults_from_the_settings(command):
    from modalyze.settings import DATA

    options = _cli_defaults(command)
    assert _normalise("devices", options["workers"]) == DATA.workers and options["feature_cache"] == DATA.feature_cache


def test_help_lists_the_commands_in_the_order_a_user_walks_them():
    from typer.testing import CliRunner

    from modalyze.cli_common import COMMAND_ORDER

    out = CliRunner().invoke(app, ["--help"], terminal_width=200).stdout
    listed = [line.split()[1] for line in out.splitlines() if line.startswith("│ ") and line.split()[1] in COMMAND_ORDER]
    assert listed[:3] == ["analyze", "train", "predict"] and listed.index("align") > listed.index("compare")
    assert sorted(listed) == sorted(typer.main.get_command(app).commands)  # every command is listed once
