"""The alignment commands: align, zeroshot, retrieve, embed (registered on the shared app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table as RichTable

from modalyze.cli_common import (DataArg, DimOpt, _data, _options, app, console, settings_options,
                                 run_values, shared_options)
from modalyze.settings import ALIGN, ALIGNMENT, MODEL


@app.command()
@shared_options(settings_options(ALIGN))
def align(
    data: DataArg,
    loss: Annotated[str, typer.Option(help="clip, siglip (2 modalities), symile (3+), anchor or pairwise.")] = ALIGNMENT.loss,
    anchor: Annotated[Optional[str], typer.Option(help="For --loss anchor: the modality every other is aligned to.")] = None,
    lock: Annotated[Optional[list[str]], typer.Option(help="Freeze this modality's tower (LiT); repeatable.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/<dataset>-align-<loss>).")] = None,
    dim: DimOpt = MODEL.dim,
    embed_dim: Annotated[int, typer.Option(help="Width of the shared embedding space.")] = ALIGNMENT.embed_dim,
    word_dropout: Annotated[float, typer.Option(
        help="In training, delete each word of a text modality with this probability (teaches partial "
             "descriptions such as zero-shot prompts; 0 turns it off).")] = ALIGNMENT.word_dropout,
    **run: Any,
) -> None:
    """Contrastive alignment of the modalities; writes a run with retrieval, modality gap and align.html;
    every training setting (settings.AlignSettings) is an option."""
    from modalyze.jobs.align import align_to_dir

    out = out or Path("runs") / f"{Path(data).stem}-align-{loss}"
    metrics = align_to_dir(_data(data, run), out, _options(run["option"]), loss=loss, anchor=anchor, lock=lock,
                           dim=dim, embed_dim=embed_dim, word_dropout=word_dropout, **run_values(run))
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
    from modalyze.jobs.align import zero_shot_run

    for r in zero_shot_run(run, column, labels, template, text, modality, gap_shift):
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
    from modalyze.jobs.align import retrieve_run

    dataset, results = retrieve_run(run, [q.strip() for q in query.split(",") if q.strip()], gallery, match, gap_shift)
    console.print(_retrieval_table(results, f"retrieval on {dataset} (test pairs)"))


@app.command()
def embed(
    run: AlignRunArg,
    rows: Annotated[Path, typer.Argument(help="Rows to embed: .csv, .parquet or .jsonl with the spec's columns.")],
    out: Annotated[Path, typer.Option(help="Where to write the embeddings (.parquet: one list column per modality).")]
        = Path("embeddings.parquet"),
) -> None:
    """Embed new rows with a trained aligner; absent modalities give empty cells."""
    from modalyze.jobs.align import embed_file

    table = embed_file(run, rows, out)
    console.print(f"{len(table)} rows × {len(table.columns)} modalities embedded to {out}")
