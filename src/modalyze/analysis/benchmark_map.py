"""The benchmark map: studied datasets (or groupings, or slices) as points in the plane of intra- vs
inter-modality dependency strength, as in the seed post's figure.

For a profile with chance c and best joint score J (the better of inter and i2m2):

    x = intra strength = (best intra score − c) / (J − c)       (how far one modality alone gets)
    y = inter strength = interaction gain / (J − c)              (what only the combination adds)

Each interval maps the matching score interval through the same affine map (J taken as fixed), and
the point is coloured by the profile's verdict. Strengths are comparable across datasets because
each is a share of that dataset's own gain over chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modalyze.errors import ModalyzeError


def map_point(name: str, profile: dict[str, Any]) -> dict[str, Any]:
    """One point of the map from a profile (or a slice summary, which has the same keys)."""
    chance = profile["chance"]
    joint = max(profile["inter"]["score"], profile["i2m2"]["score"])
    span = joint - chance
    best = max(profile["intra"], key=lambda m: profile["intra"][m]["score"])
    scale = (lambda v: (v - chance) / span) if span > 1e-9 else (lambda v: 0.0)  # noqa: E731
    gain = (lambda v: v / span) if span > 1e-9 else (lambda v: 0.0)  # noqa: E731
    intra, interaction = profile["intra"][best], profile["interaction"]
    return {"name": name, "verdict": profile["verdict"], "best_intra": best, "n": profile.get("n", profile.get("n_test")),
            "intra": {"score": scale(intra["score"]), "ci": [scale(intra["ci"][0]), scale(intra["ci"][1])]},
            "inter": {"score": gain(interaction["score"]),
                      "ci": [gain(interaction["ci"][0]), gain(interaction["ci"][1])]}}


def benchmark_map(profiles: list[str | Path | dict[str, Any]], slices: bool = False,
                  names: list[str] | None = None) -> dict[str, Any]:
    """Points for profiles (``profile.json`` paths or dicts), one per dataset; with ``slices`` also one
    per scored slice value (labelled ``dataset: column=value``)."""
    from modalyze.analysis.profile import Profile

    if not profiles:
        raise ModalyzeError("map: give at least one profile.json")
    points = []
    for i, item in enumerate(profiles):
        profile = item if isinstance(item, dict) else Profile.load(item).to_dict()
        name = names[i] if names else profile["dataset"]
        points.append(map_point(name, profile))
        if slices:
            points += [map_point(f"{name}: {column}={value}", {**summary, "n": summary["n"]})
                       for column, values in profile.get("slices", {}).items()
                       for value, summary in values.items() if not summary.get("few_rows")]
    return {"points": points, "axes": {"x": "intra-modality dependency strength", "y": "inter-modality dependency strength"}}
