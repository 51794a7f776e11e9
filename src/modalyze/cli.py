"""The ``modalyze`` command line: parse options, call the library, print results. No logic lives here.

Shared options and the app live in :mod:`modalyze.cli_common`; the alignment commands in
:mod:`modalyze.cli_align`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table as RichTable

try:  # recent Typer vendors Click; older releases use the click package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

from modalyze import cli_align  # noqa: F401  (registers align, zeroshot, retrieve, embed)
from modalyze.cli_common import (INPUT_OPTIONS, DataArg, DimOpt, FusionOpt, SeedOpt, _data, _metrics_table, _options,
                                 app, console, run_values, settings_options, shared_options)
from modalyze.errors import Interrupted, ModalyzeError, raise_on_signals
from modalyze.settings import COMPARE, MODEL, MODEL_FAMILIES, PROBE, ROBUSTNESS, STUDY, TRAIN


@app.command("spec-schema")
def spec_schema() -> None:
    """Print the JSON Schema of spec files (for editors: completion and checking as you type)."""
    import json

    from modalyze.spec_schema import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))


@app.command()
def datasets() -> None:
    """List the built-in datasets, one line each."""
    from modalyze.data import list_datasets

    for ds in list_datasets():
        console.print(f"[bold]{ds.name:20s}[/bold] {ds.summary}", highlight=False)


@app.command()
@shared_options(settings_options(TRAIN))
def train(
    data: DataArg,
    model: Annotated[str, typer.Option(help="Expert: intra:<modality>, inter, additive, i2m2 or i2m2-shared (i2m2 at the cost of one model).")] = "i2m2",
    out: Annotated[Optional[Path], typer.Option(help="Run directory to write (default runs/<dataset>-<model>).")] = None,
    family: Annotated[str, typer.Option(metavar="[" + "|".join(MODEL_FAMILIES) + "]", help=(
        "A neural expert, logistic regression (linear), gradient-boosted trees (tabular, vector, time series), "
        "cheap (linear or trees, whichever the validation rows choose) or auto (every family that reads the "
        "inputs, neural included; the lowest validation log-loss wins); on additive and i2m2, per member."))] = MODEL.family,
    dim: DimOpt = MODEL.dim,
    fusion: FusionOpt = MODEL.fusion,
    init: Annotated[Optional[list[Path]], typer.Option(
        help="For i2m2/additive: start from trained intra or inter run directories (repeatable); i2m2-shared: from an inter run.")] = None,
    **run: Any,
) -> None:
    """Train one expert and write a run directory (config, weights, metrics, test predictions); every
    training setting (settings.TrainSettings) is an option."""
    from modalyze.jobs.classify import train_run

    out = out or Path("runs") / f"{Path(data).stem}-{model.replace(':', '-')}"
    metrics = train_run(_data(data, run), out, _options(run["option"]), model=model, family=family, dim=dim, fusion=fusion,
                        init=init, **run_values(run))
    for split, counts in metrics["missing"].items():
        for modality, n in counts.items():
            if n:
                console.print(f"{split}: {n} rows have no '{modality}' (kept, treated as missing)")
    console.print(_metrics_table(metrics, f"{model} on {metrics['dataset']}"))
    console.print(f"{metrics['params']:,} parameters, {metrics['epochs']} epochs, "
                  f"{metrics['train_time_s']:.0f} s; run written to {out}")


@app.command()
def evaluate(run: Annotated[Path, typer.Argument(help="A run directory written by `modalyze train`.")]) -> None:
    """Recompute a run's metrics on its dataset's val and test splits."""
    from modalyze.jobs.classify import evaluate_run

    console.print(_metrics_table(evaluate_run(run), str(run)))


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A run directory written by `modalyze train`.")],
    rows: Annotated[Path, typer.Argument(help="Rows to predict: .csv, .parquet or .jsonl with the spec's columns.")],
    out: Annotated[Path, typer.Option(help="Where to write the predictions CSV.")] = Path("predictions.csv"),
    unreadable: Annotated[Optional[str], typer.Option(help="Override: 'error' or 'missing' for bad image files.")] = None,
) -> None:
    """Predict new rows; writes prediction, modalities_used and one probability column per class."""
    from modalyze.jobs.classify import predict_file

    result = predict_file(run, rows, out, unreadable)
    n_all = len(result.attrs["modalities"])
    partial = int((result["modalities_used"].map(lambda used: len([m for m in used.split(",") if m])) < n_all).sum())
    console.print(f"{len(result)} predictions written to {out}" + (f" ({partial} rows with a modality missing)" if partial else ""))


def _levels(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ModalyzeError(f"option --noise-levels {text!r}: expected numbers separated by commas, e.g. 0,0.5,1") from None


def _score(entry: dict[str, Any]) -> str:
    return f"{entry['score']:.3f} ({entry['ci'][0]:.3f}–{entry['ci'][1]:.3f})"


@app.command()
def robustness(
    run: Annotated[Path, typer.Argument(help="A run directory written by `modalyze train`.")],
    levels: Annotated[str, typer.Option("--noise-levels", help="Corruption levels in [0, 1], comma-separated (0 is always added).")]
        = ",".join(map(str, ROBUSTNESS.levels)),
    reference: Annotated[Optional[Path], typer.Option(
        help="An inter run with late fusion on the same split, as the effective-robustness reference "
             "(default: the run's own inter expert when it uses late fusion).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default RUN/robustness).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the corruptions and the bootstrap.")] = ROBUSTNESS.seed,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.")] = ROBUSTNESS.bootstrap,
) -> None:
    """Scores with modalities missing and under corruptions: robustness.json and robustness.html."""
    from modalyze.jobs.classify import robustness_to_dir

    out = out or run / "robustness"
    result = robustness_to_dir(run, out, _levels(levels), reference, seed, bootstrap)
    table = RichTable(title=f"{result['model']} on {result['dataset']}: test accuracy with modalities missing")
    table.add_column("present")
    for expert in result["experts"]:
        table.add_column(expert, justify="right")
    for row in result["missing"]:
        table.add_row(" + ".join(row["present"]), *(_score(row["scores"][e]) if e in row["scores"] else ""
                                                   for e in result["experts"]))
    console.print(table)
    for row in result["missing"]:
        for product, short in row.get("below_best_member", {}).items():
            console.print(f"with {' + '.join(row['present'])} present, {product} is {short['gap']:.3f} below its "
                          f"member {short['member']}")
    summary = RichTable(title="corruptions (relative: area of score/clean; effective: vs. late-fusion reference)")
    for col in ("modality", "corruption", "expert", "clean", "level 1", "relative", "effective"):
        summary.add_column(col, justify="left" if col in ("modality", "corruption", "expert") else "right")
    for c in result["corruptions"]:
        for expert, s in c["summary"].items():
            summary.add_row(c["modality"], c["corruption"], expert, f"{s['clean']:.3f}", f"{c['curves'][expert][-1]:.3f}",
                            f"{s['relative']:.3f}", f"{s['effective']:+.3f}" if "effective" in s else "")
    console.print(summary)
    console.print(f"wrote {out / 'robustness.json'} and {out / 'robustness.html'}")


@app.command()
@shared_options(settings_options(STUDY))
def analyze(
    data: DataArg,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default reports/<dataset>); rerun to resume.")] = None,
    groupings: Annotated[Optional[Path], typer.Option(
        help="A YAML file of alternative groupings of the columns into modalities: studies each (and the "
             "spec's own) and compares them.")] = None,
    **run: Any,
) -> None:
    """Measure each modality's contribution alone and together: profile.json, report.html, a verdict."""
    from modalyze.jobs.study import analyze_groupings_to_dir, analyze_to_dir

    out = out or Path("reports") / Path(data).stem
    opened = _data(data, run)
    options = dict(dataset_options=_options(run["option"]), **run_values(run))
    if groupings is not None:
        from modalyze.analysis.profile import Profile

        result = analyze_groupings_to_dir(opened, groupings, out, **options)
        for name, profile in result["profiles"].items():
            console.print(f"\n[bold]grouping {name}[/bold]: verdict [bold]{profile['verdict']}[/bold]")
            console.print(_profile_table(Profile(**profile)))
        console.print(f"\nrecommended grouping: [bold]{result['recommended']}[/bold]\n{result['reason']}")
        console.print(f"wrote {out / 'groupings.json'}, {out / 'groupings.html'} and one report per grouping")
        return
    profile = analyze_to_dir(opened, out, **options)
    console.print(_profile_table(profile))
    for why in (profile.baseline or {}).get("replaced", {}).values():
        console.print(f"expert check: {escape(why)}")
    for column, values in profile.slices.items():
        for value, s in values.items():
            verdict = "too few rows, not scored" if s.get("few_rows") else f"[bold]{s['verdict']}[/bold]"
            console.print(f"slice {escape(column)}={escape(value)} (n={s['n']}): {verdict}")
    console.print(f"\nverdict: [bold]{profile.verdict}[/bold]\n{profile.reason}")
    console.print(f"wrote {out / 'profile.json'} and {out / 'report.html'}")


