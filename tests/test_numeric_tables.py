"""A table whose tabular modalities hold only numbers — the most common table there is — runs to a
verdict, through a spec and through --target, on the cross-validated (40 rows) and the held-out
(6,000 rows) paths. (Every tabular fixture once had a categorical column, and the baseline check
ended in a traceback on these tables.)"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from modalyze.analysis import analyze
from modalyze.families.trees import GradientBoostedTrees
from tests.generated import Case, write_case
from tests.test_bad_input import run_cli


def numeric_views(rows: int, seed: int = 0) -> pd.DataFrame:
    """Two views of three numbers each; the label is the sign of a[0] + b[0] (each view knows half)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(rows, 3)), rng.normal(size=(rows, 3))
    frame = pd.DataFrame(np.c_[a, b].round(4), columns=["a1", "a2", "a3", "b1", "b2", "b3"])
    frame["y"] = np.where(a[:, 0] + b[:, 0] > 0, "up", "down")
    return frame


@pytest.mark.parametrize("rows,budget,declare,experts", [(40, "fast", "spec", "auto"), (40, "quick", "target", "all"),
                                                          (6000, "quick", "target", "auto"), (6000, "quick", "target", "all")])
def test_numbers_only_tables_run_to_a_verdict(rows, budget, declare, experts, tmp_path, capsys):
    """``auto`` fits the cheap families only on these small all-numeric tables; ``all`` trains neural experts too."""
    numeric_views(rows).to_csv(tmp_path / "t.csv", index=False)
    if declare == "spec":
        spec = {"name": "numbers", "source": "t.csv", "target": "y",
                "modalities": {"a": {"kind": "tabular", "columns": ["a*"]}, "b": {"kind": "tabular", "columns": ["b*"]}}}
        (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
        data = [str(tmp_path / "s.yaml")]
    else:
        data = [str(tmp_path / "t.csv"), "--target", "y", "--modality", "a=a*:tabular", "--modality", "b=b*:tabular"]
    code, out, err = run_cli(["analyze", *data, "--budget", budget, "--experts", experts, "--no-progress",
                              "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    profile = json.loads((tmp_path / "r" / "profile.json").read_text())
    trained = set(profile["baseline"]["trained"].values())
    assert ("neural" in trained) == (experts == "all") and profile["config"]["experts"] == {"auto": "cheap"}.get(experts, experts)
    assert set(profile["intra"]) == {"a", "b"} and f"verdict: {profile['verdict']}" in out
    assert profile["verdict"] in ("intra-dominant", "both", "insufficient data")
    assert profile["baseline"]["intra"]["a"]["score"] > profile["chance"]  # the baseline ran on numbers only
    if rows >= 6000:  # each view alone knows the sign of its half (about 0.75); their product, the sign of
        # the sum: the log-odds add up, so the additive product is as good as a joint model (no interaction)
        assert profile["verdict"] == "intra-dominant" and profile["additive"]["score"] > 0.9
        assert 0.65 < profile["intra"]["a"]["score"] < 0.85


def test_a_cheap_study_with_several_seeds_reuses_the_one_fit():
    """The standard budget's three seeds on a numbers-only table: the flat experts do not depend on the
    seed, so each seed holds the same fitted expert, and the study still runs to a verdict."""
    profile = analyze(numeric_views(1500), target="y", modalities=["a=a*:tabular", "b=b*:tabular"], budget="standard",
                      log=lambda _: None)
    assert profile.config["budget_settings"]["seeds"] == 3 and profile.config["experts"] == "cheap"
    assert "neural" not in profile.baseline["trained"].values() and profile.verdict == "intra-dominant"


# Every tabular variant of the generated input space, the sweep's class counts and both study paths
# (cross-validated below 1,000 rows, held out above), through a cheap study end to end.
ALL_TABULAR = [
    Case(("tabular:numeric", "tabular:one-column"), rows=1200, classes=40, labels="words"),
    Case(("tabular:categorical", "tabular:boolean"), rows=40, classes=4, imbalanced=True, missing=True),
    Case(("tabular:codes", "tabular:mixed", "tabular:one-column"), rows=150, classes=12, labels="float", missing=True),
]


@pytest.mark.parametrize("case", ALL_TABULAR, ids=[c.name for c in ALL_TABULAR])
def test_every_tabular_variant_runs_a_cheap_study_to_a_verdict(case, tmp_path, tiny_budget):
    written = write_case(case, tmp_path)
    profile = analyze(written.frame, target="label", modalities=written.modalities, budget="tiny", log=lambda _: None)
    assert profile.config["experts"] == "cheap" and "neural" not in profile.baseline["trained"].values()
    assert set(written.names) <= set(profile.intra) and profile.verdict
    assert profile.inter["score"] > profile.chance  # every modality carries a noisy view of the label


def test_a_cheap_study_runs_when_trees_are_unsuitable_in_every_fold(monkeypatch):
    """Trees refuse every input (as on tables too wide for them): each expert is linear, the study goes on."""
    monkeypatch.setattr(GradientBoostedTrees, "MAX_WIDTH", 0)
    profile = analyze(numeric_views(40), target="y", modalities=["a=a*:tabular", "b=b*:tabular"], budget="fast",
                      log=lambda _: None)
    experts = ("intra:a", "intra:b", "inter")
    assert {profile.baseline["trained"][e] for e in experts} == {"linear"} and profile.verdict
    assert {profile.baseline["chosen"][e] for e in experts} == {"linear"}
