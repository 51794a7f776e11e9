"""Declared types and ranges of every option, checked before any work (one table, one message format).

An option has the same meaning in every command and in the Python API (``seed`` is always a seed,
``lr`` always a learning rate), so its type lives here once, keyed by name. Every library entry point
calls :func:`check_options` with its options before it reads data or trains; a value outside its
type is a :class:`ModalyzeError` such as ``option lr=-1.0: must be greater than 0``.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, Field, StrictBool, TypeAdapter, ValidationError

from modalyze.errors import ModalyzeError
from modalyze.settings import EXECUTORS, EXPERT_FAMILIES, LOGGERS, MODEL_FAMILIES

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
PRECISIONS = ("64-true", "64", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true")


def _devices(value: int | str) -> int | str:
    """A count (>= 1, or -1 for all), 'auto', or a comma-separated list of device indices."""
    if isinstance(value, int):
        if value == -1 or value >= 1:
            return value
        raise ValueError("a device count must be at least 1 (or -1 for all devices)")
    text = value.strip()
    if text.isdigit() or text == "-1":
        return _devices(int(text))
    if text == "auto" or (text and all(part.strip().isdigit() for part in text.strip(",").split(","))):
        return text
    raise ValueError("use a count such as 2, 'auto', or device indices such as 0,1")


def _registered(module: str, attribute: str):
    """A name that must be in a registry or mapping (imported lazily: checking options stays cheap)."""
    def check(value: str) -> str:
        import importlib

        known = getattr(importlib.import_module(module), attribute)
        names = known.names() if hasattr(known, "names") else list(known)
        if value not in names:
            raise ValueError(f"'{value}' is not one of {', '.join(names)}{suggest(str(value), names)}")
        return value
    return AfterValidator(check)


Count = Annotated[int, Field(ge=1, le=10**9)]
NonNegative = Annotated[int, Field(ge=0, le=10**9)]
Rate = Annotated[float, Field(ge=0, lt=1)]
Level = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]
Fusion = Annotated[str, _registered("modalyze.fusion", "FUSIONS")]
Loss = Annotated[str, _registered("modalyze.losses", "LOSSES")]

OPTION_TYPES: dict[str, Any] = {
    "seed": Seed,
    "max_epochs": Count,
    "patience": NonNegative,
    "min_steps": NonNegative,
    "batch_size": Count,
    "lr": Annotated[float, Field(gt=0, le=10)],
    "weight_decay": Annotated[float, Field(ge=0, le=10)],
    "aux_weight": Annotated[float, Field(ge=0, le=1000)],
    "modality_dropout": Rate,
    "word_dropout": Rate,
    "dim": Annotated[int, Field(ge=1, le=65536)],
    "embed_dim": Annotated[int, Field(ge=1, le=65536)],
    "fusion": Fusion,
    "fusions": Annotated[list[Fusion], Field(min_length=1)],
    "loss": Loss,
    "accelerator": Literal[ACCELERATORS],
    "devices": Annotated[int | str, AfterValidator(_devices)],
    "unreadable": Literal["error", "missing"],
    "budget": Annotated[str, _registered("modalyze.settings", "BUDGETS")],
    "min_slice_rows": Count,
    "bootstrap": Count,
    "permutations": Annotated[int, Field(ge=1, le=1000)],
    "split": Literal["train", "val", "test", "all"],
    "levels": Annotated[list[Level], Field(min_length=1)],
    "gap_shift": Level,
    "progress": StrictBool,
    "logger": Optional[Literal[LOGGERS]],
    "strategy": Annotated[str, Field(min_length=1, max_length=100)],
    "precision": Optional[Literal[PRECISIONS]],
    "jobs": Annotated[int, Field(ge=1, le=1024)] | Literal["auto"],
    "executor": Literal[EXECUTORS],
    "experts": Literal[EXPERT_FAMILIES],
    "family": Literal[MODEL_FAMILIES],
    "val": Annotated[float, Field(gt=0, lt=1)],  # a table's split shares (--val, --test) and seed
    "test": Annotated[float, Field(ge=0, lt=1)],
    "split_seed": Seed,
    "workers": Annotated[int, Field(ge=0, le=256)] | Literal["auto"],
    "feature_cache": StrictBool,
    "ray_address": Optional[str],
    "log_dir": Optional[str],
}
_ADAPTERS = {name: TypeAdapter(kind) for name, kind in OPTION_TYPES.items()}


def check_options(**values: Any) -> dict[str, Any]:
    """Validate named option values against their declared types; returns them (devices parsed)."""
    out = {}
    for name, value in values.items():
        if name not in _ADAPTERS:  # a programming error: every option must be declared above
            raise KeyError(f"option {name!r} has no declared type in modalyze.options.OPTION_TYPES")
        out[name] = check_value(_ADAPTERS[name], value, f"option {name}")
    return out


def check_value(adapter: TypeAdapter, value: Any, where: str) -> Any:
    """``adapter.validate_python(value)``, with a failure as one line:
    ``<where>=<value>: <reason> (allowed: <the declared values>)``."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        allowed = "" if exc.errors()[0]["type"] == "literal_error" else allowed_values(adapter)
        raise ModalyzeError(f"{where}={value!r}: {describe(exc)}" + (f" (allowed: {allowed})" if allowed else "")) from None


def allowed_values(adapter: TypeAdapter) -> str:
    """The declared values of a type in words, from its JSON Schema: 'a number in [0, 1)', 'one of a, b'."""
    try:
        schema = adapter.json_schema()
    except Exception:  # noqa: BLE001 - a type without a JSON Schema has no short description
        return ""
    if schema.get("type") == "array":
        inner = allowed_values(TypeAdapter(Any)) if "items" not in schema else _describe_schema(schema["items"])
        return f"a list of {inner}" if inner else ""
    return _describe_schema(schema)


def _describe_schema(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    noun = {"integer": "an integer", "number": "a number", "boolean": "true or false"}.get(schema.get("type", ""))
    if noun is None:
        return ""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None and high is None:
        return noun
    left = "(" if "exclusiveMinimum" in schema else "["
    right = ")" if "exclusiveMaximum" in schema else "]"
    return f"{noun} in {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"


def describe(exc: ValidationError) -> str:
    """The first problem of a pydantic error as a short lower-case phrase (no URL, no input echo)."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_named(types: dict[str, Any], values: dict[str, Any], where: str, what: str = "option") -> dict[str, Any]:
    """Validate a mapping of options against declared types: an unknown key is an error with the
    closest known one suggested, a value outside its type is an error naming the key."""
    for key, value in values.items():
        if key not in types:
            known = ", ".join(sorted(types)) or "none"
            raise ModalyzeError(f"{where}: unknown {what} '{key}'{suggest(str(key), sorted(types))} (known: {known})")
    return {key: check_value(TypeAdapter(types[key]), value, f"{where}: {what} {key}") for key, value in values.items()}


def signature_types(fn: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The declared types of ``fn``'s keyword parameters (annotations resolved, constraints kept)."""
    import inspect
    from typing import get_type_hints

    hints = get_type_hints(fn, include_extras=True)
    return {name: hints.get(name, Any) for name in inspect.signature(fn).parameters
            if name not in ("self", *skip) and name in hints}
