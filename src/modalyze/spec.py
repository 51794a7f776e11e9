"""Dataset specs: what the data is, which columns form which modality, and how it is split.

A spec is a plain dataclass that round-trips through YAML/JSON. Validation happens here and raises
:class:`ModalyzeError` with a one-line message naming the file and the offending key.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from modalyze.errors import ModalyzeError
from modalyze.kind import ENCODERS, PRETRAINED_KEYS, get_kind, kinds
from modalyze.options import check_named, signature_types, suggest
from modalyze.settings import SPLIT
from modalyze.spec_schema import MODALITY_KEYS, check_spec_document

__all__ = ["ModalitySpec", "Spec", "SplitSpec", "check_name", "kinds", "load_spec", "spec_yaml"]

CHANNELS = ("r", "g", "b")
_TOP_KEYS = {"name", "source", "target", "modalities", "slices", "split", "builtin"}
_SPLIT_KEYS = {"val", "test", "seed", "column"}
_NAME = re.compile(r"^[^\W_][\w-]{0,63}$")  # a letter or digit, then letters, digits, '_' or '-'


def check_name(name: Any, what: str, where: str) -> str:
    """A user-given name that becomes a module key, a file name and a report label: validated once here.

    Letters (any script), digits, '_' and '-', starting with a letter or digit, at most 64 characters,
    and not an attribute of torch's ``ModuleDict`` (such as 'training' or 'forward'), so a name can
    never leave an output folder ('/', '..'), break a module key ('.') or a plot label ('$').
    """
    text = str(name)
    if not _NAME.match(text):
        raise ModalyzeError(f"{where}: {what} name {text!r} is not allowed: use letters, digits, '_' and '-', "
                            "starting with a letter or digit, at most 64 characters")
    if text in _reserved_names():
        raise ModalyzeError(f"{where}: {what} name {text!r} is reserved (an attribute of PyTorch modules); rename it")
    return text


@lru_cache(maxsize=1)
def _reserved_names() -> frozenset[str]:
    from torch import nn

    return frozenset(dir(nn.ModuleDict()))


@dataclass
class ModalitySpec:
    """One named modality: its kind and the column(s) it reads (names or glob patterns)."""

    kind: str
    columns: list[str]
    options: dict[str, Any] = field(default_factory=dict)  # featurizer options, e.g. {"size": 64}
    encoder: dict[str, Any] = field(default_factory=dict)  # encoder options, e.g. {"dim": 64}
    dropout: float | None = None  # modality dropout rate in training (None: the run's --modality-dropout)


@dataclass
class SplitSpec:
    """Either fractions with a seed (stratified by target), or a column naming train/val/test."""

    val: float = SPLIT.val
    test: float = SPLIT.test
    seed: int = SPLIT.seed
    column: str | None = None


@dataclass
class Spec:
    """The declaration of a dataset. ``source`` is a path, or a mapping of split name to path."""

    name: str
    target: str
    modalities: dict[str, ModalitySpec]
    source: str | dict[str, str] | None = None
    slices: list[str] = field(default_factory=list)
    split: SplitSpec = field(default_factory=SplitSpec)
    base_dir: str = "."  # directory that relative paths (source, image files) resolve against
    builtin: dict[str, Any] | None = None  # {"name": ..., "params": {...}} for built-in datasets

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, origin: str = "spec") -> Spec:
        """Build and validate a spec from a parsed mapping; ``origin`` names it in errors."""
        return _parse(raw, origin, base_dir=None)


def spec_yaml(spec: Spec, directory: str | Path | None = None) -> str:
    """The spec as the YAML a user would write; ``source`` relative to ``directory`` (where the
    file will live) when given, else as stored."""
    source = spec.source
    if isinstance(source, str) and directory is not None:
        source = os.path.relpath(Path(spec.base_dir, source).resolve(), Path(directory).resolve())
    modalities = {}
    for name, m in spec.modalities.items():
        entry: dict[str, Any] = {"kind": m.kind}
        entry.update({"column": m.columns[0]} if len(m.columns) == 1 else {"columns": list(m.columns)})
        entry.update({k: v for k, v in (("options", m.options), ("encoder", m.encoder)) if v})
        if m.dropout is not None:
            entry["dropout"] = m.dropout
        modalities[name] = entry
    split = {"column": spec.split.column} if spec.split.column else {
        "val": spec.split.val, "test": spec.split.test, "seed": spec.split.seed}
    raw = {"name": spec.name, "source": source, "target": spec.target, "modalities": modalities,
           **({"slices": list(spec.slices)} if spec.slices else {}), "split": split}
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)


def read_yaml(path: str | Path, what: str = "spec") -> Any:
    """Parse a YAML file safely; a missing file or malformed YAML is a one-line error with the line."""
    path = Path(path)
    if not path.exists():
        raise ModalyzeError(f"{path}: {what} file does not exist")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ModalyzeError(f"{path}: malformed YAML{where}: {problem}") from None


def load_spec(path: str | Path) -> Spec:
    """Read a YAML spec file; relative paths in it resolve against the file's directory."""
    raw = read_yaml(path)
    spec = _parse(raw, str(path), base_dir=str(Path(path).resolve().parent))
    check_spec_document(raw, str(path))  # after the specific checks above: every other key and value
    return spec


