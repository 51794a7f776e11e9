"""Gradient-boosted trees' fit time with scikit-learn's default OpenMP threads against one thread, in
the two orders a process can load scikit-learn's and PyTorch's OpenMP runtimes.

    python benchmarks/trees_threads.py
    python benchmarks/trees_threads.py --rows 40 2000

Each order runs in a fresh process (the order is fixed at import). Per table size: seconds per fit of
``HistGradientBoostingClassifier`` with early stopping on validation rows (as the trees family fits),
default threads and under ``threadpoolctl``'s one-thread limit, and their ratio. The trees family runs
on one thread (``modalyze.families.trees.one_thread``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def fit_seconds(rows: int, repeat: int = 3) -> float:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 8))
    y = (x[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(int)
    cut = int(rows * 0.8)
    start = time.perf_counter()
    for _ in range(repeat):
        HistGradientBoostingClassifier(max_iter=400, early_stopping=True, scoring="loss", n_iter_no_change=50,
                                       tol=1e-4, l2_regularization=1.0).fit(x[:cut], y[:cut], X_val=x[cut:], y_val=y[cut:])
    return (time.perf_counter() - start) / repeat


def child(order: str, sizes: list[int]) -> None:
    """One process: import in ``order``, run a little PyTorch, then time the fits."""
    if order == "scikit-learn first":
        import sklearn.linear_model  # noqa: F401
    import torch
    from threadpoolctl import threadpool_limits

    weights = torch.randn(256, 256)
    (weights @ weights).sum()  # PyTorch's OpenMP threads have run, as in a study
    for rows in sizes:
        default = fit_seconds(rows)
        with threadpool_limits(1, user_api="openmp"):
            one = fit_seconds(rows)
        print(f"{order:<20} {rows:>7} {default:>10.3f} {one:>10.3f} {default / one:>8.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[40, 2000, 20000])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return
    print(f"{'import order':<20} {'rows':>7} {'default s':>10} {'1 thread s':>10} {'ratio':>9}")
    for order in ("scikit-learn first", "torch first"):
        subprocess.run([sys.executable, __file__, "--child", order, "--rows", *map(str, args.rows)], check=True)


if __name__ == "__main__":
    main()
