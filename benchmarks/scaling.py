"""Data at scale: one inter expert, one epoch, at 5k and 50k rows and with 2 vs 8 image modalities.

    python benchmarks/scaling.py                    # 5k vs 50k rows; 2 vs 8 image modalities at 5k
    python benchmarks/scaling.py --small 2000 --large 20000

Writes an image + text + tabular dataset to disk (every image a real PNG file, 64 px), then runs
``modalyze train SPEC --model inter --max-epochs 1`` for each size in a fresh process with an empty
decoded-file cache (so each run decodes every file once: the cost a first run pays) and prints, per
run: wall time per row (start-up, featurizing, the cache fill and the epoch), the epoch's training
time per training row, and the peak resident memory of the process (and of its largest child, a
DataLoader worker when ``--workers`` starts any). Then the ratios the scaling goals bound: time
50k ÷ 5k (≤ 11 for 10× the rows), peak memory 50k ÷ 5k (≤ 1.5), time 8 ÷ 2 image modalities (≤ 4.5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 220), "yellow": (230, 200, 40)}
WORDS = ("small", "large", "bright", "dark", "old", "new", "round", "sharp")


def draw(shape: str, color: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(200, 255, 3)))
    x, y = rng.integers(4, size // 2, 2)
    side = int(rng.integers(size // 4, size // 2))
    box = [int(x), int(y), int(x + side), int(y + side)]
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse(box, fill=COLORS[color])
    elif shape == "square":
        pen.rectangle(box, fill=COLORS[color])
    else:
        pen.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=COLORS[color])
    return image


def write_dataset(root: Path, rows: int, images: int, seed: int = 0) -> Path:
    """``rows`` rows with ``images`` image columns (each row its own PNG files), a caption and 4 table
    columns; the label (one of 4) needs the first image's colour and the table's ``level``."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    colors = rng.choice(list(COLORS), rows)
    level = rng.normal(size=rows)
    records: dict[str, list] = {f"image_{k}": [] for k in range(images)}
    for i in range(rows):
        for k in range(images):
            name = f"img/{i}_{k}.png"
            color = colors[i] if k == 0 else rng.choice(list(COLORS))
            draw(str(rng.choice(SHAPES)), str(color), rng).save(root / name)
            records[f"image_{k}"].append(name)
    records["caption"] = [" ".join(rng.choice(WORDS, 4)) + (" warm" if c in ("red", "yellow") else " cool")
                          for c in colors]
    records["level"] = level.round(4).tolist()
    records["age"] = rng.normal(50, 10, rows).round(1).tolist()
    records["score"] = rng.normal(size=rows).round(4).tolist()
    records["site"] = rng.choice(["a", "b", "c"], rows).tolist()
    warm = np.isin(colors, ["red", "yellow"])
    records["label"] = np.where(warm, "warm", "cool").astype(object) + np.where(level > 0, "-high", "-low")
    pd.DataFrame(records).to_csv(root / "data.csv", index=False)
    modalities = {f"image_{k}": {"kind": "image", "column": f"image_{k}", "options": {"size": 64}} for k in range(images)}
    modalities["caption"] = {"kind": "text", "column": "caption"}
    modalities["table"] = {"kind": "tabular", "columns": ["level", "age", "score", "site"]}
    spec = {"name": root.name, "source": "data.csv", "target": "label", "modalities": modalities}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root / "spec.yaml"


def child(args: list[str]) -> None:
    """Run one modalyze command in this process; print its wall time and peak memory as JSON."""
    from modalyze.cli import main as cli

    start = time.perf_counter()
    sys.argv = ["modalyze", *args]
    try:
        cli()
    except SystemExit as exc:
        if exc.code:
            raise
    peak = {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    print("RESULT " + json.dumps({"wall_s": time.perf_counter() - start, "peak_mib": peak}))


def run(spec: Path, out: Path, rows: int, extra: list[str]) -> dict:
    """One cold run: a fresh process, an empty decoded-file cache."""
    env = {**os.environ, "MODALYZE_CACHE": str(out / "cache")}
    cmd = [sys.executable, __file__, "--child", "train", str(spec), "--model", "inter", "--max-epochs", "1",
           "--min-steps", "0", "--no-progress", "--out", str(out / "run"), *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.rsplit("RESULT ", 1)[1])
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    result.update(rows=rows, train_rows=int(round(rows * 0.7)), epoch_s=metrics["train_time_s"],
                  accuracy=metrics["test"]["accuracy"])
    return result


def line(name: str, r: dict) -> str:
    return (f"{name:<26} {r['rows']:>7,} {1e3 * r['wall_s'] / r['rows']:>10.3f} {1e3 * r['epoch_s'] / r['train_rows']:>12.3f}"
            f" {r['peak_mib']['self']:>10.0f} {r['peak_mib']['child']:>10.0f} {r['accuracy']:>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--workers", default="auto", help="passed to modalyze train --workers")
    parser.add_argument("--keep", type=Path, help="write the datasets here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    extra = ["--workers", args.workers]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        t = time.perf_counter()
        specs = {"small": write_dataset(root / f"rows{args.small}", args.small, 1),
                 "large": write_dataset(root / f"rows{args.large}", args.large, 1),
                 "eight": write_dataset(root / f"rows{args.small}-8images", args.small, 8)}
        print(f"datasets written in {time.perf_counter() - t:.0f} s under {root} "
              f"(cores: {os.cpu_count()}, --workers {args.workers})")
        results = {name: run(specs[name], Path(tmp) / f"out-{name}", rows, extra)
                   for name, rows in [("small", args.small), ("large", args.large)]}
        # the modality count: image-only specs over the 8-image dataset's rows (the same files, the same rows)
        raw = yaml.safe_load(specs["eight"].read_text())
        images = {k: v for k, v in raw["modalities"].items() if k.startswith("image_")}
        two_spec, eight_spec = specs["eight"].with_name("spec-2images.yaml"), specs["eight"].with_name("spec-8images.yaml")
        two_spec.write_text(yaml.safe_dump({**raw, "modalities": {k: images[k] for k in ("image_0", "image_1")}}))
        eight_spec.write_text(yaml.safe_dump({**raw, "modalities": images}))
        results["two"] = run(two_spec, Path(tmp) / "out-two", args.small, extra)
        results["eight"] = run(eight_spec, Path(tmp) / "out-eight", args.small, extra)
    print(f"\n{'run':<26} {'rows':>7} {'ms/row':>10} {'epoch ms/row':>12} {'peak MiB':>10} {'child MiB':>10} {'accuracy':>8}")
    print(line("image+text+table, small", results["small"]))
    print(line("image+text+table, large", results["large"]))
    print(line("2 image modalities", results["two"]))
    print(line("8 image modalities", results["eight"]))
    s, big = results["small"], results["large"]
    print(f"\ntime {args.large:,} ÷ {args.small:,} rows: {big['wall_s'] / s['wall_s']:.2f} (goal ≤ 11 for "
          f"{args.large / args.small:.0f}× the rows); epoch alone {big['epoch_s'] / s['epoch_s']:.2f}")
    print(f"peak memory {args.large:,} ÷ {args.small:,} rows: {big['peak_mib']['self'] / s['peak_mib']['self']:.2f} (goal ≤ 1.5)")
    print(f"time 8 ÷ 2 image modalities: {results['eight']['wall_s'] / results['two']['wall_s']:.2f} (goal ≤ 4.5); "
          f"epoch alone {results['eight']['epoch_s'] / results['two']['epoch_s']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
