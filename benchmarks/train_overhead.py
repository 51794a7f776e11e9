"""Training throughput: modalyze (Lightning engine) vs a plain hand-written PyTorch loop.

Both train the same expert, from the same initial weights, on the same batches, for the same number
of epochs, each validating once per epoch. Prints samples/s of each and the ratio modalyze ÷ plain.

    python benchmarks/train_overhead.py                      # easy-vqa, inter expert, 2 epochs
    python benchmarks/train_overhead.py --dataset digits --model i2m2 --epochs 20
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from modalyze.data import load_dataset
from modalyze.data.batching import make_loader
from modalyze.data.prepare import prepare
from modalyze.experts import ModelConfig, build_expert
from modalyze.train import TrainSettings, fit_expert


def plain_loop(expert, train, val, settings: TrainSettings) -> None:
    """What a careful user writes by hand: AdamW, shuffle, NLL, a validation pass per epoch."""
    torch.manual_seed(settings.seed)
    opt = torch.optim.AdamW(expert.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    loader = make_loader(train, settings.batch_size, shuffle=True, seed=settings.seed)
    val_loader = make_loader(val, 4 * settings.batch_size, shuffle=False)
    for _ in range(settings.max_epochs):
        expert.train()
        for batch in loader:
            loss = F.nll_loss(expert(batch), batch["y"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        expert.eval()
        with torch.no_grad():
            sum(F.nll_loss(expert(b), b["y"], reduction="sum").item() for b in val_loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="easy-vqa")
    parser.add_argument("--model", default="inter")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternate the two loops this many times each")
    args = parser.parse_args()

    spec, table = load_dataset(args.dataset)
    prepared = prepare(spec, table)
    cfg = ModelConfig(model=args.model, n_classes=len(prepared.classes),
                      modalities={m: {"kind": s.kind, "info": prepared.featurizers[m].spec_info, "encoder": s.encoder}
                                  for m, s in spec.modalities.items()})
    torch.manual_seed(0)
    initial = build_expert(cfg)
    train, val = prepared.splits["train"], prepared.splits["val"]
    settings = TrainSettings(max_epochs=args.epochs, patience=10**6, progress=False)
    samples = len(train) * args.epochs
    times: dict[str, list[float]] = {"modalyze": [], "plain": []}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        for name in ("modalyze", "plain"):
            expert = copy.deepcopy(initial)
            start = time.perf_counter()
            if name == "modalyze":
                fit_expert(expert, train, val, settings)
            else:
                plain_loop(expert, train, val, settings)
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    print(f"dataset={args.dataset} model={args.model} epochs={args.epochs} train rows={len(train)} "
          f"threads={torch.get_num_threads()}")
    for name, seconds in best.items():
        print(f"{name:9s} {samples / seconds:9.1f} samples/s  (best of {args.repeats}: {seconds:.1f} s)")
    print(f"ratio modalyze / plain = {best['plain'] / best['modalyze']:.3f}")


if __name__ == "__main__":
    main()
