"""Small data: the dependency study against a scikit-learn study on the same split, measured side by side.

    python benchmarks/small_data.py                      # a generated 2,000-row table, then digits
    python benchmarks/small_data.py --rows 5000 --datasets table

The generated table has two numeric views (16 columns each) and a short text column; the label's
two bits are read from view a and view b, and the text repeats view b's bit with noise. The
scikit-learn study is what a scikit-learn user writes: a logistic regression per modality (text
through TF-IDF) and one on all modalities, fitted on the study's training rows and scored on its
test rows. Printed: both studies' wall time and their ratio, and each score side by side.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modalyze.analysis import analyze
from modalyze.data import load_dataset
from modalyze.data.table import SPLIT_COLUMN

WORDS = {0: ["calm", "quiet", "still", "soft"], 1: ["loud", "bright", "sharp", "fast"]}
FILLER = ["the", "a", "item", "looks", "very", "rather", "today", "again"]


def write_table(root: Path, rows: int, seed: int = 0) -> Path:
    """A spec and its CSV: views a and b (16 numbers each) and a short text; label = 2·bit_a + bit_b."""
    rng = np.random.default_rng(seed)
    bit_a, bit_b = rng.integers(0, 2, rows), rng.integers(0, 2, rows)
    direction_a, direction_b = rng.standard_normal(16), rng.standard_normal(16)
    a = np.outer(2 * bit_a - 1, direction_a / np.linalg.norm(direction_a)) * 1.2 + rng.standard_normal((rows, 16))
    b = np.outer(2 * bit_b - 1, direction_b / np.linalg.norm(direction_b)) * 1.2 + rng.standard_normal((rows, 16))
    noisy = np.where(rng.random(rows) < 0.8, bit_b, 1 - bit_b)
    text = [" ".join([*rng.choice(FILLER, 3), rng.choice(WORDS[int(v)])]) for v in noisy]
    frame = pd.DataFrame({**{f"a_{j}": a[:, j] for j in range(16)}, **{f"b_{j}": b[:, j] for j in range(16)},
                          "note": text, "label": 2 * bit_a + bit_b})
    frame.to_csv(root / "table.csv", index=False)
    spec = {"name": f"table-{rows}", "source": "table.csv", "target": "label",
            "modalities": {"a": {"kind": "vector", "columns": ["a_*"]}, "b": {"kind": "vector", "columns": ["b_*"]},
                           "note": {"kind": "text", "columns": ["note"]}}}
    (root / "table.yaml").write_text(yaml.safe_dump(spec))
    return root / "table.yaml"


def sklearn_study(data: str | Path) -> tuple[dict[str, float], float]:
    """Logistic regression per modality and on all of them, on the study's own split; scores and seconds."""
    start = time.perf_counter()
    spec, table = load_dataset(data)
    frame = table.frame
    train, test = frame[frame[SPLIT_COLUMN] == "train"], frame[frame[SPLIT_COLUMN] == "test"]

    def transformer(m: str):
        columns = table.columns[m]
        if spec.modalities[m].kind == "text":
            joined = FunctionTransformer(lambda x: x.astype(str).agg(" ".join, axis=1))
            return make_pipeline(joined, TfidfVectorizer()), columns
        return StandardScaler(), columns

    scores = {}
    for name, members in [*((m, [m]) for m in spec.modalities), ("joint", list(spec.modalities))]:
        features = ColumnTransformer([(m, *transformer(m)) for m in members])
        model = make_pipeline(features, LogisticRegression(max_iter=2000))
        model.fit(train, train[spec.target].astype(str))
        scores[name] = float((model.predict(test) == test[spec.target].astype(str)).mean())
    return scores, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--datasets", default="table,digits")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, torch threads {__import__('torch').get_num_threads()}, budget fast")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets.split(","):
            data = write_table(Path(scratch), args.rows) if name == "table" else name
            start = time.perf_counter()
            profile = analyze(data, budget="fast", progress=False, log=lambda _: None)
            ours_s = time.perf_counter() - start
            theirs, theirs_s = sklearn_study(data)
            print(f"\n{profile.dataset}: {profile.n_test} test rows; verdict {profile.verdict}")
            print(f"analyze --budget fast: {ours_s:7.1f} s   scikit-learn study: {theirs_s:6.2f} s   "
                  f"ratio {ours_s / theirs_s:.0f}x")
            ours = {**{m: e["score"] for m, e in profile.intra.items()},
                    "joint": max(profile.inter["score"], profile.i2m2["score"])}
            print(f"{'':8} {'modalyze':>9} {'sklearn':>8} {'difference':>10}")
            for key, score in ours.items():
                print(f"{key:8} {score:9.4f} {theirs[key]:8.4f} {score - theirs[key]:+10.4f}")
            worst = min(ours[k] - theirs[k] for k in ours)
            print(f"check: fast study <= 60 s: {'PASS' if ours_s <= 60 else 'FAIL'}; "
                  f"no score worse than scikit-learn's by more than 0.02: {'PASS' if worst >= -0.02 else 'FAIL'}")


if __name__ == "__main__":
    main()
