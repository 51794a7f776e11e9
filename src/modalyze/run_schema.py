"""The typed schema of a run directory's ``config.json`` (pydantic): every value checked by its type.

A run directory is untrusted input (it may come from elsewhere, or have been edited), so reading one
checks every value before anything is built from it: the spec's fields, the classes, the model
config, and each training setting against its declared option type (:data:`modalyze.options.OPTION_TYPES`).
The first problem is one line naming the file and the key: ``RUN/config.json: 'train.lr': input
should be a valid number``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError,
                      create_model)

from modalyze.errors import ModalyzeError
from modalyze.settings import MODEL_FAMILIES
from modalyze.options import OPTION_TYPES, describe

_STRICT = ConfigDict(extra="forbid", strict=True)
_OPEN = ConfigDict(extra="allow", strict=True)  # keys added by later versions are kept, typed ones checked
Label = Union[StrictStr, StrictBool, StrictInt, StrictFloat]
Number = Union[StrictInt, StrictFloat]
Json = Any


class _Modality(BaseModel):
    model_config = _STRICT
    kind: StrictStr
    columns: Annotated[list[StrictStr], Field(min_length=1)]
    options: dict[StrictStr, Json] = {}
    encoder: dict[StrictStr, Json] = {}
    dropout: Annotated[Number, Field(ge=0, lt=1)] | None = None


class _Split(BaseModel):
    model_config = _STRICT
    val: Number = 0.1
    test: Number = 0.2
    seed: Annotated[StrictInt, Field(ge=0)] = 0
    column: StrictStr | None = None


class _Spec(BaseModel):
    model_config = _STRICT
    name: StrictStr
    target: StrictStr
    modalities: Annotated[dict[StrictStr, _Modality], Field(min_length=1)]
    source: StrictStr | dict[Literal["train", "val", "test"], StrictStr] | None = None
    slices: list[StrictStr] = []
    split: _Split = _Split()
    base_dir: StrictStr = "."
    builtin: dict[StrictStr, Json] | None = None


class _Encoder(BaseModel):
    model_config = _STRICT
    kind: StrictStr
    info: dict[StrictStr, Json]
    encoder: dict[StrictStr, Json] = {}


class _Classifier(BaseModel):
    model_config = _STRICT
    model: StrictStr
    modalities: Annotated[dict[StrictStr, _Encoder], Field(min_length=1)]
    n_classes: Annotated[StrictInt, Field(ge=2)]
    dim: Annotated[StrictInt, Field(ge=1, le=65536)]
    fusion: StrictStr
    fusion_options: dict[StrictStr, Json] = {}
    dropout: Annotated[Number, Field(ge=0, lt=1)] = 0.1
    family: Literal[MODEL_FAMILIES] = "neural"
    members: dict[StrictStr, Literal["neural", "linear", "trees"]] = {}


class _Aligner(BaseModel):
    model_config = _STRICT
    modalities: Annotated[dict[StrictStr, _Encoder], Field(min_length=2)]
    loss: StrictStr
    anchor: StrictStr | None = None
    lock: list[StrictStr] = []
    dim: Annotated[StrictInt, Field(ge=1, le=65536)]
    embed_dim: Annotated[StrictInt, Field(ge=1, le=65536)]


@lru_cache(maxsize=None)
def _train_model(names: tuple[str, ...]) -> type[BaseModel]:
    """The ``train`` settings: each field typed by its declared option type (strict: no text for numbers)."""
    fields = {name: (OPTION_TYPES[name] | None, None) for name in names}
    return create_model("TrainSettings", __config__=_OPEN, **fields)


def _config_model(schema: str) -> type[BaseModel]:
    from modalyze.settings import AlignSettings, TrainSettings

    aligner = schema == "modalyze.aligner/1"
    settings = (AlignSettings if aligner else TrainSettings).names()
    extra = {"word_dropout": (Annotated[Number, Field(ge=0, lt=1)], 0.0)} if aligner else {}
    return create_model(
        "RunConfig", __config__=ConfigDict(extra="allow", strict=True),
        schema_=(Literal[schema], Field(..., alias="schema")),
        model=(_Aligner if aligner else _Classifier, ...), spec=(_Spec, ...),
        classes=(Annotated[list[Label], Field(min_length=0 if aligner else 2)], ...),
        train=(_train_model(tuple(settings)), ...), unreadable=(Literal["error", "missing"], "error"),
        versions=(dict[StrictStr, StrictStr], {}), **extra)


def check_run_config(raw: Any, path: Path, schema: str) -> dict[str, Any]:
    """Validate a parsed ``config.json``; returns it. One line naming the file and key otherwise."""
    try:
        _config_model(schema).model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in error["loc"] if not str(p)[:1].isupper() and "[" not in str(p))
        single = ValidationError.from_exception_data(exc.title, [error])
        raise ModalyzeError(f"{path}: '{key}': {describe(single)}") from None
    classes = raw["classes"]
    if len({type(c) for c in classes}) > 1 or len({json.dumps(c) for c in classes}) < len(classes):
        raise ModalyzeError(f"{path}: 'classes' must be distinct labels of one kind (all text, numbers or booleans)")
    model = raw["model"]
    if set(model["modalities"]) != set(raw["spec"]["modalities"]):
        raise ModalyzeError(f"{path}: 'model.modalities' ({', '.join(model['modalities'])}) do not match the spec's "
                            f"modalities ({', '.join(raw['spec']['modalities'])})")
    if "n_classes" in model and model["n_classes"] != len(raw["classes"]):
        raise ModalyzeError(f"{path}: 'model.n_classes' is {model['n_classes']} but 'classes' lists {len(raw['classes'])}")
    return raw
