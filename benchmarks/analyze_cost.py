"""Cost of the dependency study relative to training one inter expert, measured in the same run.

    python benchmarks/analyze_cost.py                       # easy-vqa, --budget fast and quick; fast also with --jobs 2
    python benchmarks/analyze_cost.py --dataset synthetic-mixed --budgets fast --jobs 1

Prints the wall time of `analyze` per budget (fresh output directory: every expert trained, I2M2
fine-tuned from them, shuffles, PID, bootstrap; `quick`: one i2m2-shared model instead) divided by
the wall time of training one inter expert with the fast budget's settings. A study that trained
every expert and I2M2 separately from scratch would cost about 4 on easy-vqa. ``--jobs`` runs each
budget that trains several experts with each number of worker processes (``analyze --jobs``).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from modalyze.analysis import BUDGETS
from modalyze.classifier import Classifier
from modalyze.data import load_dataset
from modalyze.data.prepare import prepare
from modalyze.jobs.study import analyze_to_dir


def main() -> None:  # guarded below: --jobs spawns worker processes
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="easy-vqa")
    parser.add_argument("--budgets", default="fast,quick", help="comma-separated, from: " + ", ".join(BUDGETS))
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts for the budgets that train several experts")
    parser.add_argument("--out", help="keep the studies' output here (must not exist yet) instead of a temp dir")
    args = parser.parse_args()
    plan = BUDGETS["fast"]

    start = time.perf_counter()
    spec, table = load_dataset(args.dataset)
    prepared = prepare(spec, table)
    Classifier(model="inter", max_epochs=plan.max_epochs, patience=plan.patience, min_steps=plan.min_steps,
               progress=False).fit_prepared(spec, prepared)
    inter_s = time.perf_counter() - start  # includes loading and featurizing, as analyze does
    print(f"dataset={args.dataset}")
    print(f"one inter expert: {inter_s:8.1f} s")

    runs = [(budget, int(jobs)) for budget in args.budgets.split(",")
            for jobs in (args.jobs.split(",") if not BUDGETS[budget].one_pass else ["1"])]
    for budget, jobs in runs:
        with tempfile.TemporaryDirectory() as scratch:
            out = f"{args.out}/{budget}-jobs{jobs}" if args.out else scratch
            start = time.perf_counter()
            profile = analyze_to_dir(args.dataset, out, budget=budget, jobs=jobs, progress=False, log=lambda _: None)
            analyze_s = time.perf_counter() - start
        print(f"analyze --budget {budget} --jobs {jobs}: {analyze_s:8.1f} s, ratio analyze / inter = {analyze_s / inter_s:.2f}, "
              f"verdict {profile.verdict}, intra "
              + ", ".join(f"{m} {e['score']:.3f}" for m, e in profile.intra.items())
              + f", inter {profile.inter['score']:.3f}, i2m2 {profile.i2m2['score']:.3f}")
        for column, values in profile.slices.items():
            print("  slices:", ", ".join(f"{column}={v}: {s['verdict']}" for v, s in values.items()))
        for pair, terms in profile.pid.items():
            unique = ", ".join(f"unique({m}) {u:.3f}" for m, u in terms["unique"].items())
            print(f"  PID {pair} (bits): redundancy {terms['redundancy']:.3f}, {unique}, synergy {terms['synergy']:.3f} "
                  f"(noise {terms['noise_floor']['synergy']:.3f}), total {terms['total']:.3f}, "
                  f"bound {terms['bound']['lower_bound']:.3f}")


if __name__ == "__main__":
    main()
