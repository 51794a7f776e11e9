"""Batches: featurized modalities gathered by row index, with a presence mask per modality.

A batch is ``{"x": {modality: {name: Tensor}}, "present": {modality: bool [B]}, "y": long [B]}``.
The dataset implements ``__getitems__`` so a DataLoader fetches a whole batch with one tensor
gather per modality instead of collating rows one by one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from modalyze.data.decoded import resolve_workers
from modalyze.data.featurizers import Features

Batch = dict[str, Any]


class FeaturizedDataset(Dataset):
    """Rows of featurized modalities (and targets, when known) addressable in batches."""

    def __init__(self, features: dict[str, Features], targets: torch.Tensor | None = None):
        self.features = features
        self.targets = targets
        self._n = len(next(iter(features.values())))

    def __len__(self) -> int:
        return self._n

    def __getitems__(self, rows: list[int]) -> Batch:
        idx = torch.as_tensor(rows, dtype=torch.long)
        batch: Batch = {
            "x": {m: f.take(idx) for m, f in self.features.items()},
            "present": {m: f.present[idx] for m, f in self.features.items()},
        }
        if self.targets is not None:
            batch["y"] = self.targets[idx]
        return batch

    def __getitem__(self, row: int) -> Batch:
        return self.__getitems__([row])

    def subset(self, rows: Any) -> FeaturizedDataset:
        """Rows ``rows`` (indices [N']) of every modality and the targets, in that order (nothing copied)."""
        picked = torch.as_tensor(rows, dtype=torch.long)
        return FeaturizedDataset({m: f.subset(picked) for m, f in self.features.items()},
                                 None if self.targets is None else self.targets[picked])

    def in_memory(self) -> FeaturizedDataset:
        """Every modality's rows read into memory: self-contained, for a machine without these files."""
        return FeaturizedDataset({m: f.in_memory() for m, f in self.features.items()}, self.targets)

    @property
    def lazy(self) -> bool:
        """Whether reading a batch does work (decoding files, disk reads) that worker processes can share."""
        return any(f.rows.lazy for f in self.features.values())

    def missing_counts(self) -> dict[str, int]:
        """How many rows lack each modality."""
        return {m: int((~f.present).sum()) for m, f in self.features.items()}


def _already_batched(batch: Batch) -> Batch:
    return batch


def make_loader(data: FeaturizedDataset, batch_size: int, shuffle: bool, seed: int = 0,
                epoch_rows: int = 0, workers: int | None = None) -> DataLoader:
    """A DataLoader over whole-batch gathers; shuffling is seeded so runs are reproducible.

    ``epoch_rows``: when shuffling fewer rows than this, an epoch goes through successive
    permutations of the rows until it has drawn ``epoch_rows`` (several optimizer steps per epoch).
    ``workers``: processes that read batches ahead (default: ``--workers`` when a modality's rows
    are decoded on demand; none for data already in memory, where a worker would only add copying).
    """
    if workers is None:
        workers = resolve_workers() if data.lazy else 0
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    sampler = RandomSampler(data, num_samples=epoch_rows, generator=generator) \
        if shuffle and 0 < len(data) < epoch_rows else None
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      collate_fn=_already_batched, generator=generator if sampler is None else None,
                      num_workers=workers, persistent_workers=workers > 0)
