"""Charts for the report, drawn with matplotlib and returned as inline SVG text (no files, no JS)."""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"text.parse_math": False,  # user strings ($, _, ^) are plain text, never mathtext
                     "svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False})
PALETTE = {"intra": "#4C78A8", "additive": "#72B7B2", "inter": "#F58518", "i2m2": "#54A24B",
           "i2m2-shared": "#B279A2", "floor": "#BAB0AC"}


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight",
                metadata={"Creator": None, "Date": None, "Format": None, "Type": None})  # no RDF block
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inlined in HTML


def _errors(entries: list[dict[str, Any]]) -> list[list[float]]:
    return [[e["score"] - e["ci"][0] for e in entries], [e["ci"][1] - e["score"] for e in entries]]


def _axis_from(ax: plt.Axes, entries: list[dict[str, Any]], chance: float | None = None) -> str:
    """Scores on an axis from just below chance (or the lowest interval, if lower) to 1, so that scores
    near each other on a table with a high chance still look apart; returns the note for the label."""
    low = min([e["ci"][0] for e in entries] + ([chance] if chance is not None else []))
    start = max(0.0, math.floor((low - 0.02) * 20) / 20)  # the 0.05 step below
    ax.set_xlim(start, 1)
    return f"; axis from {start:.2f}" if start > 0 else ""


def scores_chart(profile: dict[str, Any]) -> str:
    """Horizontal bars: each intra expert, additive, inter and i2m2 with 95% intervals; chance as a line."""
    rows = [(f"intra: {m}", v, "intra") for m, v in profile["intra"].items()]
    rows += [("additive (intra product)", profile["additive"], "additive"), ("inter", profile["inter"], "inter"),
             ("i2m2", profile["i2m2"], "i2m2")]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    labels = [r[0] for r in rows]
    entries = [r[1] for r in rows]
    ax.barh(labels, [e["score"] for e in entries], xerr=_errors(entries), color=[PALETTE[r[2]] for r in rows],
            capsize=3, error_kw={"elinewidth": 1})
    ax.axvline(profile["chance"], color="#333", linestyle="--", linewidth=1, label=f"chance {profile['chance']:.3f}")
    ax.invert_yaxis()
    ax.set_xlabel(f"test {profile['metric']} (bars: 95% interval{_axis_from(ax, entries, profile['chance'])})")
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
    return _svg(fig)


def shuffle_chart(profile: dict[str, Any]) -> str:
    """Accuracy of inter and i2m2 with each modality (or all) permuted across rows, or a modality's
    order shuffled within each row, against the unshuffled score."""
    keys = list(profile["shuffle"])
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(keys) + 1.2))
    height = 0.38
    for offset, expert in ((-height / 2, "inter"), (height / 2, "i2m2")):
        entries = [profile["shuffle"][k] if expert == "inter" else profile["shuffle"][k]["i2m2"] for k in keys]
        ax.barh([i + offset for i in range(len(keys))], [e["score"] for e in entries], height, xerr=_errors(entries),
                color=PALETTE[expert], capsize=3, label=f"{expert} (unshuffled {profile[expert]['score']:.3f})")
    ax.set_yticks(range(len(keys)), [profile["shuffle"][k].get("label", f"shuffle {k}") for k in keys])
    ax.axvline(profile["chance"], color="#333", linestyle="--", linewidth=1, label="chance")
    ax.invert_yaxis()
    shuffled = [e for k in keys for e in (profile["shuffle"][k], profile["shuffle"][k]["i2m2"])]
    ax.set_xlabel(f"test {profile['metric']} with the condition applied{_axis_from(ax, shuffled, profile['chance'])}")
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, fontsize=8, ncols=3)
    return _svg(fig)


