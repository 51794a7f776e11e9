"""`modalyze probe` on easy-vqa: three models whose use of the modalities is known.

    python benchmarks/probe_easy_vqa.py --out docs/probe-easy-vqa

Trains an inter expert (the fast budget's settings) on easy-vqa, then probes it beside a callable
that reads only the question (the most frequent training answer of each question string) and one
that answers at random; prints each condition's score and drop and each verdict, and writes
probe.json and probe.html into --out. Times: the training and the probe, separately.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.probe_models: the known models

from modalyze.analysis import BUDGETS  # noqa: E402
from modalyze.classifier import Classifier  # noqa: E402
from modalyze.jobs.probe import probe_to_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="where probe.json and probe.html go (default: a temp dir)")
    args = parser.parse_args()
    plan = BUDGETS["fast"]
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        run = Classifier(model="inter", max_epochs=plan.max_epochs, patience=plan.patience, min_steps=plan.min_steps,
                         progress=False).fit("easy-vqa").save(Path(scratch) / "inter")
        trained = time.perf_counter() - start
        out = Path(args.out or Path(scratch) / "probe")
        start = time.perf_counter()
        result = probe_to_dir("easy-vqa", [f"run:{run}", "py:tests.probe_models:question_only",
                                           "py:tests.probe_models:random_answers"], out, log=lambda _: None)
        probed = time.perf_counter() - start
    print(f"easy-vqa test split, {result['n']} rows; inter trained in {trained:.0f} s, three models probed in "
          f"{probed:.0f} s ({len(result['models'][0]['scores'])} conditions each, 3 permutations per shuffle)")
    names = ["run:inter", "py:question_only", "py:random_answers"]
    print(f"{'condition':<18}" + "".join(f"{n:>30}" for n in names))
    for condition in result["models"][0]["scores"]:
        cells = []
        for m in result["models"]:
            s, d = m["scores"].get(condition), m["drops"].get(condition)
            cells.append(f"{s['score']:.3f} ({d['score']:+.3f})" if s and d else f"{s['score']:.3f}" if s else "")
        print(f"{condition:<18}" + "".join(f"{c:>30}" for c in cells))
    for name, m in zip(names, result["models"]):
        print(f"{name}: {m['verdict']}")
    print(f"wrote {out / 'probe.html'}" if args.out else "")


if __name__ == "__main__":
    main()
