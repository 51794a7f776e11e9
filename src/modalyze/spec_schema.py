"""The typed schema of a spec file (pydantic), built from the registries: each kind's ``options:``
from its featurizer's declared option types, its ``encoder:`` options from the encoder's signature.

``modalyze spec-schema`` prints it as JSON Schema (for editors); :func:`check_spec_document` validates
a parsed spec file against it and turns the first problem into one line naming the file and key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from modalyze.errors import ModalyzeError
from modalyze.kind import ENCODERS, PRETRAINED_KEYS, get_kind, kinds
from modalyze.options import describe, signature_types, suggest

MODALITY_KEYS = {"kind", "column", "columns", "options", "encoder", "dropout", "view"}
_STRICT = ConfigDict(extra="forbid")


def _encoder_options(name: str) -> dict[str, Any]:
    """The options an encoder takes: its constructor's keyword parameters with their types."""
    return signature_types(ENCODERS.get(name).__init__, skip=("info", "dim"))


def spec_model() -> type[BaseModel]:
    """The pydantic model of a whole spec file, for the kinds registered now."""
    return _spec_model(tuple(kinds()))


@lru_cache(maxsize=4)
def _spec_model(names: tuple[str, ...]) -> type[BaseModel]:
    pretrained = create_model(
        "PretrainedEncoder", __config__=_STRICT, hf=(str, ...), freeze=(bool, False), max_len=(int, 128),
        **{k: (t, None) for k, t in _encoder_options("pretrained").items()})
    members = []
    for kind in names:
        declared = get_kind(kind)
        options = create_model(f"{kind.title()}Options", __config__=_STRICT,
                               **{k: (t | None, None) for k, t in declared.featurizer.option_types.items()
                                  if k != "view"})
        encoder = create_model(f"{kind.title()}Encoder", __config__=_STRICT,
                               **{k: (t | None, None) for k, t in _encoder_options(kind).items()})
        choices: list[Any] = [encoder] + ([pretrained] if declared.pretrained else [])
        choices += [Literal[alias] for alias in declared.encoder_aliases]
        encoders: Any = Union[tuple(choices)] if len(choices) > 1 else encoder
        fields: dict[str, Any] = dict(
            kind=(Literal[kind], ...), column=(str | None, None), columns=(list[str] | None, None),
            options=(options | None, None), encoder=(encoders | None, None),
            dropout=(Annotated[float, Field(ge=0, lt=1)] | None, None))
        if declared.views:
            fields["view"] = (Literal["channels"] | create_model("Patches", __config__=_STRICT,
                                                                   patches=(Annotated[int, Field(ge=2, le=4)], ...)) | None,
                              None)
        members.append(create_model(f"{kind.title()}Modality", __config__=_STRICT, **fields))
    modality = Annotated[Union[tuple(members)], Field(discriminator="kind")]
    split = create_model("Split", __config__=_STRICT, val=(Annotated[float, Field(gt=0, lt=1)], 0.1),
                         test=(Annotated[float, Field(ge=0, lt=1)], 0.2), seed=(Annotated[int, Field(ge=0)], 0),
                         column=(str | None, None))
    sources = create_model("SplitSources", __config__=_STRICT, train=(str, ...), val=(str | None, None),
                           test=(str | None, None))
    return create_model(
        "Spec", __config__=_STRICT, name=(str | None, None), source=(str | sources | None, None), target=(str, ...),
        modalities=(dict[str, modality], ...), slices=(str | list[str] | None, None), split=(split | None, None),
        builtin=(dict[str, Any] | None, None), base_dir=(str | None, None))


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of spec files."""
    schema = spec_model().model_json_schema()
    schema["title"] = "modalyze dataset spec"
    return schema


def check_spec_document(raw: Any, origin: str) -> None:
    """Validate a parsed spec file; the first problem is one line: ``<file>: <key.path>: <reason>``."""
    try:
        spec_model().model_validate(raw)
    except ValidationError as exc:
        raise ModalyzeError(f"{origin}: {_explain(exc, raw)}") from None


def _explain(exc: ValidationError, raw: Any) -> str:
    errors = exc.errors(include_url=False)
    error = next((e for e in errors if _chosen_branch(e["loc"], raw)), errors[0])
    loc = _key_path(error["loc"])
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        known = _known_keys(raw, loc[:-1])
        return f"unknown key '{key}'{suggest(loc[-1], known)}" + (f" (known: {', '.join(known)})" if known else "")
    if error["type"] == "missing":
        return f"missing required key '{key}'"
    return f"'{key}': {describe(ValidationError.from_exception_data(exc.title, [error]))}"


def _key_path(loc: tuple[Any, ...]) -> list[str]:
    """The error location as the file's keys: without pydantic's union members (the kind tag after a
    modality's name, model names such as 'TextEncoder', type names such as 'str')."""
    parts = [str(p) for p in loc]
    if len(parts) > 2 and parts[0] == "modalities":
        parts = parts[:2] + parts[3:]  # modalities.<name>.<kind tag>.<key> -> modalities.<name>.<key>
    return [p for p in parts if not (p[:1].isupper() or p in ("str", "list[str]") or p.startswith("literal["))]


def _chosen_branch(loc: tuple[Any, ...], raw: Any) -> bool:
    """For an ``encoder:`` mapping, the errors of the branch the user meant: pretrained when it names ``hf``."""
    parts = [str(p) for p in loc]
    if "encoder" not in parts:
        return True
    node = _node(raw, _key_path(loc)[: _key_path(loc).index("encoder") + 1])
    wants_pretrained = isinstance(node, dict) and "hf" in node
    return ("PretrainedEncoder" in parts) == wants_pretrained


def _known_keys(raw: Any, path: list[str]) -> list[str]:
    """The keys the mapping at ``path`` may hold (for the did-you-mean suggestion)."""
    if not path:
        return sorted(spec_model().model_fields)
    if path[0] == "split":
        return ["column", "seed", "test", "val"]
    if path[0] == "source":
        return ["test", "train", "val"]
    if path[0] == "modalities" and len(path) >= 2:
        modality = _node(raw, path[:2])
        return sorted(_modality_fields(modality.get("kind") if isinstance(modality, dict) else None, path[2:],
                                       _node(raw, path)))
    return []


def _node(raw: Any, path: list[str]) -> Any:
    for part in path:
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def _modality_fields(kind: Any, rest: list[str], node: Any) -> list[str]:
    if kind not in kinds():
        return []
    declared = get_kind(kind)
    if not rest:
        return [k for k in MODALITY_KEYS if k != "view" or declared.views]
    if rest[0] == "options":
        return [k for k in declared.featurizer.option_types if k != "view"]
    if rest[0] == "encoder":
        encoder = "pretrained" if isinstance(node, dict) and "hf" in node else kind
        extra = list(PRETRAINED_KEYS) if encoder == "pretrained" else []
        return extra + list(_encoder_options(encoder))
    return []
