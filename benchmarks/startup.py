"""Start-up time: `python -c "import modalyze"` and `modalyze --help`, best of 5, beside a bare Python.

    python benchmarks/startup.py

Both must stay under 1 s: modalyze imports PyTorch, Lightning and the solvers only when a command
needs them (names in `modalyze/__init__.py` are imported on first use).
"""

from __future__ import annotations

import subprocess
import sys
import time


def best_of(command: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    bare = best_of([sys.executable, "-c", "pass"])
    imported = best_of([sys.executable, "-c", "import modalyze"])
    helped = best_of([sys.executable, "-m", "modalyze.cli", "--help"])
    print(f"python -c pass           {bare:.3f} s")
    print(f"python -c 'import modalyze' {imported:.3f} s  (ratio to bare python {imported / bare:.1f})")
    print(f"modalyze --help          {helped:.3f} s  (ratio to bare python {helped / bare:.1f})")
