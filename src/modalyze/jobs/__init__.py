"""The jobs behind the CLI commands, callable from Python, one module per family of commands:
:mod:`~modalyze.jobs.classify` (train, evaluate, predict, robustness), :mod:`~modalyze.jobs.study`
(analyze, groupings, compare, map), :mod:`~modalyze.jobs.align` (align, embed, zeroshot, retrieve) and
:mod:`~modalyze.jobs.probe`. Each job opens the data, calls the library and writes its output folder;
the CLI only parses and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modalyze.data import table_spec
from modalyze.outputs import output_file, write_text
from modalyze.spec import Spec, spec_yaml


def open_data(data: str | Path, target: str | None = None, modalities: list[str] | None = None,
              write_spec: str | Path | None = None, slices: list[str] | None = None,
              split: dict[str, Any] | None = None) -> tuple[str | Path | Spec, str]:
    """What a command trains on: ``data`` as given, or for a table with ``target`` its inferred
    :class:`Spec` with the ``slices`` and ``split`` given (written to ``write_spec`` as YAML when given,
    so the user can edit and reuse it); also the inferred spec as YAML with the left-out columns as
    comments (empty for other data)."""
    if target is None and not modalities and write_spec is None and not slices and not split:
        return data, ""
    spec, left_out = table_spec(data, target, modalities, slices=slices, split=split)
    notes = "".join(f"# left out: {column} ({why})\n" for column, why in left_out.items())
    if write_spec is not None:
        write_text(output_file(write_spec, inputs=(data,)), notes + spec_yaml(spec, Path(write_spec).parent))
    return spec, notes + spec_yaml(spec)
