"""modalyze: measure which modalities matter, alone and together, and train models that use both.

Names are imported on first use, so ``import modalyze`` and ``modalyze --help`` do not load PyTorch,
Lightning or the solvers until a command needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS = {
    "Aligner": ("modalyze.aligner", "Aligner"),
    "Classifier": ("modalyze.classifier", "Classifier"),
    "Profile": ("modalyze.analysis.profile", "Profile"),
    "analyze": ("modalyze.analysis.study", "analyze"),
    "benchmark_map": ("modalyze.analysis.benchmark_map", "benchmark_map"),
    "configure_data": ("modalyze.data.decoded", "configure"),  # --workers and --feature-cache in Python
    "map": ("modalyze.analysis.benchmark_map", "benchmark_map"),  # modalyze.map(profiles): the map's points
    "ModalyzeError": ("modalyze.errors", "ModalyzeError"),
    "ModalitySpec": ("modalyze.spec", "ModalitySpec"),
    "Spec": ("modalyze.spec", "Spec"),
    "SplitSpec": ("modalyze.spec", "SplitSpec"),
    "list_datasets": ("modalyze.data", "list_datasets"),
    "load_dataset": ("modalyze.data", "load_dataset"),
    "load_spec": ("modalyze.spec", "load_spec"),
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'modalyze' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
