"""The ``modalyze`` command line: parse options, call the library, print results. No logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

try:  # recent Typer vendors Click; older releases use the click package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

from modalyze.errors import Interrupted, ModalyzeError, raise_on_signals

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Measure which modalities matter, alone and together, and train models that use both.")
console = Console(soft_wrap=True)

DataArg = Annotated[str, typer.Argument(
    help="A table (.csv, .parquet, .jsonl) with --target, a spec .yaml file, or a built-in dataset name "
         "(see `modalyze datasets`).")]
TargetOpt = Annotated[Optional[str], typer.Option(help="For a table: the column to predict (the spec is inferred).")]
ModalityOpt = Annotated[Optional[list[str]], typer.Option(
    "--modality", help="For a table: override a guess, NAME=COL1,COL2:KIND (repeatable).")]
WriteSpecOpt = Annotated[Optional[Path], typer.Option(help="For a table: write the inferred spec to this .yaml file.")]
SeedOpt = Annotated[int, typer.Option(help="Seed for data generation (built-ins), split and training.")]
OptionOpt = Annotated[Optional[list[str]], typer.Option(
    "--option", "-o", help="Built-in dataset option KEY=VALUE, e.g. -o rows=2000 -o noise=0.3 (repeatable).")]
UnreadableOpt = Annotated[str, typer.Option(help="What an absent or unreadable image file is: 'error' or 'missing'.")]
FusionOpt = Annotated[str, typer.Option(help="Fusion block of the inter expert.")]
DimOpt = Annotated[int, typer.Option(help="Width of every encoder's output.")]
AcceleratorOpt = Annotated[str, typer.Option(help="Lightning accelerator: auto (a GPU when present), cpu, gpu, ...")]
DevicesOpt = Annotated[str, typer.Option(help="Lightning devices: a count, a list, or 'auto'.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars while training.")]
DropoutHelp = ("Rate at which each modality is hidden per training row, so the model learns to predict without "
               "it (a spec's per-modality 'dropout:' overrides it).")


def _log(line: str) -> None:
    """Progress lines from the library, printed as plain text (no markup, no emoji codes like :question:)."""
    console.print(line, markup=False, emoji=False, highlight=False)


def _version(value: bool) -> None:
    if value:
        from modalyze import __version__

        print(f"modalyze {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Measure which modalities matter, alone and together, and train models that use both."""


def _data(data: str, target: str | None, modality: list[str] | None, write_spec: Path | None) -> Any:
    """The data argument, or a table's inferred spec (printed, and written with --write-spec)."""
    from modalyze.workflows import open_data

    opened, text = open_data(data, target, modality, write_spec)
    if text:
        console.print(f"inferred spec (edit it and pass the .yaml to change a guess):\n{text}", markup=False,
                      highlight=False)
        if write_spec is not None:
            console.print(f"spec written to {write_spec}")
    return opened


