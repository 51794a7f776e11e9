"""Strengths and the verdict: the seed post's taxonomy, decided with intervals.

With chance c and best joint score J (the better of inter and i2m2):

    intra strength of m = (score_m − c) / (J − c)
    inter strength      = (J − max(best intra, additive)) / (J − c)

and a margin  δ = max(0.01, 0.05 · (J − c))  (one accuracy point, or 5% of the joint gain):

- the joint model beats chance      if the lower end of J's interval exceeds c + 0.01;
- modality m beats chance           if the lower end of score_m's interval exceeds c + δ;
- the interaction is measurable     if the lower end of the paired interval of
                                     J − max(best intra, additive) exceeds δ.

Verdict: ``neither`` if the joint model does not beat chance; else ``inter-dominant`` if no
modality beats chance; else ``both`` if the interaction is measurable; else ``intra-dominant``.

The verdict is withheld (``insufficient data``) when a comparison it rests on is undecided: the
threshold lies inside the interval and the interval is wider than ``UNDECIDED_WIDTH`` (fifteen
accuracy points), so the rows cannot tell the categories apart. From a few hundred test rows on,
intervals are narrower than that and every comparison is decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_GAIN = 0.01
RELATIVE_MARGIN = 0.05
UNDECIDED_WIDTH = 0.15
INSUFFICIENT = "insufficient data"

# What to do after each verdict (the report and the README show these).
NEXT_STEPS = {
    "intra-dominant": "One modality alone carries what the joint model knows. Check it for shortcuts (an image "
                      "watermark, a give-away word) before trusting it; a single-modality model is simpler to ship; "
                      "if you fuse, use i2m2, which keeps each modality's own expert.",
    "inter-dominant": "The label lives in the interaction: no modality alone predicts it. Use a fusion model "
                      "(inter or i2m2) and make sure every modality is present at prediction time; compare fusion "
                      "blocks with 'modalyze compare'.",
    "both": "Each modality helps alone and the combination adds more. Train i2m2: its intra experts keep what each "
            "modality says alone and its inter expert adds the interaction, so it degrades gracefully when a "
            "modality is missing ('modalyze robustness').",
    "neither": "The inputs do not predict the target on this data. Check the target column, the join of the "
               "modalities to the rows, and whether more rows or other inputs are needed before modelling.",
    INSUFFICIENT: "The test rows are too few to tell the categories apart: the intervals are wider than the "
                  "differences the verdict rests on. Label more rows, or run a larger budget (more repeats) and "
                  "read the scores with their intervals rather than a category.",
}


@dataclass
class Verdict:
    verdict: str
    reason: str
    margin: float


def strength(score: float, chance: float, joint: float) -> float:
    span = joint - chance
    return float((score - chance) / span) if span > 1e-9 else 0.0


def fmt(entry: dict[str, Any]) -> str:
    """A score with its interval: ``0.912 [0.901, 0.923]``."""
    return f"{entry['score']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"


def undecided(entry: dict[str, Any], threshold: float) -> bool:
    """Whether a wide interval straddles the threshold (the rows cannot say on which side it lies)."""
    lo, hi = entry["ci"]
    return lo <= threshold < hi and hi - lo > UNDECIDED_WIDTH


def decide(chance: float, joint: dict[str, Any], joint_name: str, intra: dict[str, dict[str, Any]],
           interaction: dict[str, Any], n_rows: int | None = None) -> Verdict:
    """Apply the rule above. ``joint``/``intra[m]``/``interaction`` are {"score", "ci"} dicts."""
    margin = max(MIN_GAIN, RELATIVE_MARGIN * (joint["score"] - chance))
    rows = f" on {n_rows} test rows" if n_rows is not None else ""
    withhold = lambda what: Verdict(INSUFFICIENT, f"Withheld: {what}{rows}, the interval is too wide to say "  # noqa: E731
                                    "on which side of the threshold it lies.", margin)
    if undecided(joint, chance + MIN_GAIN):
        return withhold(f"the joint model ({joint_name}, {fmt(joint)}) against chance ({chance:.3f}) + {MIN_GAIN:.2f}")
    if joint["ci"][0] <= chance + MIN_GAIN:
        return Verdict("neither", f"The joint model ({joint_name}, {fmt(joint)}) does not beat chance "
                       f"({chance:.3f}) by more than {MIN_GAIN:.2f}: the inputs do not predict the target.", margin)
    winners = [m for m, s in intra.items() if s["ci"][0] > chance + margin]
    losers = ", ".join(f"{m} {fmt(s)}" for m, s in intra.items() if m not in winners)
    unsure = [m for m, s in intra.items() if undecided(s, chance + margin)]
    if not winners and unsure:
        return withhold(f"{unsure[0]} alone ({fmt(intra[unsure[0]])}) against chance ({chance:.3f}) + {margin:.3f}")
    if not winners:
        return Verdict("inter-dominant", f"No modality alone beats chance ({chance:.3f}) by {margin:.3f} "
                       f"({losers}), but the joint model does ({joint_name}, {fmt(joint)}): the label lives in "
                       "the interaction.", margin)
    alone = ", ".join(f"{m} {fmt(intra[m])}" for m in winners)
    if undecided(interaction, margin):
        return withhold(f"the joint model's gain over the best single modality ({fmt(interaction)}) against "
                        f"the margin {margin:.3f}")
    if interaction["ci"][0] > margin:
        return Verdict("both", f"{alone} beat{'s' if len(winners) == 1 else ''} chance ({chance:.3f}) alone, and "
                       f"the joint model adds {fmt(interaction)} over the best single modality and the additive "
                       f"product (margin {margin:.3f}): intra- and inter-modality dependencies both matter.", margin)
    return Verdict("intra-dominant", f"{alone} beat{'s' if len(winners) == 1 else ''} chance ({chance:.3f}) alone, "
                   f"and the joint model adds only {fmt(interaction)} over the best single modality and the additive "
                   f"product (not above the margin {margin:.3f}): the interaction adds nothing measurable.", margin)
