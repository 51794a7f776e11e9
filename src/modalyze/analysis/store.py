"""Where a study keeps finished experts: one run directory per (seed, expert), so reruns resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from modalyze.classifier import Classifier
from modalyze.data.batching import FeaturizedDataset
from modalyze.errors import ModalyzeError
from modalyze.outputs import write_array, write_with
from modalyze.run import read_json, write_json
from modalyze.train import predict_log_probs


class ExpertStore:
    """``root/seed-<s>/<expert>/``: a run directory plus the expert's test log-probabilities."""

    def __init__(self, root: Path, settings: dict[str, Any]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / "study.json"
        if marker.exists() and read_json(marker) != settings:
            raise ModalyzeError(f"{self.root}: holds experts trained with other settings "
                                f"(see {marker}); use another --out or delete that folder")
        write_json(marker, settings)

    def path(self, seed: int, expert: str) -> Path:
        path = self.root / f"seed-{seed}" / expert.replace(":", "-")
        if path.resolve().parent.parent != self.root.resolve():  # names are checked in the spec; never leave root
            raise ModalyzeError(f"expert name {expert!r} does not name a folder inside {self.root}")
        return path

    def has(self, seed: int, expert: str) -> bool:
        """Whether the expert is stored complete (its config.json is written last)."""
        return (self.path(seed, expert) / "config.json").exists()

    def put(self, seed: int, expert: str, files: dict[str, bytes]) -> None:
        """Store a run directory trained elsewhere (a worker): its files, config.json last."""
        path = self.path(seed, expert)
        path.mkdir(parents=True, exist_ok=True)
        for name in sorted(files, key=lambda n: n == "config.json"):
            if Path(name).name != name:
                raise ModalyzeError(f"a worker returned the file name {name!r}, which is not a plain file name")
            write_with(path / name, Path.write_bytes, files[name])

    def get(self, seed: int, expert: str, train: Callable[[], Classifier]) -> tuple[Classifier, bool]:
        """The stored expert, or a newly trained (and saved) one; the flag says whether it was trained."""
        path = self.path(seed, expert)
        if self.has(seed, expert):
            return Classifier.load(path), False
        clf = train()
        clf.save(path)
        return clf, True

    def log_probs(self, seed: int, expert: str, clf: Classifier, data: FeaturizedDataset, split: str = "test") -> np.ndarray:
        """Log-probabilities [N, C] on one split, computed once and kept beside the weights."""
        path = self.path(seed, expert) / f"{split}_log_probs.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
        log_probs = predict_log_probs(clf.expert_, data).numpy()
        write_array(path, log_probs)
        return log_probs



def origin(fresh: bool, in_worker: bool, path: Path) -> str:
    """Where an expert came from, for a progress line: trained now (here or in a worker), or left on
    disk by an earlier run."""
    return "trained" if fresh else "trained in a worker" if in_worker else f"resumed from {path} (an earlier run)"
