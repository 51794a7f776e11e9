"""Alternative groupings of the same columns into modalities, each studied, compared side by side.

A groupings file maps a grouping's name to a ``modalities:`` mapping (views allowed):

    groupings:
      rgb-channels:
        image: {kind: image, column: image, view: channels}
        question: {kind: text, column: question}

The spec's own grouping is studied too, as ``declared``. The recommendation is the grouping whose
joint model (the better of inter and i2m2) has the highest lower interval bound; a grouping with
fewer modalities wins when its joint score lies inside that grouping's interval (simpler, no worse).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from modalyze.analysis.profile import Profile
from modalyze.analysis.study import analyze
from modalyze.data import load_dataset
from modalyze.errors import ModalyzeError
from modalyze.log import Log, info
from modalyze.spec import ModalitySpec, check_name, parse_modalities, read_yaml

DECLARED = "declared"


def load_groupings(path: str | Path) -> dict[str, dict[str, ModalitySpec]]:
    """Read and validate a groupings YAML file."""
    raw = read_yaml(path, "groupings")
    groupings = raw.get("groupings") if isinstance(raw, dict) else None
    if not isinstance(groupings, dict) or not groupings:
        raise ModalyzeError(f"{path}: expected 'groupings:' mapping names to modalities mappings")
    out = {}
    for name, modalities in groupings.items():
        if str(name) == DECLARED:
            raise ModalyzeError(f"{path}: the name '{DECLARED}' is reserved for the spec's own grouping")
        if not isinstance(modalities, dict) or len(modalities) < 1:
            raise ModalyzeError(f"{path}: grouping '{name}' must map modality names to {{kind, column}} entries")
        out[check_name(name, "grouping", str(path))] = parse_modalities(modalities, f"{path}: grouping '{name}'")
    return out


def analyze_groupings(data: str | Path, groupings: dict[str, dict[str, ModalitySpec]], out: str | Path,
                      seed: int = 0, dataset_options: dict[str, Any] | None = None,
                      log: Log = info, **options: Any) -> dict[str, Any]:
    """Run the study for the declared grouping and each alternative; profiles go to ``out/<name>/``."""
    spec, _ = load_dataset(data, seed=seed, **(dataset_options or {}))
    profiles: dict[str, Profile] = {}
    for name, modalities in [(DECLARED, spec.modalities), *groupings.items()]:
        variant = replace(spec, modalities=modalities)
        log(f"grouping {name}: {', '.join(modalities)}")
        profiles[name] = analyze(variant, out=Path(out) / name, seed=seed, log=log, **options)
    best, reason = recommend(profiles)
    return {"dataset": spec.name, "profiles": {n: p.to_dict() for n, p in profiles.items()},
            "recommended": best, "reason": reason}


def joint(profile: Profile) -> dict[str, Any]:
    """The better of inter and i2m2."""
    return max((profile.inter, profile.i2m2), key=lambda s: s["score"])


def recommend(profiles: dict[str, Profile]) -> tuple[str, str]:
    """The grouping to use, and why (see the module docstring for the rule)."""
    best = max(profiles, key=lambda n: joint(profiles[n])["ci"][0])
    lo, hi = joint(profiles[best])["ci"]
    simpler = [n for n in profiles if len(profiles[n].intra) < len(profiles[best].intra)
               and lo <= joint(profiles[n])["score"] <= hi]
    if simpler:
        chosen = min(simpler, key=lambda n: len(profiles[n].intra))
        return chosen, (f"'{chosen}' ({len(profiles[chosen].intra)} modalities) scores "
                        f"{joint(profiles[chosen])['score']:.3f}, inside the interval of the best grouping "
                        f"'{best}' ({lo:.3f}–{hi:.3f}): the simpler grouping loses nothing measurable")
    return best, (f"'{best}' has the highest lower bound for its joint model "
                  f"({joint(profiles[best])['score']:.3f}, interval {lo:.3f}–{hi:.3f}); "
                  f"its verdict is {profiles[best].verdict}")
