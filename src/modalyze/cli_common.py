"""What every ``modalyze`` command shares: the Typer app, the console, option types and small parsers."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, get_type_hints

import typer
from rich.console import Console
from rich.table import Table as RichTable
from typer.core import TyperGroup

from modalyze.errors import ModalyzeError
from modalyze.outputs import is_rank_zero
from modalyze.settings import (
    DATA,
    MODEL,
    SPLIT,
    TRAIN,
    Options,
    Settings,
    StudySettings,
)

# commands in the order a user walks them: study the data, train, use the model, then the alignment family
COMMAND_ORDER = ("analyze", "train", "predict", "evaluate", "robustness", "probe", "compare", "map", "datasets",
                 "spec-schema", "align", "zeroshot", "retrieve", "embed")


class _Walk(TyperGroup):
    """``modalyze --help`` lists the commands in :data:`COMMAND_ORDER` (others after them)."""

    def list_commands(self, ctx: Any) -> list[str]:
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda n: (rank.get(n, len(rank)), n))


app = typer.Typer(cls=_Walk, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Measure which modalities matter, alone and together, and train models that use both.")
console = Console(soft_wrap=True, quiet=not is_rank_zero())  # the extra ranks of --devices N print nothing

DataArg = Annotated[str, typer.Argument(
    help="A table (.csv, .parquet, .jsonl) with --target, a spec .yaml file, or a built-in dataset name "
         "(see `modalyze datasets`).")]
TargetOpt = Annotated[Optional[str], typer.Option(help="For a table: the column to predict (the spec is inferred).")]
ModalityOpt = Annotated[Optional[list[str]], typer.Option(
    "--modality", help="For a table: override a guess, NAME=COL1,COL2:KIND (repeatable).")]
WriteSpecOpt = Annotated[Optional[Path], typer.Option(help="For a table: write the inferred spec to this .yaml file.")]
SeedOpt = Annotated[int, typer.Option(help=Settings.help("seed"))]
OptionOpt = Annotated[Optional[list[str]], typer.Option(
    "--option", "-o", help="Built-in dataset option KEY=VALUE, e.g. -o rows=2000 -o noise=0.3 (repeatable).")]
UnreadableOpt = Annotated[str, typer.Option(help=StudySettings.help("unreadable"))]
FusionOpt = Annotated[str, typer.Option(help=StudySettings.help("fusion"))]
DimOpt = Annotated[int, typer.Option(help=StudySettings.help("dim"))]
ProgressOpt = Annotated[bool, typer.Option(help=Settings.help("progress"))]
SlicesOpt = Annotated[Optional[list[str]], typer.Option(
    "--slices", help="For a table: a column whose values get their own scores and verdict (repeatable).")]
SplitColumnOpt = Annotated[Optional[str], typer.Option(
    help="For a table: the column naming each row's split (train, val, test) instead of a random split.")]
ValOpt = Annotated[Optional[float], typer.Option(
    help=f"For a table: the share of rows held out for validation (default {SPLIT.val}).")]
TestOpt = Annotated[Optional[float], typer.Option(
    help=f"For a table: the share of rows held out for test (default {SPLIT.test}; 0: no test split).")]
SplitSeedOpt = Annotated[Optional[int], typer.Option(
    help=f"For a table: the seed of the random, stratified split (default {SPLIT.seed}).")]
TABLE_OPTIONS: dict[str, tuple[Any, Any]] = {"target": (TargetOpt, None), "modality": (ModalityOpt, None),
                                            "write_spec": (WriteSpecOpt, None), "slices": (SlicesOpt, None),
                                            "split_column": (SplitColumnOpt, None), "val": (ValOpt, None),
                                            "test": (TestOpt, None), "split_seed": (SplitSeedOpt, None)}
SPLIT_OPTIONS = {"val": "val", "test": "test", "split_seed": "seed", "split_column": "column"}  # option -> split: key
WorkersOpt = Annotated[str, typer.Option(
    help="Processes that decode image and audio files while the model trains (a count, 0: in this process; "
         "auto: one per 4 cores, at most 4).")]
FeatureCacheOpt = Annotated[bool, typer.Option(
    help="Keep decoded image and audio files on disk ($MODALYZE_CACHE/decoded) so each file is decoded once per "
         "machine; --no-feature-cache decodes every file each time a batch needs it.")]
INPUT_OPTIONS: dict[str, tuple[Any, Any]] = {"unreadable": (UnreadableOpt, MODEL.unreadable), "option": (OptionOpt, None),
                                            "progress": (ProgressOpt, TRAIN.progress),
                                            "workers": (WorkersOpt, str(DATA.workers)),
                                            "feature_cache": (FeatureCacheOpt, DATA.feature_cache)}


def _version(value: bool) -> None:
    if value:
        from modalyze import __version__

        print(f"modalyze {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Measure which modalities matter, alone and together, and train models that use both."""
    from modalyze.log import to_console

    to_console(console)  # the library's messages (the 'modalyze' logger) as plain lines on the terminal


