"""Inference latency per row of i2m2-shared and i2m2 against the late-fusion inter expert, interleaved.

    python benchmarks/latency.py                          # easy-vqa's test split
    python benchmarks/latency.py --dataset digits --rounds 30

Latency depends on the architecture, not on the weights, so the three experts are built (not
trained) on the dataset's featurized test split and timed in alternating order, ``--rounds`` times
each, one pass over the test split in batches of 512 per timing; printed are each one's median
milliseconds per row and the ratios to the inter expert. Interleaving keeps a busy machine from
favouring whichever model happens to run while it is quiet.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from modalyze.data import load_dataset
from modalyze.data.batching import make_loader
from modalyze.data.prepare import encoder_configs, prepare
from modalyze.experts import ModelConfig, build_expert


@torch.no_grad()
def one_pass(expert: torch.nn.Module, batches: list) -> float:
    start = time.perf_counter()
    for batch in batches:
        expert(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="easy-vqa")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    spec, table = load_dataset(args.dataset)
    prepared = prepare(spec, table)
    test = prepared.splits["test"]
    batches = list(make_loader(test, 512, shuffle=False))
    torch.manual_seed(0)
    experts = {name: build_expert(ModelConfig(model=name, modalities=encoder_configs(spec, prepared.featurizers),
                                              n_classes=len(prepared.classes))).eval()
               for name in ("inter", "i2m2-shared", "i2m2")}
    for expert in experts.values():
        one_pass(expert, batches[:2])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in experts}
    for r in range(args.rounds):
        for name in (list(experts) if r % 2 == 0 else list(experts)[::-1]):
            times[name].append(one_pass(experts[name], batches))
    per_row = {name: 1000 * statistics.median(t) / len(test) for name, t in times.items()}
    print(f"{args.dataset}: {len(test)} test rows, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"median of {args.rounds} interleaved passes")
    for name, ms in per_row.items():
        params = sum(p.numel() for p in experts[name].parameters())
        print(f"{name:<12} {ms:.4f} ms/row  ratio to inter {ms / per_row['inter']:.3f}  parameters {params:,} "
              f"({params / sum(p.numel() for p in experts['inter'].parameters()):.2f}x)")


if __name__ == "__main__":
    main()
