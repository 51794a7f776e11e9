"""A modality kind is one file: this module declares a toy kind (``counts``: a bag of small integers per
row) — featurizer, encoder, options, a corruption and an inference rule — and the house infers it,
trains it, analyzes it, saves and reloads it, corrupts it and checks its options, with no other file
changed."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import Field
from torch import nn

from modalyze.data.featurizers import Featurizer, Features, empty_cells
from modalyze.encoders.base import EncoderOutput, mlp, single_token
from modalyze.kind import ENCODERS, FEATURIZERS, KINDS, Corruption, Kind, register_kind
from modalyze.options import Count
from tests.test_bad_input import run_cli


class CountsFeaturizer(Featurizer):
    """Cells of space-separated integers ("3 0 3 1") -> a normalised histogram over ``bins`` values [N, bins]."""

    option_types = {"bins": Annotated[int, Field(ge=2, le=64)]}

    def fit(self, frame: pd.DataFrame) -> CountsFeaturizer:
        self.bins_ = int(self.options.get("bins", 8))
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"bins": self.bins_}

    def transform(self, frame: pd.DataFrame) -> Features:
        cells = frame[self.columns[0]]
        present = ~empty_cells(cells)
        hist = np.zeros((len(frame), self.bins_), dtype=np.float32)
        for row, (cell, ok) in enumerate(zip(cells.tolist(), present)):
            if ok:
                values = np.clip([int(v) for v in str(cell).split()], 0, self.bins_ - 1)
                hist[row] = np.bincount(values, minlength=self.bins_) / len(values)
        return Features({"hist": torch.from_numpy(hist)}, torch.from_numpy(present))


class CountsEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, hidden: Count = 32):
        super().__init__()
        self.net = mlp([int(info["bins"]), hidden, dim])

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        return single_token(self.net(x["hist"]))  # pooled [B, D]


def _flattened(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    feats = featurizer.transform(frame)
    hist = feats.tensors["hist"]  # [N, bins]
    uniform = torch.full_like(hist, 1 / hist.shape[1])
    return Features({"hist": (1 - level) * hist + level * uniform}, feats.present)


COUNTS = Kind("counts", CountsFeaturizer, CountsEncoder, one_column=True,
              corruptions=(Corruption("flattened", "every histogram uniform: no information left", _flattened,
                                      random=False),),
              recognise=lambda cells: bool(cells.astype(str).str.fullmatch(r"\d+( \d+)+").all()))


@pytest.fixture
def counts_kind(monkeypatch, tiny_budget):
    """``counts`` registered for one test (the registries are restored after it)."""
    for registry in (KINDS, FEATURIZERS, ENCODERS):
        monkeypatch.setattr(registry, "_entries", dict(registry.entries))
    register_kind(COUNTS)


def write_baskets(path, rows: int = 1200, seed: int = 0):
    """A bag of 6 integers per row whose most common value is the label (0, 1 or 2); a noise column."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    baskets = [" ".join(map(str, np.concatenate([[y] * 3, rng.integers(0, 8, 3)]))) for y in labels]
    frame = pd.DataFrame({"basket": baskets, "noise": rng.normal(size=rows), "y": labels})
    frame.to_csv(path, index=False)
    return path


def test_a_kind_in_one_file_is_inferred_trained_analyzed_and_reloaded(counts_kind, tmp_path, capsys):
    table = write_baskets(tmp_path / "baskets.csv")
    code, out, err = run_cli(["analyze", str(table), "--target", "y", "--budget", "quick", "--out",
                              str(tmp_path / "profile"), "--no-progress"], capsys)
    assert code == 0, err
    assert "kind: counts" in out + err, "the inferred spec reads the bags as the new kind"
    profile = json.loads((tmp_path / "profile" / "profile.json").read_text())
    assert profile["intra"]["basket"]["score"] > 0.8, "the counts expert reads its histograms"
    assert profile["intra"]["tabular"]["score"] < 0.5, "noise stays near chance (1/3)"
    run = tmp_path / "run"
    code, _, err = run_cli(["train", str(table), "--target", "y", "--model", "intra:basket", "--max-epochs", "5",
                            "--no-progress", "--out", str(run)], capsys)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.8
    code, _, err = run_cli(["predict", str(run), str(table), "--out", str(tmp_path / "pred.csv")], capsys)
    assert code == 0, err
    assert (pd.read_csv(tmp_path / "pred.csv")["prediction"] == pd.read_csv(table)["y"]).mean() > 0.8
    code, _, err = run_cli(["robustness", str(run), "--noise-levels", "0,1", "--bootstrap", "50", "--out",
                            str(tmp_path / "robust")], capsys)
    assert code == 0, err
    curves = json.loads((tmp_path / "robust" / "robustness.json").read_text())
    assert "flattened" in json.dumps(curves), "the kind's own corruption is on the robustness curves"


def test_a_kind_in_one_file_has_typed_options_in_specs_and_the_schema(counts_kind, tmp_path, capsys):
    table = write_baskets(tmp_path / "baskets.csv", rows=60)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"source: {table.name}\ntarget: y\nmodalities:\n"
                    "  basket: {kind: counts, column: basket, options: {bins: 99}}\n"
                    "  noise: {kind: tabular, column: noise}\n")
    code, _, err = run_cli(["train", str(spec), "--max-epochs", "1", "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and err.count("\n") == 1 and "bins" in err and "99" in err, err
    code, out, err = run_cli(["spec-schema"], capsys)
    assert code == 0 and "CountsOptions" in out and "bins" in out, err
    spec.write_text(spec.read_text().replace("bins: 99", "bins: 8").replace("basket, options", "[basket, noise], options")
                    .replace("column: [basket, noise]", "columns: [basket, noise]"))
    code, _, err = run_cli(["train", str(spec), "--max-epochs", "1", "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "reads exactly one column" in err, err
