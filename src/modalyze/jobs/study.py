"""Jobs of the dependency study: analyze (one grouping or several), compare fusion blocks, map profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modalyze.analysis import analyze
from modalyze.outputs import output_dir, output_file, write_json, write_text, write_with


def analyze_to_dir(data: str | Path, out: str | Path, **options: Any):
    """Run the dependency study; write ``profile.json`` and ``report.html`` into ``out``."""
    from modalyze.report.html import write_report  # matplotlib: imported only when a report is drawn

    with output_dir(out, "analyze"):
        profile = analyze(data, out=out, **options)
        profile.save(out)
        write_report(profile.to_dict(), out)
    return profile


def analyze_groupings_to_dir(data: str | Path, groupings: str | Path, out: str | Path, **options: Any) -> dict[str, Any]:
    """The study for the spec's grouping and each one in ``groupings`` (a YAML file): one profile and
    report per grouping under ``out/<name>/``, and ``groupings.json`` + ``groupings.html`` side by side."""
    from modalyze.analysis.groupings import analyze_groupings, load_groupings
    from modalyze.report.html import write_groupings_report, write_report

    alternatives = load_groupings(groupings)
    with output_dir(out, "groupings"):
        result = analyze_groupings(data, alternatives, out, **options)
        for name, profile in result["profiles"].items():
            write_json(Path(out) / name / "profile.json", profile)
            write_report(profile, Path(out) / name)
        write_json(Path(out) / "groupings.json", result)
        write_groupings_report(result, out)
    return result


def compare_to_dir(data: str | Path, out: str | Path, **options: Any) -> dict[str, Any]:
    """Compare fusion blocks; write ``compare.json``, ``compare.csv`` and ``compare.html`` into ``out``."""
    from modalyze.analysis.compare import compare
    from modalyze.report.html import write_compare_report

    out = Path(out)
    with output_dir(out, "compare"):
        result = compare(data, out=out, **options)
        write_json(out / "compare.json", result)
        table = pd.DataFrame(result["rows"]).assign(ci_low=lambda t: t["ci"].str[0], ci_high=lambda t: t["ci"].str[1])
        write_with(out / "compare.csv", table.drop(columns="ci").to_csv, index=False)
        write_compare_report(result, out)
    return result


def map_to_file(profiles: list[str | Path], out: str | Path, slices: bool = False) -> dict[str, Any]:
    """The benchmark map of ``profiles`` (profile.json files) as one self-contained HTML page ``out``."""
    from modalyze.analysis.benchmark_map import benchmark_map
    from modalyze.report.html import render_map

    out = output_file(out, inputs=tuple(profiles))
    result = benchmark_map(list(profiles), slices=slices)
    write_text(out, render_map(result))
    return result
