"""Does the one-pass estimate (`--budget quick`) agree with the full study (`--budget fast`)?

    python benchmarks/quick_agreement.py                                   # every classification built-in, seeds 0-2
    python benchmarks/quick_agreement.py --datasets digits --seeds 0

For each dataset and seed, runs `analyze` with both budgets and prints both verdicts, the largest
difference between their intra scores, the inter and i2m2 scores, each study's wall time and PID; the
last line counts the runs whose verdicts differ or whose intra scores differ by more than 0.03.
"""

from __future__ import annotations

import argparse
import time

from modalyze.analysis import analyze

DATASETS = ("digits,synthetic-redundant,synthetic-unique,synthetic-synergy,synthetic-mixed,synthetic-none,"
            "av-digits,easy-vqa")
TOLERANCE = 0.03


def pid(profile) -> str:
    """The first pair's PID terms in bits: R, U per modality, S and the total."""
    terms = next(iter(profile.pid.values()))
    unique = "/".join(f"{u:.2f}" for u in terms["unique"].values())
    return f"R {terms['redundancy']:.2f} U {unique} S {terms['synergy']:.2f} total {terms['total']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    runs = failures = 0
    for name in args.datasets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            seconds, profiles = {}, {}
            for budget in ("fast", "quick"):
                start = time.perf_counter()
                profiles[budget] = analyze(name, budget=budget, seed=seed, progress=False, log=lambda _: None)
                seconds[budget] = time.perf_counter() - start
            fast, quick = profiles["fast"], profiles["quick"]
            gap = max(abs(fast.intra[m]["score"] - quick.intra[m]["score"]) for m in fast.intra)
            agree = fast.verdict == quick.verdict and gap <= TOLERANCE
            runs, failures = runs + 1, failures + (not agree)
            intra = lambda p: "/".join(f"{e['score']:.3f}" for e in p.intra.values())  # noqa: E731
            print(f"{name:20} seed {seed}: verdict fast {fast.verdict:15} quick {quick.verdict:15} "
                  f"max |intra diff| {gap:.3f}  {'agree' if agree else 'DISAGREE'}  "
                  f"intra {intra(fast)} vs {intra(quick)}; inter {fast.inter['score']:.3f} vs {quick.inter['score']:.3f}; "
                  f"i2m2 {fast.i2m2['score']:.3f} vs {quick.i2m2['score']:.3f}; "
                  f"time {seconds['fast']:.0f} s vs {seconds['quick']:.0f} s; PID {pid(fast)} vs {pid(quick)}", flush=True)
    print(f"{runs - failures}/{runs} runs agree (same verdict, every intra score within {TOLERANCE})")


if __name__ == "__main__":
    main()
