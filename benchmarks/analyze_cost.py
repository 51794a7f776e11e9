"""Cost of the dependency study relative to training one inter expert, measured in the same run.

    python benchmarks/analyze_cost.py                       # easy-vqa, --budget fast
    python benchmarks/analyze_cost.py --dataset synthetic-mixed

Prints the wall time of `analyze` (fresh output directory: every expert trained, I2M2 fine-tuned
from them, shuffles, PID, bootstrap) divided by the wall time of training one inter expert with the
same budget settings. A study that trained every expert and I2M2 separately from scratch would
cost about 4 on easy-vqa.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from modalyze.analysis import BUDGETS
from modalyze.classifier import Classifier
from modalyze.data import load_dataset
from modalyze.data.prepare import prepare
from modalyze.workflows import analyze_to_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="easy-vqa")
    parser.add_argument("--budget", default="fast", choices=list(BUDGETS))
    parser.add_argument("--out", help="keep the study's output here (must not exist yet) instead of a temp dir")
    args = parser.parse_args()
    plan = BUDGETS[args.budget]

    start = time.perf_counter()
    spec, table = load_dataset(args.dataset)
    prepared = prepare(spec, table)
    Classifier(model="inter", max_epochs=plan.max_epochs, patience=plan.patience, min_steps=plan.min_steps,
               progress=False).fit_prepared(spec, prepared)
    inter_s = time.perf_counter() - start  # includes loading and featurizing, as analyze does

    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        start = time.perf_counter()
        profile = analyze_to_dir(args.dataset, out, budget=args.budget, progress=False, log=lambda _: None)
        analyze_s = time.perf_counter() - start
    print(f"dataset={args.dataset} budget={args.budget} verdict={profile.verdict}")
    print(f"one inter expert: {inter_s:8.1f} s")
    print(f"analyze:          {analyze_s:8.1f} s")
    print(f"ratio analyze / inter = {analyze_s / inter_s:.2f}")
    for column, values in profile.slices.items():
        print("slices:", ", ".join(f"{column}={v}: {s['verdict']}" for v, s in values.items()))


if __name__ == "__main__":
    main()
