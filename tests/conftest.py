"""Shared fixtures: a tiny multimodal dataset written to disk (PNG images, CSV, YAML spec)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageDraw

from modalyze.settings import BUDGETS, cache_dir

if worker := os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n N`: N test processes share the cores
    import torch

    torch.set_num_threads(1)
    # each test process generates built-in datasets and decoded files into a cache of its own
    os.environ["MODALYZE_CACHE"] = str(cache_dir() / f"tests-{worker}")

# The "tiny" budget (the tiny_budget fixture): one epoch per expert, two folds, one shuffle, for the
# tests that check what a command runs, prints and writes rather than how well its experts learn.
TINY = dataclasses.replace(BUDGETS["fast"], max_epochs=1, min_steps=0, permutations=1, bootstrap=50, levels=(0.0, 1.0),
                           cv_folds=2)


@pytest.fixture
def tiny_budget(monkeypatch):
    monkeypatch.setitem(BUDGETS, "tiny", TINY)

COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def write_images_dataset(root: Path, rows: int = 80, seed: int = 0) -> Path:
    """Images of a red or blue disc, a text field, tabular columns; label = colour (from the image)."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(rows):
        color = ["red", "blue"][i % 2]
        image = Image.new("RGB", (16, 16), (240, 240, 240))
        x, y = rng.integers(2, 8, size=2)
        ImageDraw.Draw(image).ellipse([x, y, x + 6, y + 6], fill=COLORS[color])
        image.save(root / "img" / f"{i}.png")
        records.append({
            "path": f"img/{i}.png",
            "note": f"sample {i} {'warm' if color == 'red' else 'cool'} tone",
            "age": float(rng.normal(50, 10)),
            "sex": ["f", "m"][int(rng.integers(0, 2))],
            "lab_a": float(rng.normal()),
            "lab_b": float(rng.normal()),
            "kind": ["x", "y"][i % 4 // 2],
            "label": color,
        })
    pd.DataFrame(records).to_csv(root / "data.csv", index=False)
    spec = {
        "name": "tiny",
        "source": "data.csv",
        "target": "label",
        "modalities": {
            "image": {"kind": "image", "column": "path", "options": {"size": 16}},
            "note": {"kind": "text", "column": "note"},
            "patient": {"kind": "tabular", "columns": ["age", "sex", "lab_*"]},
        },
        "slices": ["kind"],
        "split": {"val": 0.2, "test": 0.2, "seed": 0},
    }
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root / "spec.yaml"


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    return write_images_dataset(tmp_path)


FAST = dict(max_epochs=2, patience=1, progress=False, dim=16)