def _devices(value: str) -> int | str:
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
def train(
    data: DataArg,
    target: TargetOpt = None,
    modality: ModalityOpt = None,
    write_spec: WriteSpecOpt = None,
    model: Annotated[str, typer.Option(help="Expert: intra:<modality>, inter, additive or i2m2.")] = "i2m2",
    out: Annotated[Optional[Path], typer.Option(help="Run directory to write (default runs/<dataset>-<model>).")] = None,
    seed: SeedOpt = 0,
    max_epochs: Annotated[int, typer.Option(help="Upper bound on epochs; early stopping usually ends sooner.")] = 100,
    patience: Annotated[int, typer.Option(help="Epochs without validation improvement before stopping.")] = 3,
    min_steps: Annotated[int, typer.Option(help="No early stopping before this many optimizer steps.")] = 500,
    batch_size: Annotated[int, typer.Option(help="Rows per training batch.")] = 128,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-3,
    aux_weight: Annotated[float, typer.Option(
        help="i2m2/additive: weight of each member expert's own loss added to the product's loss.")] = 1.0,
    modality_dropout: Annotated[float, typer.Option(help=DropoutHelp)] = 0.0,
    dim: DimOpt = 64,
    fusion: FusionOpt = "late",
    init: Annotated[Optional[list[Path]], typer.Option(
        help="For i2m2/additive: start from a trained intra or inter run directory (repeatable).")] = None,
    accelerator: AcceleratorOpt = "auto",
    devices: DevicesOpt = "1",
    unreadable: UnreadableOpt = "error",
    option: OptionOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train one expert and write a run directory (config, weights, metrics, test predictions)."""
    from modalyze.workflows import train_run

    out = out or Path("runs") / f"{Path(data).stem}-{model.replace(':', '-')}"
    metrics = train_run(_data(data, target, modality, write_spec), out, _options(option), model=model, seed=seed, max_epochs=max_epochs,
                        patience=patience, min_steps=min_steps, batch_size=batch_size, lr=lr, aux_weight=aux_weight,
                        modality_dropout=modality_dropout, dim=dim, fusion=fusion,
                        init=init, accelerator=accelerator, devices=_devices(devices),
                        unreadable=unreadable, progress=progress, log=_log)
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
    from modalyze.workflows import evaluate_run

    console.print(_metrics_table(evaluate_run(run), str(run)))


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A run directory written by `modalyze train`.")],
    rows: Annotated[Path, typer.Argument(help="Rows to predict: .csv, .parquet or .jsonl with the spec's columns.")],
    out: Annotated[Path, typer.Option(help="Where to write the predictions CSV.")] = Path("predictions.csv"),
    unreadable: Annotated[Optional[str], typer.Option(help="Override: 'error' or 'missing' for bad image files.")] = None,
) -> None:
    """Predict new rows; writes prediction, modalities_used and one probability column per class."""
    from modalyze.workflows import predict_file

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
    noise_levels: Annotated[str, typer.Option(help="Corruption levels in [0, 1], comma-separated (0 is always added).")]
        = "0,0.25,0.5,0.75,1",
    reference: Annotated[Optional[Path], typer.Option(
        help="An inter run with late fusion on the same split, as the effective-robustness reference "
             "(default: the run's own inter expert when it uses late fusion).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default RUN/robustness).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the corruptions and the bootstrap.")] = 0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for the intervals.")] = 400,
) -> None:
    """Scores with modalities missing and under corruptions: robustness.json and robustness.html."""
    from modalyze.workflows import robustness_to_dir

    out = out or run / "robustness"
    result = robustness_to_dir(run, out, _levels(noise_levels), reference, seed, bootstrap,
                               log=_log)
    table = RichTable(title=f"{result['model']} on {result['dataset']}: test accuracy with modalities missing")
    table.add_column("present")
    for expert in result["experts"]:
        table.add_column(expert, justify="right")
    for row in result["missing"]:
        table.add_row(" + ".join(row["present"]), *(_score(row["scores"][e]) if e in row["scores"] else ""
                                                   for e in result["experts"]))
    console.print(table)
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
def analyze(
    data: DataArg,
    target: TargetOpt = None,
    modality: ModalityOpt = None,
    write_spec: WriteSpecOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default reports/<dataset>); rerun to resume.")] = None,
    budget: Annotated[str, typer.Option(help="fast (1 seed), standard (3 seeds) or thorough (5 seeds).")] = "fast",
    seed: SeedOpt = 0,
    fusion: FusionOpt = "late",
    dim: DimOpt = 64,
    min_slice_rows: Annotated[int, typer.Option(
        help="Slice values with fewer test rows are listed as too few, not scored.")] = 50,
    modality_dropout: Annotated[float, typer.Option(
        help="Modality dropout of the i2m2 fine-tuning (the intra and inter experts train without it).")] = 0.2,
    groupings: Annotated[Optional[Path], typer.Option(
        help="A YAML file of alternative groupings of the columns into modalities: studies each (and the "
             "spec's own) and compares them.")] = None,
    accelerator: AcceleratorOpt = "auto",
    devices: DevicesOpt = "1",
    unreadable: UnreadableOpt = "error",
    option: OptionOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Measure each modality's contribution alone and together: profile.json, report.html, a verdict."""
    from modalyze.workflows import analyze_groupings_to_dir, analyze_to_dir

    out = out or Path("reports") / Path(data).stem
    options = dict(budget=budget, seed=seed, fusion=fusion, dim=dim, min_slice_rows=min_slice_rows,
                   modality_dropout=modality_dropout, accelerator=accelerator, devices=_devices(devices),
                   unreadable=unreadable, progress=progress, dataset_options=_options(option),
                   log=_log)
    if groupings is not None:
        from modalyze.analysis.profile import Profile

        result = analyze_groupings_to_dir(_data(data, target, modality, write_spec), groupings, out, **options)
        for name, profile in result["profiles"].items():
            console.print(f"\n[bold]grouping {name}[/bold]: verdict [bold]{profile['verdict']}[/bold]")
            console.print(_profile_table(Profile(**profile)))
        console.print(f"\nrecommended grouping: [bold]{result['recommended']}[/bold]\n{result['reason']}")
        console.print(f"wrote {out / 'groupings.json'}, {out / 'groupings.html'} and one report per grouping")
        return
    profile = analyze_to_dir(_data(data, target, modality, write_spec), out, **options)
    console.print(_profile_table(profile))
    for column, values in profile.slices.items():
        for value, s in values.items():
            verdict = "too few rows, not scored" if s.get("few_rows") else f"[bold]{s['verdict']}[/bold]"
            console.print(f"slice {escape(column)}={escape(value)} (n={s['n']}): {verdict}")
    console.print(f"\nverdict: [bold]{profile.verdict}[/bold]\n{profile.reason}")
    console.print(f"wrote {out / 'profile.json'} and {out / 'report.html'}")


@app.command("map")
def map_(
    profiles: Annotated[list[Path], typer.Argument(help="profile.json files written by `modalyze analyze`.")],
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("map.html"),
    slices: Annotated[bool, typer.Option(help="Also place each scored slice of each profile.")] = False,
) -> None:
    """Place studied datasets in the plane of intra- vs inter-modality dependency strength: map.html."""
    from modalyze.workflows import map_to_file

    result = map_to_file(profiles, out, slices)
    table = RichTable(title="benchmark map (strength = share of the joint model's gain over chance)")
    for col in ("dataset", "intra strength", "inter strength", "verdict"):
        table.add_column(col, justify="left" if col in ("dataset", "verdict") else "right")
    for p in result["points"]:
        table.add_row(escape(p["name"]), f"{p['intra']['score']:.2f}", f"{p['inter']['score']:.2f}", p["verdict"])
    console.print(table)
    console.print(f"wrote {out}")


@app.command()
def compare(
    data: DataArg,
    target: TargetOpt = None,
    modality: ModalityOpt = None,
    write_spec: WriteSpecOpt = None,
    fusions: Annotated[Optional[str], typer.Option(
        help="Comma-separated fusion blocks (default: all of late, early, cross-attention, tensor, low-rank).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default reports/<dataset>-compare); rerun to resume.")] = None,
    budget: Annotated[str, typer.Option(help="fast, standard or thorough: epochs and bootstrap size as in analyze.")] = "fast",
    seed: SeedOpt = 0,
    dim: DimOpt = 64,
    accelerator: AcceleratorOpt = "auto",
    devices: DevicesOpt = "1",
    unreadable: UnreadableOpt = "error",
    option: OptionOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Train the inter expert and i2m2 with each fusion block on one split: compare.json/.csv/.html."""
    from modalyze.workflows import compare_to_dir

    out = out or Path("reports") / f"{Path(data).stem}-compare"
    chosen = [f.strip() for f in fusions.split(",") if f.strip()] if fusions else None
    result = compare_to_dir(_data(data, target, modality, write_spec), out, fusions=chosen, budget=budget, seed=seed, dim=dim, accelerator=accelerator,
                            devices=_devices(devices), unreadable=unreadable, progress=progress,
                            dataset_options=_options(option),
                            log=_log)
    table = RichTable(title=f"{result['dataset']}: test {result['metric']} by fusion ({result['n_test']} rows)")
    for col in ("fusion", "model", "score", "95% interval", "params", "train", "ms/row", "train MB"):
        table.add_column(col, justify="left" if col in ("fusion", "model") else "right")
    for r in result["rows"]:
        table.add_row(r["fusion"], r["model"], f"{r['score']:.4f}", f"{r['ci'][0]:.4f}–{r['ci'][1]:.4f}",
                      f"{r['params']:,}", f"{r['train_time_s']:.0f} s", f"{r['latency_ms_per_row']:.3f}",
                      f"{r['train_memory_mb']:.0f}")
    console.print(table)
    console.print(f"wrote {out / 'compare.json'}, {out / 'compare.csv'} and {out / 'compare.html'}")


@app.command()
def align(
    data: DataArg,
    target: TargetOpt = None,
    modality: ModalityOpt = None,
    write_spec: WriteSpecOpt = None,
    loss: Annotated[str, typer.Option(help="clip, siglip (2 modalities), symile (3+), anchor or pairwise.")] = "clip",
    anchor: Annotated[Optional[str], typer.Option(help="For --loss anchor: the modality every other is aligned to.")] = None,
    lock: Annotated[Optional[list[str]], typer.Option(help="Freeze this modality's tower (LiT); repeatable.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/<dataset>-align-<loss>).")] = None,
    dim: DimOpt = 64,
    embed_dim: Annotated[int, typer.Option(help="Width of the shared embedding space.")] = 64,
    max_epochs: Annotated[int, typer.Option(help="Upper bound on epochs; early stopping usually ends sooner.")] = 60,
    patience: Annotated[int, typer.Option(help="Epochs without validation improvement before stopping.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch (the negatives of each pair).")] = 256,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    word_dropout: Annotated[float, typer.Option(
        help="In training, delete each word of a text modality with this probability (teaches partial "
             "descriptions such as zero-shot prompts; 0 turns it off).")] = 0.2,
    seed: SeedOpt = 0,
    accelerator: AcceleratorOpt = "auto",
    devices: DevicesOpt = "1",
    unreadable: UnreadableOpt = "error",
    option: OptionOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Contrastive alignment of the modalities; writes a run with retrieval, modality gap and align.html."""
    from modalyze.workflows import align_to_dir

    out = out or Path("runs") / f"{Path(data).stem}-align-{loss}"
    metrics = align_to_dir(_data(data, target, modality, write_spec), out, _options(option), loss=loss, anchor=anchor, lock=lock or [], dim=dim,
                           embed_dim=embed_dim, max_epochs=max_epochs, patience=patience, batch_size=batch_size,
                           lr=lr, word_dropout=word_dropout, seed=seed, accelerator=accelerator, devices=_devices(devices),
                           unreadable=unreadable, progress=progress)
    console.print(_retrieval_table(metrics["retrieval"], f"{loss} on {metrics['dataset']}: test retrieval"))
    for pair, gap in metrics["gap"].items():
        console.print(f"modality gap {pair}: centroid distance {gap['centroid_distance']:.3f}, "
                      f"linear separability {gap['separability']:.3f}", highlight=False)
    console.print(f"run written to {out} (align.html)")


def _retrieval_table(results: dict[str, dict[str, float]], title: str) -> RichTable:
    table = RichTable(title=title)
    for col in ("direction", "R@1", "R@5", "R@10", "median rank", "mean rank"):
        table.add_column(col, justify="left" if col == "direction" else "right")
    for direction, r in results.items():
        table.add_row(direction, *(f"{r[k]:.3f}" for k in ("R@1", "R@5", "R@10")), f"{r['median_rank']:.1f}",
                      f"{r['mean_rank']:.1f}")
    return table


AlignRunArg = Annotated[Path, typer.Argument(help="A run directory written by `modalyze align`.")]
GapShiftOpt = Annotated[float, typer.Option(
    help="Also evaluate after moving the embeddings this fraction of the modality gap toward each other.")]


@app.command()
def zeroshot(
    run: AlignRunArg,
    column: Annotated[str, typer.Option(help="Test-row column holding the true label.")],
    labels: Annotated[Optional[Path], typer.Option(help="A text file with one label per line (default: the column's values).")] = None,
    template: Annotated[Optional[list[str]], typer.Option(help="Prompt with {} for the label; repeatable (averaged).")] = None,
    modality: Annotated[Optional[str], typer.Option(help="The modality to classify (default: the non-text one).")] = None,
    text: Annotated[Optional[str], typer.Option(help="The text modality whose tower embeds the prompts.")] = None,
    gap_shift: GapShiftOpt = 0.0,
) -> None:
    """Zero-shot classification of test rows from label names through the text tower: top-1 and top-5."""
    from modalyze.aligner import Aligner
    from modalyze.analysis.alignment import paired_test_embeddings, zero_shot

    names = None
    if labels is not None:
        if not labels.is_file():
            raise ModalyzeError(f"{labels}: labels file does not exist")
        names = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
    aligner = Aligner.load(run)
    pairs = paired_test_embeddings(aligner)
    results = [zero_shot(aligner, column, names, template, text, modality, pairs=pairs)]
    if gap_shift:
        results.append(zero_shot(aligner, column, names, template, text, modality, gap_shift=gap_shift, pairs=pairs))
    for r in results:
        top_k = next(k for k in r if k.startswith("top") and k != "top1")
        shift = f" (gap shift {r['gap_shift']})" if r["gap_shift"] else ""
        gap = r["centroid_distance"]
        console.print(f"zero-shot {r['column']} from {r['modality']}{shift}: top-1 {r['top1']:.3f}, "
                      f"{top_k.replace('top', 'top-')} {r[top_k]:.3f} over {len(r['classes'])} classes, {r['n']} rows; "
                      f"modality gap (centroid distance) {gap['after']:.3f}"
                      + (f" (was {gap['before']:.3f})" if r["gap_shift"] else ""), highlight=False)


@app.command()
def retrieve(
    run: AlignRunArg,
    query: Annotated[str, typer.Option(help="Query modality, or several joined by commas (e.g. a,b).")],
    gallery: Annotated[str, typer.Option(help="Gallery modality.")],
    match: Annotated[Optional[str], typer.Option(
        help="Column whose equal values make gallery rows true matches (default: identical gallery content).")] = None,
    gap_shift: GapShiftOpt = 0.0,
) -> None:
    """Cross-modal retrieval on the test pairs: Recall@1/5/10, median and mean rank."""
    from modalyze.aligner import Aligner
    from modalyze.analysis.alignment import paired_test_embeddings
    from modalyze.analysis.alignment import retrieve as retrieve_pairs

    aligner = Aligner.load(run)
    queries = [q.strip() for q in query.split(",") if q.strip()]
    pairs = paired_test_embeddings(aligner)
    results = {f"{'+'.join(queries)}→{gallery}": retrieve_pairs(aligner, queries, gallery, match=match, pairs=pairs)}
    if gap_shift:
        results[f"{'+'.join(queries)}→{gallery} (gap shift {gap_shift})"] = retrieve_pairs(
            aligner, queries, gallery, gap_shift, match=match, pairs=pairs)
    console.print(_retrieval_table(results, f"retrieval on {aligner.spec_.name} (test pairs)"))


@app.command()
def embed(
    run: AlignRunArg,
    rows: Annotated[Path, typer.Argument(help="Rows to embed: .csv, .parquet or .jsonl with the spec's columns.")],
    out: Annotated[Path, typer.Option(help="Where to write the embeddings (.parquet: one list column per modality).")]
        = Path("embeddings.parquet"),
) -> None:
    """Embed new rows with a trained aligner; absent modalities give empty cells."""
    from modalyze.workflows import embed_file

    table = embed_file(run, rows, out)
    console.print(f"{len(table)} rows × {len(table.columns)} modalities embedded to {out}")


def _profile_table(profile: Any) -> RichTable:
    table = RichTable(title=f"{profile.dataset}: test {profile.metric} (chance {profile.chance:.3f})")
    for col in ("expert", "score", "95% interval", "strength"):
        table.add_column(col, justify="left" if col == "expert" else "right")
    rows = [(f"intra:{m}", s) for m, s in profile.intra.items()]
    rows += [("additive", profile.additive), ("inter", profile.inter), ("i2m2", profile.i2m2)]
    rows += [(f"shuffle {k} (inter)", s) for k, s in profile.shuffle.items()]
    for name, s in rows:
        strength = f"{s['strength']:.2f}" if "strength" in s else ""
        table.add_row(name, f"{s['score']:.3f}", f"{s['ci'][0]:.3f} – {s['ci'][1]:.3f}", strength)
    return table


def _error(message: str) -> None:
    """One ``error:`` line on stderr, whatever characters the message quotes from the input."""
    print("error: " + " ".join(message.split("\n")).replace("\r", " "), file=sys.stderr)


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
        _error(str(exc))
        code = 2
    except Interrupted as exc:
        print(f"interrupted by {exc}: finished work is on disk; rerun the same command to resume", file=sys.stderr)
        code = 128 + exc.signum
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