def pid_chart(pair: str, entry: dict[str, Any]) -> str:
    """Redundancy, uniqueness and synergy in bits, beside the estimator's noise (two halves of the rows)."""
    a, b = pair.split("|")
    parts = ["redundancy", f"unique {a}", f"unique {b}", "synergy"]
    real = [entry["redundancy"], entry["unique"][a], entry["unique"][b], entry["synergy"]]
    floor_ = entry["noise_floor"]
    noise = [floor_["redundancy"], floor_["unique"][a], floor_["unique"][b], floor_["synergy"]]
    fig, ax = plt.subplots(figsize=(6, 2.4))
    xs = range(len(parts))
    ax.bar([x - 0.2 for x in xs], real, 0.4, color=PALETTE["inter"], label="measured")
    ax.bar([x + 0.2 for x in xs], noise, 0.4, color=PALETTE["floor"], label="noise (difference between two halves of the rows)")
    ax.set_xticks(list(xs), parts)
    ax.set_ylabel("bits")
    ax.set_title(f"{a} and {b}", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def curves_chart(curves: dict[str, list[dict[str, float]]]) -> str:
    """Validation loss per epoch of every expert trained in epochs (first seed); "" when none was (flat
    families are fitted, not trained epoch by epoch)."""
    if not any(curves.values()):
        return ""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for name, epochs in curves.items():
        if epochs:
            ax.plot([e["epoch"] + 1 for e in epochs], [e["val_loss"] for e in epochs], marker="o", markersize=3,
                    label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def _expert_style(name: str) -> dict[str, Any]:
    """intra dotted, joint experts solid, anything else (a separate reference run) grey dashed."""
    family = name.split(":", 1)[0]
    if family not in PALETTE:
        return {"color": PALETTE["floor"], "linestyle": "--"}
    return {"color": PALETTE[family], "linestyle": ":" if family == "intra" else "-"}


def robustness_charts(robustness: dict[str, Any]) -> list[str]:
    """One figure per modality: score against corruption level, a panel per corruption, a line per expert."""
    by_modality: dict[str, list[dict[str, Any]]] = {}
    for entry in robustness["corruptions"]:
        by_modality.setdefault(entry["modality"], []).append(entry)
    levels = robustness["levels"]
    figures = []
    for modality, entries in by_modality.items():
        fig, axes = plt.subplots(1, len(entries), figsize=(3.2 * len(entries) + 0.6, 2.8), squeeze=False, sharey=True)
        for ax, entry in zip(axes[0], entries):
            for name, ys in entry["curves"].items():
                ax.plot(levels, ys, marker="o", markersize=3, label=name, **_expert_style(name))
            ax.set_title(f"{modality}: {entry['corruption']}", fontsize=10)
            ax.set_xlabel("level")
            ax.set_ylim(0, 1)
        axes[0][0].set_ylabel("test accuracy")
        if axes[0][-1].get_legend_handles_labels()[0]:
            axes[0][-1].legend(frameon=False, fontsize=8, loc="lower left")
        figures.append(_svg(fig))
    return figures


def compare_chart(result: dict[str, Any]) -> str:
    """Test score with 95% interval per fusion, its models (inter, i2m2, i2m2-shared) side by side."""
    fusions = list(dict.fromkeys(r["fusion"] for r in result["rows"]))
    models = list(dict.fromkeys(r["model"] for r in result["rows"]))
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(models) * len(fusions) + 1.2))
    height = 0.8 / len(models)
    for k, model in enumerate(models):
        entries = [next(r for r in result["rows"] if r["fusion"] == f and r["model"] == model) for f in fusions]
        ax.barh([i + (k - (len(models) - 1) / 2) * height for i in range(len(fusions))], [e["score"] for e in entries],
                height, xerr=_errors(entries), color=PALETTE[model], capsize=3, label=model)
    ax.set_yticks(range(len(fusions)), fusions)
    ax.invert_yaxis()
    ax.set_xlabel(f"test {result['metric']} (bars: 95% interval{_axis_from(ax, result['rows'])})")
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, ncols=2)
    return _svg(fig)


def align_curves(epochs: list[dict[str, float]]) -> str:
    """Training and validation loss per epoch, and the logit scale (1 / temperature) beside them."""
    fig, (loss_ax, scale_ax) = plt.subplots(1, 2, figsize=(8, 2.8))
    x = [e["epoch"] + 1 for e in epochs]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        loss_ax.plot(x, [e.get(key, float("nan")) for e in epochs], marker="o", markersize=3, label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("contrastive loss")
    loss_ax.legend(frameon=False, fontsize=8)
    scale_ax.plot(x, [e.get("logit_scale", float("nan")) for e in epochs], marker="o", markersize=3,
                  color=PALETTE["inter"])
    scale_ax.set_xlabel("epoch")
    scale_ax.set_ylabel("logit scale (1 / temperature)")
    return _svg(fig)


def projection_chart(embeddings: dict[str, Any], limit: int = 500) -> str:
    """The first two principal components of the test embeddings, one colour per modality."""
    import numpy as np
    from sklearn.decomposition import PCA

    names = list(embeddings)
    parts = [np.asarray(embeddings[m])[:limit] for m in names]
    points = PCA(2, random_state=0).fit_transform(np.concatenate(parts))
    fig, ax = plt.subplots(figsize=(5, 4))
    start = 0
    colors = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#E45756"]
    for i, (name, part) in enumerate(zip(names, parts)):
        ax.scatter(points[start:start + len(part), 0], points[start:start + len(part), 1], s=6, alpha=0.6,
                   color=colors[i % len(colors)], label=name)
        start += len(part)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(frameon=False, fontsize=8, markerscale=2)
    return _svg(fig)


VERDICT_COLORS = {"both": "#54A24B", "intra-dominant": "#4C78A8", "inter-dominant": "#F58518", "neither": "#888888",
                  "insufficient data": "#BBBBBB"}


def map_chart(result: dict[str, Any]) -> str:
    """The benchmark map: intra strength (x) against inter strength (y), 95% intervals, colour = verdict."""
    fig, ax = plt.subplots(figsize=(7, 5.2))
    for verdict, color in VERDICT_COLORS.items():
        points = [p for p in result["points"] if p["verdict"] == verdict]
        if not points:
            continue
        ax.errorbar([p["intra"]["score"] for p in points], [p["inter"]["score"] for p in points],
                    xerr=_errors([p["intra"] for p in points]), yerr=_errors([p["inter"] for p in points]),
                    fmt="o", color=color, ecolor=color, elinewidth=1, capsize=2, label=verdict, markersize=7)
        for p in points:
            ax.annotate(p["name"], (p["intra"]["score"], p["inter"]["score"]), textcoords="offset points",
                        xytext=(6, 4), fontsize=8)
    ax.axhline(0, color="#bbb", linewidth=0.8)
    ax.axvline(0, color="#bbb", linewidth=0.8)
    ax.set_xlabel(result["axes"]["x"] + " (best single modality, share of the joint gain)")
    ax.set_ylabel(result["axes"]["y"] + " (interaction gain, share)")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    return _svg(fig)