@app.command()
@shared_options({"option": INPUT_OPTIONS["option"]})
def probe(
    data: DataArg,
    model: Annotated[Optional[list[str]], typer.Option(
        help="A model to probe (repeatable): run:DIR (a modalyze train run), py:module:function (a Python callable: "
             "rows -> labels or probabilities) or preds:FILE (predictions made elsewhere, one column per condition).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default reports/<dataset>-probe); rerun to resume.")] = None,
    profile: Annotated[Optional[Path], typer.Option(
        help="A profile.json from `modalyze analyze` of this dataset: the models' reliance next to what the data offers.")] = None,
    write_conditions: Annotated[Optional[Path], typer.Option(
        help="Instead of probing: write every condition's inputs as CSV to this folder (for preds:).")] = None,
    permutations: Annotated[int, typer.Option(help="Seeded permutations per shuffled modality.")] = PROBE.permutations,
    split: Annotated[str, typer.Option(help="The rows to probe: test, val, train or all.")] = PROBE.split,
    seed: SeedOpt = PROBE.seed,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.")] = PROBE.bootstrap,
    batch_size: Annotated[int, typer.Option(help="Rows per call to the model.")] = PROBE.batch_size,
    prompt: Annotated[Optional[str], typer.Option(
        help="For hf: models: the question, with {column} for a cell of the row, e.g. '<image> {question}'. For an "
             "align run: the label template, with {} for the label (default the label itself).")] = None,
    accelerator: Annotated[str, typer.Option(help="For hf: models: cpu, or gpu.")] = "cpu",
    **run: Any,
) -> None:
    """Which modalities does an existing model use? Shuffle each across rows: probe.json and probe.html."""
    from modalyze.jobs.probe import probe_to_dir, write_conditions_to_dir

    options = dict(permutations=permutations, seed=seed, split=split, dataset_options=_options(run.pop("option")))
    opened = _data(data, run)
    if write_conditions is not None:
        names = write_conditions_to_dir(opened, write_conditions, **options)
        console.print(f"wrote {len(names)} conditions to {write_conditions} (fill predictions.csv, then --model preds:FILE)")
        return
    out = out or Path("reports") / f"{Path(data).stem}-probe"
    result = probe_to_dir(opened, model or [], out, profile, bootstrap=bootstrap, batch_size=batch_size, prompt=prompt,
                          accelerator=accelerator, **options)
    table = RichTable(title=f"{result['dataset']}: {result['n']} {result['split']} rows")
    drops = [f"shuffle:{m}" for m in result["modalities"]] + [c for c in result["conditions"] if c.startswith("order:")]
    for col in ("model", "normal", *(f"drop {d}" for d in drops), "verdict"):
        table.add_column(col, justify="left" if col in ("model", "verdict") else "right")
    for m in result["models"]:
        table.add_row(escape(m["model"]), _score(m["scores"]["normal"]),
                      *(f"{m['drops'][d]['score']:+.3f}" for d in drops), escape(m["verdict"]))
    console.print(table)
    for m in result["models"]:
        for note in m.get("against_profile", []):
            console.print(f"{escape(m['model'])}: {escape(note)}")
    console.print(f"wrote {out / 'probe.json'} and {out / 'probe.html'}")


