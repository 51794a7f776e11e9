"""Run directories: config and featurizer state as JSON, weights as safetensors. Nothing is pickled.

```
RUN/config.json            schema, model config, spec, classes, training settings, versions
RUN/featurizers.json       fitted featurizer state per modality
RUN/weights.safetensors    the expert's state dict
RUN/metrics.json           {"val": {...}, "test": {...}, "params", "train_time_s", ...}
RUN/history.json           one row per epoch
RUN/predictions_test.csv   test rows: target, prediction, probability per class
```
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from modalyze.errors import ModalyzeError
from modalyze.outputs import write_json, write_with  # noqa: F401 (write_json: run files are JSON)

RUN_SCHEMA = "modalyze.run/1"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("modalyze", "torch", "lightning", "numpy", "pandas", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModalyzeError(f"{path}: cannot read JSON: {exc}") from None


def save_weights(module: nn.Module, path: Path) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    write_with(path, lambda tmp: save_file(state, str(tmp)))


def load_weights(module: nn.Module, path: Path) -> None:
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModalyzeError(f"{path}: cannot read weights: {exc}") from None
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape: the first mismatch, on one line
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ModalyzeError(f"{path}: weights do not match the model ({(lines[1:] or lines)[0][:200]})") from None
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise ModalyzeError(f"{path}: weights do not match the model ({'missing' if missing else 'unexpected'} '{name}')")


def check_run_dir(path: str | Path, schema: str = RUN_SCHEMA) -> Path:
    """The run directory, or a one-line error saying why it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise ModalyzeError(f"{path}: run directory does not exist")
    config = path / "config.json"
    raw = read_json(config) if config.exists() else None
    found = raw.get("schema") if isinstance(raw, dict) else None
    if found != schema:
        kind = {"modalyze.run/1": "a classifier run (modalyze train)", "modalyze.aligner/1": "an aligner run (modalyze align)"}
        this = kind.get(found) if isinstance(found, str) else None
        raise ModalyzeError(f"{path}: not a modalyze run directory of this kind (needs {config.name} with schema "
                            f"{schema}{'; this is ' + this if this else ''})")
    if not (path / "weights.safetensors").exists():
        raise ModalyzeError(f"{path}: run directory has no weights.safetensors (was training interrupted?)")
    from modalyze.run_schema import check_run_config

    check_run_config(raw, config, schema)  # every value by its type, before anything is built from it
    return path


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
