"""PID estimates of the study against the true terms of the synthetic built-ins.

    python benchmarks/pid_truth.py                         # every structure, seeds 0 1 2, noise 0.5
    python benchmarks/pid_truth.py --noise 0.25 --seeds 0  # a cleaner dataset: every truth ≈ 1 bit

For each structure the true value of each constructed term at the dataset's noise is computed from
the generative model (``modalyze.data.builtin.synthetic_information``, Monte Carlo); the study's
estimate (`analyze --budget fast`) is printed beside it with the split-half noise, and the check
passes when every constructed term is within 0.15 bits of its truth.
"""

from __future__ import annotations

import argparse
import sys

from modalyze.analysis import analyze
from modalyze.data.builtin import synthetic_information

TOLERANCE = 0.15
STRUCTURES = ("redundant", "unique", "synergy", "mixed", "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--structures", nargs="+", default=list(STRUCTURES), choices=STRUCTURES)
    args = parser.parse_args()
    worst = 0.0
    print(f"{'structure':<10} {'seed':>4} {'term':<11} {'estimate':>8} {'noise':>6} {'truth':>6}  states")
    for structure in args.structures:
        truth = synthetic_information(structure, args.noise)
        for seed in args.seeds:
            profile = analyze(f"synthetic-{structure}", budget="fast", seed=seed, progress=False,
                              dataset_options={"noise": args.noise}, log=lambda _: None)
            pid, noise = profile.pid["a|b"], profile.pid["a|b"]["noise_floor"]
            flat = lambda e: {"redundancy": e["redundancy"], "synergy": e["synergy"],  # noqa: E731
                              **{f"unique:{m}": u for m, u in e["unique"].items()}}
            for term, value in truth.items():
                estimate = flat(pid)[term]
                worst = max(worst, abs(estimate - value))
                print(f"{structure:<10} {seed:>4} {term:<11} {estimate:>8.3f} {flat(noise)[term]:>6.3f} {value:>6.3f}  "
                      f"{pid['states']}", flush=True)
    verdict = "PASS" if worst <= TOLERANCE else "FAIL"
    print(f"{verdict}: largest distance from the truth {worst:.3f} bits (tolerance {TOLERANCE})")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