@app.command("map")
def map_(
    profiles: Annotated[list[Path], typer.Argument(help="profile.json files written by `modalyze analyze`.")],
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("map.html"),
    slices: Annotated[bool, typer.Option(help="Also place each scored slice of each profile.")] = False,
) -> None:
    """Place studied datasets in the plane of intra- vs inter-modality dependency strength: map.html."""
    from modalyze.jobs.study import map_to_file

    result = map_to_file(profiles, out, slices)
    table = RichTable(title="benchmark map (strength = share of the joint model's gain over chance)")
    for col in ("dataset", "intra strength", "inter strength", "verdict"):
        table.add_column(col, justify="left" if col in ("dataset", "verdict") else "right")
    for p in result["points"]:
        table.add_row(escape(p["name"]), f"{p['intra']['score']:.2f}", f"{p['inter']['score']:.2f}", p["verdict"])
    console.print(table)
    console.print(f"wrote {out}")


@app.command()
@shared_options(settings_options(COMPARE))
def compare(
    data: DataArg,
    fusions: Annotated[Optional[str], typer.Option(
        help="Comma-separated fusion blocks (default: all of late, early, cross-attention, tensor, low-rank, "
             "projector, qformer).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default reports/<dataset>-compare); rerun to resume.")] = None,
    **run: Any,
) -> None:
    """Train the inter expert and i2m2 with each fusion block on one split: compare.json/.csv/.html."""
    from modalyze.jobs.study import compare_to_dir

    out = out or Path("reports") / f"{Path(data).stem}-compare"
    chosen = [f.strip() for f in fusions.split(",") if f.strip()] if fusions else None
    result = compare_to_dir(_data(data, run), out, fusions=chosen, dataset_options=_options(run["option"]),
                            **run_values(run))
    table = RichTable(title=f"{result['dataset']}: test {result['metric']} by fusion ({result['n_test']} rows)")
    for col in ("fusion", "model", "score", "95% interval", "params", "train", "ms/row", "train MB"):
        table.add_column(col, justify="left" if col in ("fusion", "model") else "right")
    for r in result["rows"]:
        table.add_row(r["fusion"], r["model"], f"{r['score']:.4f}", f"{r['ci'][0]:.4f}–{r['ci'][1]:.4f}",
                      f"{r['params']:,}", f"{r['train_time_s']:.0f} s", f"{r['latency_ms_per_row']:.3f}",
                      f"{r['train_memory_mb']:.0f}")
    console.print(table)
    console.print(f"wrote {out / 'compare.json'}, {out / 'compare.csv'} and {out / 'compare.html'}")


