"""Peak memory of `modalyze align` on WebDataset shards, 20,000 samples against 2,000.

The table read from shards holds captions and member references, and batches read the images in place,
so the peak resident memory must not grow with the number of samples (target: ≤ 1.5x for 10x the
samples). Beside it, the bytes the decoded images would take held in memory, the naive way.

    python benchmarks/shard_memory.py            # 2,000 and 20,000 samples, one epoch each
    python benchmarks/shard_memory.py --small 500 --large 5000
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
SIZE = 64  # pixels per side, the image kind's default
CHILD = """
import resource, sys
from modalyze.cli import main
sys.argv = ["modalyze", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    if exit.code:
        raise
print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_shards(folder: Path, samples: int, per_shard: int = 1000, seed: int = 0) -> None:
    """Noisy colour squares with a caption naming the colour and the class, as ``<key>.jpg/.txt/.cls``."""
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    folder.mkdir(parents=True)
    for start in range(0, samples, per_shard):
        with tarfile.open(folder / f"part-{start // per_shard:05d}.tar", "w") as tar:
            for i in range(start, min(samples, start + per_shard)):
                label = names[int(rng.integers(0, 3))]
                pixels = np.clip(np.array(COLOURS[label]) + rng.normal(0, 30, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
                jpg = io.BytesIO()
                Image.fromarray(pixels).save(jpg, format="JPEG", quality=90)
                for field, data in (("jpg", jpg.getvalue()), ("txt", f"a photo of something {label}".encode()),
                                    ("cls", label.encode())):
                    info = tarfile.TarInfo(f"{i:08d}.{field}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def align_peak(shards: Path, out: Path, epochs: int) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one `modalyze align` process on the shards."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "align", str(shards / "part-*.tar"), "--target", "cls",
                           "--max-epochs", str(epochs), "--no-progress", "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"align failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    kib = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("peak_rss_kib"))
    return kib / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MODALYZE_CACHE"] = str(root / "cache")  # a cold decoded-file cache for each size
        rows = {}
        for samples in (args.small, args.large):
            write_shards(root / f"shards-{samples}", samples)
            peak, seconds = align_peak(root / f"shards-{samples}", root / f"run-{samples}", args.epochs)
            naive = samples * 3 * SIZE * SIZE / 2**20  # the decoded images held in memory as uint8
            rows[samples] = peak
            print(f"{samples:>7,} samples: peak RSS {peak:7.0f} MiB, {seconds:6.1f} s "
                  f"(decoded images held in memory would take {naive:6.0f} MiB)")
    ratio = rows[args.large] / rows[args.small]
    print(f"peak memory {args.large:,} / {args.small:,} samples: {ratio:.2f}x "
          f"({'PASS' if ratio <= 1.5 else 'FAIL'}: target <= 1.5x)")


if __name__ == "__main__":
    main()
