"""The dependency profile: the study's result, as an object and as ``profile.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modalyze.errors import ModalyzeError
from modalyze.run import read_json, write_json

PROFILE_SCHEMA = "modalyze.profile/1"


@dataclass
class Profile:
    """Scores carry ``{"score", "ci": [lo, hi]}``; see the README for every key."""

    dataset: str
    target: str
    metric: str
    chance: float
    intra: dict[str, dict[str, Any]]  # modality -> {"score", "ci", "strength"}
    additive: dict[str, Any]
    inter: dict[str, Any]  # {"score", "ci", "strength"}
    i2m2: dict[str, Any]
    interaction: dict[str, Any]  # J − max(best intra, additive), paired interval
    verdict: str
    reason: str
    shuffle: dict[str, dict[str, Any]]  # modality or "all" -> {"score", "ci", "perceptual", "i2m2": {...}}
    pid: dict[str, dict[str, Any]]  # "m1|m2" -> {"redundancy", "unique", "synergy", "noise_floor", "units"}
    slices: dict[str, dict[str, dict[str, Any]]]  # column -> value -> summary with its own verdict
    n_test: int = 0
    classes: list[Any] = field(default_factory=list)
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # expert -> epochs (first seed)
    params: dict[str, int] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)  # missing-modality matrix and corruption curves
    confusion: dict[str, Any] = field(default_factory=dict)  # best joint model: {"model", "classes", "matrix"}
    baseline: dict[str, Any] = field(default_factory=dict)  # linear baseline per modality and joint; replacements
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    schema: str = PROFILE_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"schema": data.pop("schema"), **data}

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "profile.json", self.to_dict())
        return directory / "profile.json"

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        data = read_json(Path(path))
        if not isinstance(data, dict) or data.get("schema") != PROFILE_SCHEMA:
            raise ModalyzeError(f"{path}: not a modalyze profile (schema {PROFILE_SCHEMA})")
        return cls(**data)