def _profile_table(profile: Any) -> RichTable:
    evaluation = profile.config.get("evaluation", "held-out test split")
    if "one-pass" in profile.config.get("estimate", ""):
        evaluation += ", one-pass estimate (one i2m2-shared model)"
    table = RichTable(title=f"{profile.dataset}: {profile.metric} on {profile.n_test} test rows, {evaluation} "
                            f"(chance {profile.chance:.3f})")
    for col in ("expert", "family", "score", "95% interval", "strength", "linear baseline"):
        table.add_column(col, justify="left" if col in ("expert", "family") else "right")
    chosen = (profile.baseline or {}).get("chosen", {})
    baseline = {**{f"intra:{m}": b for m, b in (profile.baseline or {}).get("intra", {}).items()},
                "inter": (profile.baseline or {}).get("joint")}
    rows = [(f"intra:{m}", s) for m, s in profile.intra.items()]
    rows += [("additive", profile.additive), ("inter", profile.inter), ("i2m2", profile.i2m2)]
    rows += [(f"{s.get('label', f'shuffle {k}')} (inter)", s) for k, s in profile.shuffle.items()]
    for name, s in rows:
        strength = f"{s['strength']:.2f}" if "strength" in s else ""
        base = f"{baseline[name]['score']:.3f}" if baseline.get(name) else ""
        table.add_row(name, chosen.get(name, ""), f"{s['score']:.3f}", f"{s['ci'][0]:.3f} – {s['ci'][1]:.3f}", strength,
                      base)
    return table


def _error(message: str) -> None:
    """One ``error:`` line on stderr, whatever characters the message quotes from the input."""
    print("error: " + " ".join(message.split("\n")).replace("\r", " "), file=sys.stderr)


_OPTION = re.compile(r"\boption ([a-z][a-z_]*)((?:/[a-z_]+)*)(?=[ =:/)]|$)")


def as_typed(message: str, argv: list[str]) -> str:
    """The library names an option by its Python parameter (``option levels=[2.0]: ...``); on the
    command line, name the flag that sets it (``option --noise-levels=[2.0]: ...``), for the command
    in ``argv``. A name the command has no flag for (an internal setting) is left as it is."""
    group = typer.main.get_command(app)
    command = next((group.commands[a] for a in argv if a in getattr(group, "commands", {})), None)
    flags = {p.name: max(p.opts, key=len) for p in getattr(command, "params", []) if p.opts and p.opts[0].startswith("-")}

    def flag(match: re.Match) -> str:
        names = [match[1], *match[2].split("/")[1:]]
        return "option " + "/".join(flags.get(n, n) for n in names)
    return _OPTION.sub(flag, message)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback;
    SIGINT/SIGTERM end the command at once with 130/143 (finished work stays on disk)."""
    raise_on_signals()
    try:
        code = typer.main.get_command(app).main(prog_name="modalyze", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:
        code = 2  # Click has printed the help
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "modalyze"
        _error(f"{exc.format_message()} (see '{where} --help')")
        code = 2
    except typer.Abort:
        code = 130
    except ModalyzeError as exc:
        _error(as_typed(str(exc), sys.argv[1:]))
        code = 2
    except Interrupted as exc:
        print(f"interrupted by {exc}: finished work is on disk; rerun the same command to resume", file=sys.stderr)
        code = 128 + exc.signum
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
