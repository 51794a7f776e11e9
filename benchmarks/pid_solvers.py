"""PID's two solvers side by side on random joints: the exponential-cone program (Clarabel) and
alternating minimisation, and the program written in cvxpy (the solver before; only when cvxpy is
installed, it is not a dependency).

    python benchmarks/pid_solvers.py
    python benchmarks/pid_solvers.py --shapes 32x32x4 20x20x13

Per shape: seconds per solve (best of ``--repeat``), the information I_Q(Y; X1, X2) each reaches, and
what ``auto`` picks. The check: every solver's optimum within 1e-5 bits of the exact program's.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

import numpy as np

from modalyze.analysis import pid

TOLERANCE = 1e-5  # bits


def cvxpy_program(p: np.ndarray) -> np.ndarray:
    """The same program in cvxpy's modelling language, solved by Clarabel through cvxpy."""
    import cvxpy as cp

    n1, n2, ny = p.shape
    q = cp.Variable((n1 * n2, ny), nonneg=True)
    pair_mass = cp.sum(q, axis=1, keepdims=True) @ np.ones((1, ny))
    constraints = [np.kron(np.eye(n1), np.ones((1, n2))) @ q == p.sum(1),
                   np.kron(np.ones((1, n1)), np.eye(n2)) @ q == p.sum(0)]
    cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(q, pair_mass))), constraints).solve(solver=cp.CLARABEL)
    return np.clip(q.value, 0, None).reshape(n1, n2, ny)


def timed(solve: Callable[[np.ndarray], np.ndarray], p: np.ndarray, repeat: int) -> tuple[float, float]:
    """(best seconds, information in bits) of one solver on ``p``."""
    best, q = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        q = solve(p)
        best = min(best, time.perf_counter() - start)
    return best, pid._information(q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["32x32x4", "25x30x4", "32x32x8", "20x20x13", "12x12x30"])
    parser.add_argument("--concentration", type=float, default=0.3, help="Dirichlet concentration of the joints")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    solvers = {"exact": pid._exact, "alternating": pid._alternating}
    try:
        import cvxpy  # noqa: F401

        solvers["cvxpy"] = cvxpy_program
    except ImportError:
        print("(cvxpy not installed: its column is left out)")
    print(f"{'shape':<10} " + " ".join(f"{name + ' s':>14}" for name in solvers) + "  auto         largest gap (bits)")
    worst = 0.0
    for shape_text in args.shapes:
        shape = tuple(int(v) for v in shape_text.split("x"))
        rng = np.random.default_rng(sum(shape))
        p = rng.dirichlet(np.full(int(np.prod(shape)), args.concentration)).reshape(shape)
        results = {name: timed(solve, p, args.repeat) for name, solve in solvers.items()}
        gap = max(abs(info - results["exact"][1]) for _, info in results.values())
        worst = max(worst, gap)
        auto = pid._pick(p, "auto")
        print(f"{shape_text:<10} " + " ".join(f"{seconds:>14.3f}" for seconds, _ in results.values())
              + f"  {auto:<12} {gap:.1e}", flush=True)
    print(f"{'PASS' if worst <= TOLERANCE else 'FAIL'}: every optimum within {worst:.1e} bits of the exact program's "
          f"(tolerance {TOLERANCE})")
    sys.exit(0 if worst <= TOLERANCE else 1)


if __name__ == "__main__":
    main()