def _data(data: str, run: dict[str, Any]) -> Any:
    """The data argument, or a table's inferred spec (printed, and written with --write-spec); takes
    the table options out of the command's shared options ``run``."""
    from modalyze.jobs import open_data

    target, modality, write_spec, slices = (run.pop(name) for name in ("target", "modality", "write_spec", "slices"))
    from modalyze.options import check_options

    given = {option: value for option in SPLIT_OPTIONS if (value := run.pop(option)) is not None}
    check_options(**{k: v for k, v in given.items() if k != "split_column"})
    split = {SPLIT_OPTIONS[option]: value for option, value in given.items()}
    if "column" in split and len(split) > 1:
        raise ModalyzeError("option --split-column: a split column and --val/--test/--split-seed exclude each other")
    opened, text = open_data(data, target, modality, write_spec, slices, split or None)
    if text:
        console.print(f"inferred spec (edit it and pass the .yaml to change a guess):\n{text}", markup=False,
                      highlight=False)
        if write_spec is not None:
            console.print(f"spec written to {write_spec}")
    return opened


def shared_options(*groups: dict[str, tuple[Any, Any]]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Add option groups to a command's signature (each maps a parameter name to its annotation and
    default): the table options right after the DATA argument, the others at the end. The command
    receives them in its ``**run`` keyword arguments. Typer reads the signature."""
    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)  # Typer reads the options off the annotations
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]

        def params(group: dict[str, tuple[Any, Any]]) -> list[inspect.Parameter]:
            return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
                    for name, (kind, default) in group.items()]
        table, extra = params(TABLE_OPTIONS), [p for group in groups for p in params(group)]
        own = [own[0], *(p.replace(kind=p.KEYWORD_ONLY) for p in table + own[1:])]  # DATA stays positional

        @functools.wraps(command)
        def with_options(**values: Any) -> None:
            command(**values)

        with_options.__signature__ = signature.replace(parameters=own + extra)  # type: ignore[attr-defined]
        with_options.__annotations__ = {p.name: p.annotation for p in own + extra}
        return with_options
    return wrap


_CLI_TYPES: dict[Any, Any] = {int | str: str, str | None: Optional[str]}  # a count or a list, as typed; optional text


def settings_options(defaults: Options) -> dict[str, tuple[Any, Any]]:
    """One option per setting (train, align, analyze, compare): type, default, help and metavar from the
    settings' field, so no command signature repeats them; plus the input options."""
    hints = get_type_hints(type(defaults))
    out: dict[str, tuple[Any, Any]] = {}
    for name in defaults.names():
        value = getattr(defaults, name)
        kind = _CLI_TYPES.get(hints[name], hints[name])
        option = typer.Option(help=defaults.help(name), metavar=defaults.metavar(name))
        out[name] = (Annotated[kind, option], str(value) if kind is str and value is not None else value)
    return {**out, **{k: v for k, v in INPUT_OPTIONS.items() if k not in out}}


def run_values(run: dict[str, Any]) -> dict[str, Any]:
    """The shared options as library parameters: counts parsed, paths as text, -o pairs as a dict;
    the data-loading options (--workers, --feature-cache) are set for this process and its workers."""
    from modalyze.data.decoded import configure

    out = {k: v for k, v in run.items() if k != "option"}
    if "workers" in out:
        configure(workers=_devices(out.pop("workers")), feature_cache=out.pop("feature_cache"))
    for name in ("devices", "jobs"):
        if name in out:
            out[name] = _devices(out[name])
    if out.get("log_dir") is not None:
        out["log_dir"] = str(out["log_dir"])
    return out


def _devices(value: str) -> int | str:
    """A count as an int; anything else ('auto', a list) as written. Also for --jobs."""
    return int(value) if value.isdigit() else value


def _options(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ModalyzeError(f"option --option {pair!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def _metrics_table(metrics: dict[str, Any], title: str) -> RichTable:
    table = RichTable(title=title)
    for col in ("split", "accuracy", "macro F1", "NLL", "rows"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("val", "test"):
        if split in metrics:
            m = metrics[split]
            table.add_row(split, f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}", f"{m['nll']:.4f}", str(m["n"]))
    return table
