"""Jobs of ``modalyze probe``: probe models on a dataset, or write every condition's inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modalyze.errors import ModalyzeError, reading
from modalyze.outputs import output_dir, write_json


def probe_to_dir(data: str | Path, models: list[str], out: str | Path, profile: str | Path | None = None,
                 **options: Any) -> dict[str, Any]:
    """Probe ``models`` on ``data``; write ``probe.json`` and ``probe.html`` (the answers are cached in
    ``out/cache``, so a rerun asks the models only what is missing)."""
    from modalyze.analysis.probe import probe
    from modalyze.report.html import write_probe_report
    from modalyze.run import read_json

    dataset_profile = None
    if profile is not None:
        with reading(Path(profile), "profile"):
            dataset_profile = read_json(profile)
        if not isinstance(dataset_profile, dict) or not {"intra", "chance", "verdict"} <= set(dataset_profile):
            raise ModalyzeError(f"{profile}: not a profile.json written by modalyze analyze")
    with output_dir(out, "probe"):
        result = probe(data, models, out, dataset_profile, **options)
        write_json(Path(out) / "probe.json", result)
        write_probe_report(result, out)
    return result


def write_conditions_to_dir(data: str | Path, out: str | Path, **options: Any) -> list[str]:
    """The inputs of every probe condition as CSV files (see :func:`modalyze.analysis.probe.write_conditions`)."""
    from modalyze.analysis.probe import write_conditions

    with output_dir(out, "probe-conditions"):
        return write_conditions(data, out, **options)
