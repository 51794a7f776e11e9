"""The self-contained HTML report of a profile: inline SVG charts and CSS, no scripts, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from modalyze.analysis.verdict import NEXT_STEPS
from modalyze.outputs import write_text
from modalyze.report import charts

_ENV = Environment(loader=PackageLoader("modalyze", "report/templates"), autoescape=select_autoescape(default=True))


def render_profile(profile: dict[str, Any]) -> str:
    """HTML text for a profile dict (every user string is escaped by the template engine)."""
    figures = {
        "scores": charts.scores_chart(profile),
        "shuffle": charts.shuffle_chart(profile),
        "pid": {pair: charts.pid_chart(pair, entry) for pair, entry in profile["pid"].items()},
        "curves": charts.curves_chart(profile["curves"]),
        "robustness": charts.robustness_charts(profile["robustness"]) if profile.get("robustness") else [],
    }
    config = {"config": profile["config"], "versions": profile["versions"]}
    return _ENV.get_template("profile.html.j2").render(
        p=profile, charts=figures, next_steps=NEXT_STEPS[profile["verdict"]], max_matrix=MAX_MATRIX_CLASSES,
        worst=_worst_classes(profile.get("confusion") or {}), config_json=json.dumps(config, indent=2))


MAX_MATRIX_CLASSES = 20  # above this the report lists the classes with the lowest recall instead of the matrix


def _worst_classes(confusion: dict[str, Any], limit: int = 30) -> list[dict[str, Any]]:
    """Per class: test rows, recall and the class its rows are most often predicted as; lowest recall first."""
    rows = []
    for i, (name, counts) in enumerate(zip(confusion.get("classes", []), confusion.get("matrix", []))):
        n = sum(counts)
        wrong = max((c for j, c in enumerate(counts) if j != i), default=0)
        mistaken = next((confusion["classes"][j] for j, c in enumerate(counts) if j != i and c == wrong), None)
        rows.append({"name": name, "n": n, "recall": counts[i] / n if n else 0.0,
                     "mistaken": mistaken if wrong else None})
    return sorted(rows, key=lambda r: (r["recall"], -r["n"]))[:limit]


def render_robustness(result: dict[str, Any]) -> str:
    """HTML text for the result of ``modalyze robustness``."""
    return _ENV.get_template("robustness.html.j2").render(r=result, charts=charts.robustness_charts(result))


def render_compare(result: dict[str, Any]) -> str:
    """HTML text for the result of ``modalyze compare``."""
    return _ENV.get_template("compare.html.j2").render(c=result, chart=charts.compare_chart(result))


def render_groupings(result: dict[str, Any]) -> str:
    """HTML text comparing the profiles of alternative groupings."""
    return _ENV.get_template("groupings.html.j2").render(g=result)


def render_align(metrics: dict[str, Any], history: dict[str, Any], embeddings: dict[str, Any]) -> str:
    """HTML text for an aligner run: loss and temperature curves, metrics, a 2-D projection."""
    figures = {"curves": charts.align_curves(history["epochs"]), "projection": charts.projection_chart(embeddings)}
    return _ENV.get_template("align.html.j2").render(m=metrics, charts=figures)


def render_map(result: dict[str, Any]) -> str:
    """HTML text for the benchmark map (intra vs inter dependency strength)."""
    return _ENV.get_template("map.html.j2").render(m=result, chart=charts.map_chart(result))


def render_probe(result: dict[str, Any]) -> str:
    """HTML text comparing the probed models side by side."""
    return _ENV.get_template("probe.html.j2").render(r=result)


def write_probe_report(result: dict[str, Any], directory: str | Path) -> Path:
    return _write(render_probe(result), Path(directory) / "probe.html")


def _write(text: str, path: Path) -> Path:
    write_text(path, text)
    return path


def write_report(profile: dict[str, Any], directory: str | Path) -> Path:
    return _write(render_profile(profile), Path(directory) / "report.html")


def write_robustness_report(result: dict[str, Any], directory: str | Path) -> Path:
    return _write(render_robustness(result), Path(directory) / "robustness.html")


def write_compare_report(result: dict[str, Any], directory: str | Path) -> Path:
    return _write(render_compare(result), Path(directory) / "compare.html")


def write_groupings_report(result: dict[str, Any], directory: str | Path) -> Path:
    return _write(render_groupings(result), Path(directory) / "groupings.html")


def write_align_report(metrics: dict[str, Any], history: dict[str, Any], embeddings: dict[str, Any],
                       directory: str | Path) -> Path:
    return _write(render_align(metrics, history, embeddings), Path(directory) / "align.html")
