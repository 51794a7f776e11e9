"""Every expert family on the same rows: the neural expert, logistic regression and gradient-boosted
trees per modality and jointly, the family the study chose on the validation rows, and what each cost.

    python benchmarks/expert_families.py                               # digits, views, thresholds, synthetic-mixed
    python benchmarks/expert_families.py --datasets digits --budget fast

Per expert: each family's test accuracy and validation log-loss, the family chosen (lowest validation
log-loss), and the seconds to fit the cheap families, beside the study's wall time. "views" is the
six-view numeric table of ``baseline_check.py``; "thresholds" a 3,000-row table whose label is a step
function of two numbers (plus a text column that knows a third of the labels), the shape trees fit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baseline_check import write_views  # noqa: E402
from modalyze.analysis import analyze  # noqa: E402
from tests.test_families import thresholds  # noqa: E402

DEFAULT = ["digits", "views", "thresholds", "synthetic-mixed"]


def dataset(name: str, root: Path) -> tuple[object, dict]:
    if name == "views":
        return write_views(root), {}
    if name == "thresholds":
        thresholds(3000).to_csv(root / "thresholds.csv", index=False)
        return str(root / "thresholds.csv"), {"target": "y", "modalities": ["a=a1,a2,a3,a4:tabular", "note=note:text"]}
    return name, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DEFAULT)
    parser.add_argument("--budget", default="fast")
    args = parser.parse_args()
    print(f"{'dataset':<16} {'expert':<14} {'neural':>7} {'linear':>7} {'trees':>7}  {'chosen':<8} {'reported':>8}  "
          "val log-loss (neural / linear / trees)   cheap fits   study")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets:
            data, options = dataset(name, Path(scratch))
            start = time.perf_counter()
            profile = analyze(data, budget=args.budget, progress=False, log=lambda _: None, **options)
            wall = time.perf_counter() - start
            section = profile.baseline
            reported = {**{f"intra:{m}": e for m, e in profile.intra.items()}, "inter": profile.inter,
                        "i2m2": profile.i2m2}
            cheap = sum(r.get("fit_s", 0.0) for fams in section["families"].values() for r in fams.values())
            for expert, families in section["families"].items():
                test = [f"{families[f]['test']['score']:.3f}" if f in families else "-" for f in ("neural", "linear", "trees")]
                nll = " / ".join(f"{families[f]['validation']['nll']:.3f}" if f in families else "-"
                                 for f in ("neural", "linear", "trees"))
                if expert == "i2m2":  # the fine-tuned neural i2m2 against the product of the chosen experts
                    test = [f"{families['neural']['test']['score']:.3f}", "product", f"{families['product']['test']['score']:.3f}"]
                print(f"{name:<16} {expert:<14} {test[0]:>7} {test[1]:>7} {test[2]:>7}  {section['chosen'][expert]:<8} "
                      f"{reported[expert]['score']:>8.3f}  {nll:<38} {cheap:>7.1f} s {wall:>6.0f} s", flush=True)


if __name__ == "__main__":
    main()