def _parse(raw: Any, origin: str, base_dir: str | None) -> Spec:
    if not isinstance(raw, dict):
        raise ModalyzeError(f"{origin}: a spec must be a mapping with keys name, source, target, modalities")
    unknown = set(raw) - _TOP_KEYS - {"base_dir"}
    if unknown:
        key = str(sorted(unknown, key=str)[0])
        raise ModalyzeError(f"{origin}: unknown key '{key}'{suggest(key, sorted(_TOP_KEYS))} "
                            f"(known: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("target", "modalities"):
        if key not in raw:
            raise ModalyzeError(f"{origin}: missing required key '{key}'")
    if "source" not in raw and "builtin" not in raw:
        raise ModalyzeError(f"{origin}: missing required key 'source'")
    if not isinstance(raw["modalities"], dict) or not raw["modalities"]:
        raise ModalyzeError(f"{origin}: 'modalities' names no modality; declare at least one")
    modalities = parse_modalities(raw["modalities"], origin)
    split_spec = parse_split(raw.get("split") or {}, origin)
    source = raw.get("source")
    if source is not None and not isinstance(source, (str, dict)):
        raise ModalyzeError(f"{origin}: 'source' must be a file path or a mapping train:/val:/test: to paths")
    if isinstance(source, dict) and set(source) - {"train", "val", "test"}:
        raise ModalyzeError(f"{origin}: 'source' mapping may only have keys train, val, test")
    slices = raw.get("slices") or []
    if isinstance(slices, str):
        slices = [slices]
    return Spec(
        name=str(raw.get("name") or Path(origin).stem),
        target=str(raw["target"]),
        modalities=modalities,
        source=source,
        slices=[str(s) for s in slices],
        split=split_spec,
        base_dir=base_dir or str(raw.get("base_dir", ".")),
        builtin=raw.get("builtin"),
    )


def parse_split(split: Any, origin: str) -> SplitSpec:
    """A ``split:`` mapping (``{val, test, seed}`` or ``{column: NAME}``) -> a checked :class:`SplitSpec`."""
    if not isinstance(split, dict):
        raise ModalyzeError(f"{origin}: 'split' must be {{val, test, seed}} or {{column: NAME}}")
    if set(split) - _SPLIT_KEYS:
        key = str(sorted(set(split) - _SPLIT_KEYS, key=str)[0])
        raise ModalyzeError(f"{origin}: unknown key 'split.{key}'{suggest(key, sorted(_SPLIT_KEYS))} "
                            f"(known: {', '.join(sorted(_SPLIT_KEYS))})")
    check_spec_document({"target": "", "modalities": {}, "split": split}, origin)  # types and ranges
    split_spec = SplitSpec(**split)
    if split_spec.column is None and not (0 < split_spec.val < 1 and 0 <= split_spec.test < 1
                                          and split_spec.val + split_spec.test < 1):
        raise ModalyzeError(f"{origin}: split fractions val={split_spec.val} in (0, 1) and test={split_spec.test} in "
                            "[0, 1) (0: no test split) must sum below 1")
    return split_spec


def parse_modalities(raw: dict[str, Any], origin: str) -> dict[str, ModalitySpec]:
    """A ``modalities:`` mapping -> validated specs, each declared view expanded into its modalities."""
    out: dict[str, ModalitySpec] = {}
    for name, entry in raw.items():
        for part, spec in _expand_view(check_name(name, "modality", origin), entry, origin).items():
            if part in out:
                raise ModalyzeError(f"{origin}: modality '{part}' is declared twice")
            out[part] = spec
    return out


def _expand_view(name: str, raw: Any, origin: str) -> dict[str, ModalitySpec]:
    """``view: channels`` -> modalities <name>_r/_g/_b; ``view: {patches: n}`` -> <name>_p<row><col> (n × n).

    Each part reads the same column; the image featurizer extracts its part (option ``view``).
    """
    view = raw.get("view") if isinstance(raw, dict) else None
    spec = _parse_modality(name, {k: v for k, v in raw.items() if k != "view"} if isinstance(raw, dict) else raw, origin)
    if view is None:
        return {name: spec}
    where = f"{origin}: modality '{name}'"
    if not get_kind(spec.kind).views:
        raise ModalyzeError(f"{where}: 'view' applies to {', '.join(k for k in kinds() if get_kind(k).views)} "
                            f"modalities, not {spec.kind}")
    if view == "channels":
        parts = {f"{name}_{c}": {"channel": i} for i, c in enumerate(CHANNELS)}
    elif isinstance(view, dict) and set(view) == {"patches"} and isinstance(view["patches"], int) and 2 <= view["patches"] <= 4:
        n = view["patches"]
        parts = {f"{name}_p{r}{c}": {"patch": [r, c, n]} for r in range(n) for c in range(n)}
    else:
        raise ModalyzeError(f"{where}: 'view' must be 'channels' or {{patches: N}} with N from 2 to 4, not {view!r}")
    return {part: ModalitySpec(spec.kind, spec.columns, {**spec.options, "view": v}, spec.encoder, spec.dropout)
            for part, v in parts.items()}


def _parse_modality(name: str, raw: Any, origin: str) -> ModalitySpec:
    where = f"{origin}: modality '{name}'"
    if isinstance(raw, ModalitySpec):
        _check_kind_options(raw.kind, raw.options, raw.encoder, where)
        return raw
    if not isinstance(raw, dict):
        raise ModalyzeError(f"{where} must be a mapping like {{kind: image, column: path}}")
    if "kind" not in raw:
        raise ModalyzeError(f"{where}: missing required key 'kind' (one of {', '.join(kinds())})")
    if raw["kind"] not in kinds():
        raise ModalyzeError(f"{where}: unknown kind '{raw['kind']}'{suggest(str(raw['kind']), kinds())} "
                            f"(one of {', '.join(kinds())})")
    unknown = set(raw) - MODALITY_KEYS
    if unknown:
        key = str(sorted(unknown, key=str)[0])
        raise ModalyzeError(f"{where}: unknown key '{key}'{suggest(key, sorted(MODALITY_KEYS))} "
                            f"(known: {', '.join(sorted(MODALITY_KEYS))})")
    if "column" in raw:
        columns = [str(raw["column"])]
    elif "columns" in raw and isinstance(raw["columns"], list) and raw["columns"]:
        columns = [str(c) for c in raw["columns"]]
    else:
        raise ModalyzeError(f"{where}: needs 'column: NAME' or a non-empty 'columns: [...]'")
    kind = get_kind(raw["kind"])
    if kind.one_column and len(columns) != 1:
        raise ModalyzeError(f"{where}: kind {raw['kind']} reads exactly one column")
    if "column" in raw and "columns" in raw:
        raise ModalyzeError(f"{where}: give 'column: NAME' or 'columns: [...]', not both")
    encoder = raw.get("encoder") or {}
    if isinstance(encoder, str) and encoder in kind.encoder_aliases:
        encoder = kind.encoder_aliases[encoder]
    if not isinstance(encoder, dict):
        aliases = "".join(f", or '{a}'" for a in kind.encoder_aliases)
        raise ModalyzeError(f"{where}: 'encoder' must be a mapping of encoder options{aliases}")
    if "hf" in encoder and len(columns) != 1:
        raise ModalyzeError(f"{where}: a pretrained encoder reads exactly one column")
    if "hf" in encoder and kind.pretrained is None:
        with_hf = ", ".join(k for k in kinds() if get_kind(k).pretrained)
        raise ModalyzeError(f"{where}: pretrained encoders ('hf') exist for {with_hf}, not {raw['kind']}")
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise ModalyzeError(f"{where}: 'options' must be a mapping of {raw['kind']} options")
    _check_kind_options(raw["kind"], options, encoder, where)
    dropout = raw.get("dropout")
    if dropout is not None and (isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1):
        raise ModalyzeError(f"{where}: 'dropout' must be a rate in [0, 1), not {dropout!r}")
    return ModalitySpec(kind=raw["kind"], columns=columns, options=dict(options),
                        encoder=dict(encoder), dropout=None if dropout is None else float(dropout))


def _check_kind_options(kind: str, options: dict[str, Any], encoder: dict[str, Any], where: str) -> None:
    """The kind's featurizer options and its encoder's options, each against its declared types."""
    check_named(get_kind(kind).featurizer.option_types, options, where)
    name = "pretrained" if "hf" in encoder else kind
    check_named(signature_types(ENCODERS.get(name).__init__, skip=("info", "dim")),
                {k: v for k, v in encoder.items() if name == kind or k not in PRETRAINED_KEYS}, where, "encoder option")
