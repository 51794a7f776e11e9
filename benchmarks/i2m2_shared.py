"""Shared-encoder I2M2 against I2M2 and the late-fusion inter expert, measured side by side.

    python benchmarks/i2m2_shared.py                                  # the four datasets of issue 15
    python benchmarks/i2m2_shared.py --datasets digits --aux-weights 0,0.5,1,2

Per dataset, `modalyze compare --fusion late` trains the inter expert, i2m2 (intra experts + inter,
fine-tuned jointly) and i2m2-shared (one model, from scratch) on one split and prints each model's
test accuracy with its 95% interval, parameters and latency per row, and the ratios of i2m2-shared
to the inter expert. With easy-vqa, i2m2-shared is also trained with modality dropout 0.2 and
scored with the image missing. ``--aux-weights`` retrains i2m2-shared with each weight of the
members' own losses (deep supervision: what keeps the shared encoder's intra heads honest) and
prints each one's accuracy and its intra heads' accuracy alone.
"""

from __future__ import annotations

import argparse
import os
import platform

import torch

from modalyze.analysis.compare import compare
from modalyze.analysis.robustness import keep_only
from modalyze.settings import BUDGETS
from modalyze.classifier import Classifier
from modalyze.data import load_dataset
from modalyze.data.batching import FeaturizedDataset, make_loader
from modalyze.data.prepare import prepare
from modalyze.train import predict_log_probs


def accuracy(clf: Classifier, data: FeaturizedDataset) -> float:
    return float((predict_log_probs(clf.expert_, data).argmax(1) == data.targets).float().mean())


@torch.no_grad()
def head_accuracy(clf: Classifier, data: FeaturizedDataset) -> dict[str, float]:
    """Accuracy of each intra head of a product on its own."""
    expert = clf.expert_.eval()
    hits: dict[str, list[torch.Tensor]] = {}
    for batch in make_loader(data, 512, shuffle=False):
        for m, log_probs in expert.expert_log_probs_intra(batch).items():
            hits.setdefault(m, []).append(log_probs.argmax(1) == batch["y"])
    return {m: torch.cat(h).float().mean().item() for m, h in hits.items()}


def shared(spec, prepared, budget: str, **options) -> Classifier:
    plan = BUDGETS[budget]
    return Classifier(model="i2m2-shared", max_epochs=plan.max_epochs, min_steps=plan.min_steps,
                      patience=plan.patience, progress=False, **options).fit_prepared(spec, prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="easy-vqa,digits,av-digits,synthetic-mixed")
    parser.add_argument("--budget", default="fast", choices=list(BUDGETS))
    parser.add_argument("--aux-weights", default="", help="comma-separated weights to compare on each dataset")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, budget {args.budget}")
    for name in args.datasets.split(","):
        result = compare(name, fusions=["late"], budget=args.budget, progress=False, log=lambda _: None)
        by = {r["model"]: r for r in result["rows"]}
        print(f"\n{name} ({result['n_test']} test rows)")
        print(f"{'model':12} {'accuracy':>8} {'95% interval':>15} {'params':>9} {'ms/row':>7} {'train s':>8}")
        for model, r in by.items():
            print(f"{model:12} {r['score']:8.4f} {r['ci'][0]:7.4f}–{r['ci'][1]:.4f} {r['params']:9,} "
                  f"{r['latency_ms_per_row']:7.4f} {r['train_time_s']:8.1f}")
        s, i, base = by["i2m2-shared"], by["i2m2"], by["inter"]
        gap = s["score"] - i["score"]
        inside = i["ci"][0] <= s["score"] <= i["ci"][1]
        print(f"i2m2-shared / inter: params {s['params'] / base['params']:.2f}x, "
              f"latency {s['latency_ms_per_row'] / base['latency_ms_per_row']:.2f}x; "
              f"accuracy - i2m2 = {gap:+.4f} ({'inside' if inside else 'outside'} i2m2's interval)")
        spec, table = load_dataset(name)
        prepared = prepare(spec, table)
        test = prepared.splits["test"]
        if name == "easy-vqa":
            dropped = shared(spec, prepared, args.budget, modality_dropout=0.2)
            print(f"i2m2-shared with modality dropout 0.2: both {accuracy(dropped, test):.4f}, "
                  f"image missing {accuracy(dropped, keep_only(test, ('question',))):.4f}")
        for weight in [float(w) for w in args.aux_weights.split(",") if w]:
            clf = shared(spec, prepared, args.budget, aux_weight=weight)
            alone = head_accuracy(clf, test)
            print(f"aux_weight {weight:g}: accuracy {accuracy(clf, test):.4f}; intra heads alone "
                  + ", ".join(f"{m} {a:.4f}" for m, a in alone.items()))


if __name__ == "__main__":
    main()
