"""Each expert of a study next to the linear baseline on the same rows (the study's own baseline check).

    python benchmarks/baseline_check.py                          # digits, synthetic-*, numeric views
    python benchmarks/baseline_check.py --datasets digits synthetic-mixed

For every intra expert and the inter expert: the expert's own test score, the score the study
reports (the baseline's where the study replaced a weaker expert: paired difference below zero),
the scikit-learn logistic regression's on the same training and test rows, and the differences.
The check passes when no reported score is below its baseline by more than 0.02. "views" is a
generated 2,000-row table of six numeric views whose label (4 classes) depends on all six.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from modalyze.analysis import analyze

TOLERANCE = 0.02
DEFAULT = ["digits", *(f"synthetic-{s}" for s in ("redundant", "unique", "synergy", "mixed", "none")), "views"]


def write_views(root: Path, rows: int = 2000, views: int = 6, dims: int = 8, seed: int = 0) -> Path:
    """A table of ``views`` numeric views; the label is the quartile of the sum of one latent per view."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((rows, views))
    columns = {}
    for v in range(views):
        direction = rng.standard_normal(dims)
        x = latent[:, v:v + 1] * direction / np.linalg.norm(direction) + 0.5 * rng.standard_normal((rows, dims))
        columns.update({f"v{v}_{j}": x[:, j] for j in range(dims)})
    total = latent.sum(1)
    frame = pd.DataFrame({**columns, "label": np.digitize(total, np.quantile(total, [0.25, 0.5, 0.75]))})
    frame.to_csv(root / "views.csv", index=False)
    spec = {"name": "views", "source": "views.csv", "target": "label",
            "modalities": {f"view{v}": {"kind": "vector", "columns": [f"v{v}_*"]} for v in range(views)}}
    (root / "views.yaml").write_text(yaml.safe_dump(spec))
    return root / "views.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DEFAULT)
    parser.add_argument("--budget", default="fast")
    args = parser.parse_args()
    worst = own_worst = 0.0
    print(f"{'dataset':<20} {'expert':<16} {'own':>7} {'reported':>8} {'baseline':>9} {'own-b':>7} {'rep-b':>7}  "
          "evaluation, wall time")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets:
            data = write_views(Path(scratch)) if name == "views" else name
            start = time.perf_counter()
            profile = analyze(data, budget=args.budget, progress=False, log=lambda _: None)
            wall = time.perf_counter() - start
            base = {**{f"intra:{m}": b for m, b in profile.baseline["intra"].items()}, "inter": profile.baseline["joint"]}
            reported = {**{f"intra:{m}": e for m, e in profile.intra.items()}, "inter": profile.inter}
            for expert, own in profile.baseline["experts"].items():
                b = base[expert]["score"]
                diff, used = own["score"] - b, reported[expert]["score"] - b
                worst, own_worst = min(worst, used), min(own_worst, diff)
                mark = "  (replaced)" if expert in profile.baseline["replaced"] else ""
                print(f"{name:<20} {expert:<16} {own['score']:>7.3f} {reported[expert]['score']:>8.3f} {b:>9.3f} "
                      f"{diff:>+7.3f} {used:>+7.3f}  {profile.config['evaluation']}, {wall:.0f} s{mark}", flush=True)
    verdict = "PASS" if worst >= -TOLERANCE else "FAIL"
    print(f"{verdict}: the largest shortfall of a reported score under its linear baseline is {-worst:.3f} "
          f"(tolerance {TOLERANCE}); of an expert's own score {-own_worst:.3f}")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
