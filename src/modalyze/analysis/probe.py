"""``modalyze probe``: which modalities does an existing model use? The shuffle protocol.

The model answers the test rows under each **condition**:

- ``normal``: the rows as they are;
- ``shuffle:<m>#k``: modality m's columns permuted across rows (permutation k of ``permutations``),
  every other column in place: m no longer matches the rest of its row;
- ``shuffle:all#k``: every modality permuted independently;
- ``remove:<m>``: m's cells emptied, where the adapter accepts missing inputs;
- ``order:<m>``: for a modality whose kind has an order (time series, audio, video), time shuffled
  within each row, the content kept (its kind's ``reorder``: files are rewritten under the output
  folder's ``conditions/``, once).

Scores carry bootstrap intervals (over rows, and over permutations), drops are paired with the
normal condition, and the verdict reads the drops (see :func:`verdict`). Each condition's answers
are cached per batch under ``cache/<adapter identity, rows, seed>/``, so a killed probe reruns only
what is missing, and a failing adapter leaves the batches it answered on disk.

Answers may be probabilities over the labels or labels; labels are matched to the label set after
normalisation (case and surrounding space), then to the nearest label by spelling; answers that
match none are counted as *unmapped* (and wrong), never dropped.
"""

from __future__ import annotations

import difflib
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modalyze.adapters import Adapter
from modalyze.analysis.stats import Draws, chance, difference_ci, score_with_ci
from modalyze.data.table import slice_labels
from modalyze.analysis.shuffle import ORDER
from modalyze.errors import ModalyzeError
from modalyze.kind import get_kind
from modalyze.log import Log, info
from modalyze.settings import PROBE
from modalyze.outputs import write_array, write_with

PROBE_SCHEMA = "modalyze.probe/1"
NEAREST_CUTOFF = 0.6  # difflib ratio an answer needs to be mapped to its nearest label


@dataclass(frozen=True)
class Condition:
    name: str  # "normal", "shuffle:<m>#k", "shuffle:all#k", "remove:<m>", "order:<m>"
    kind: str  # "normal", "shuffle", "remove", "order"
    target: str | None  # the modality (or "all")
    round: int = 0


def conditions(modalities: list[str], permutations: int, remove: bool, ordered: tuple[str, ...] = ()) -> list[Condition]:
    """Every condition the probe asks a model about, the normal one first (``ordered``: the modalities
    whose kind has an order)."""
    out = [Condition("normal", "normal", None)]
    for target in [*modalities, "all"]:
        out += [Condition(f"shuffle:{target}#{k}", "shuffle", target, k) for k in range(permutations)]
    if remove:
        out += [Condition(f"remove:{m}", "remove", m) for m in modalities]
    return out + [Condition(f"{ORDER}{m}", "order", m) for m in ordered]


def ordered(rows: pd.DataFrame) -> tuple[str, ...]:
    """The modalities of probed rows whose kind can shuffle time in raw cells."""
    return tuple(m for m, kind in rows.attrs["kinds"].items() if get_kind(kind).reorder is not None)


def apply(rows: pd.DataFrame, columns: dict[str, list[str]], condition: Condition, seed: int,
          files: Path | None = None) -> pd.DataFrame:
    """The rows as the model sees them under ``condition`` (a new frame; ``rows`` stays as it is);
    ``files``: the folder the order condition writes rewritten files to."""
    out = rows.copy()
    out.attrs = dict(rows.attrs)
    if condition.kind == "shuffle":
        for m in (list(columns) if condition.target == "all" else [condition.target]):
            rng = np.random.default_rng([seed, condition.round, zlib.crc32(m.encode())])
            perm = rng.permutation(len(rows))
            out[columns[m]] = rows[columns[m]].iloc[perm].to_numpy()
    elif condition.kind == "remove":
        out[columns[condition.target]] = None
    elif condition.kind == "order":
        m = condition.target
        if files is None:
            raise ModalyzeError(f"condition {condition.name}: needs a folder for the rewritten inputs")
        reorder = get_kind(rows.attrs["kinds"][m]).reorder
        out[columns[m]] = reorder(rows[columns[m]], Path(rows.attrs["base_dir"]), files / _file_name(condition.name),
                                  seed).to_numpy()
    return out


def map_answers(answers: Any, classes: list[Any], adapter: str) -> np.ndarray:
    """Answers -> class index per row (-1: unmapped): probabilities by their largest entry, labels
    exactly after normalisation, else to the nearest label by spelling."""
    array = np.asarray(answers)
    n_classes = len(classes)
    if array.ndim == 2:
        if array.shape[1] != n_classes or not np.issubdtype(array.dtype, np.number):
            raise ModalyzeError(f"model {adapter}: returned an array of shape {array.shape}; expected one label "
                                f"per row or probabilities [rows, {n_classes}] in the order of rows.attrs['classes']")
        if not np.isfinite(array).all():
            raise ModalyzeError(f"model {adapter}: returned probabilities that are not finite")
        return array.argmax(1)
    if array.ndim != 1:
        raise ModalyzeError(f"model {adapter}: returned an array of shape {array.shape}; expected one label per row")
    labels = [_norm(c) for c in classes]
    names = {label: i for i, label in enumerate(labels)}
    out = np.full(len(array), -1)
    for i, answer in enumerate(array.tolist()):
        text = _norm(answer)
        close = [text] if text in names else difflib.get_close_matches(text, labels, n=1, cutoff=NEAREST_CUTOFF)
        if close:
            out[i] = names[close[0]]
    return out


def _norm(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


class Cache:
    """Answers per condition and batch: ``root/<condition>/<first row>.npy`` (class index per row)."""

    def __init__(self, root: Path):
        self.root = root

    def batch(self, condition: str, start: int) -> Path:
        return self.root / _file_name(condition) / f"{start:08d}.npy"

    def load(self, path: Path) -> np.ndarray | None:
        return np.load(path, allow_pickle=False) if path.exists() else None

    def save(self, path: Path, values: np.ndarray) -> None:
        write_array(path, values)


def answers(adapter: Adapter, rows: pd.DataFrame, columns: dict[str, list[str]], condition: Condition, seed: int,
            cache: Cache, batch_size: int, files: Path) -> np.ndarray:
    """The model's class index per row under ``condition`` (-1: an unmapped answer), cached per batch."""
    seen = apply(rows, columns, condition, seed, files)
    parts = []
    for start in range(0, len(rows), batch_size):
        path = cache.batch(condition.name, start)
        index = cache.load(path)
        if index is None:
            chunk = seen.iloc[start:start + batch_size]
            output = adapter.predict(chunk, condition.name)
            if len(np.asarray(output)) != len(chunk):
                raise ModalyzeError(f"model {adapter.name}: returned {len(np.asarray(output))} answers for "
                                    f"{len(chunk)} rows")
            index = map_answers(output, rows.attrs["classes"], adapter.name)
            cache.save(path, index)
        parts.append(index)
    return np.concatenate(parts)


def probe_model(adapter: Adapter, rows: pd.DataFrame, columns: dict[str, list[str]], y: np.ndarray,
                root: Path, permutations: int = PROBE.permutations, seed: int = PROBE.seed,
                bootstrap: int = PROBE.bootstrap, batch_size: int = PROBE.batch_size,
                slices: tuple[str, ...] = (), min_slice_rows: int = 50, log: Log = info) -> dict[str, Any]:
    """Scores, drops and the verdict of one model on ``rows`` (labels ``y`` as class indices), and on
    each value of each ``slices`` column with at least ``min_slice_rows`` rows."""
    key = hashlib.sha256(f"{adapter.identity}|{_rows_digest(rows)}|{seed}".encode()).hexdigest()[:16]
    cache = Cache(root / "cache" / key)
    modalities = list(columns)
    hits: dict[str, list[np.ndarray]] = {}
    unmapped = 0
    for condition in conditions(modalities, permutations, adapter.accepts_missing, ordered(rows)):
        index = answers(adapter, rows, columns, condition, seed, cache, batch_size, root / "conditions")
        hits.setdefault(condition.name.split("#")[0], []).append(index == y)
        unmapped += int((index < 0).sum())
        log(f"probe {adapter.name}: {condition.name} done ({float((index == y).mean()):.3f})")
    stacked = {name: np.stack(h) for name, h in hits.items()}  # [P, N] per condition
    result = {"model": adapter.name, "identity": adapter.identity, "unmapped": unmapped,
              "permutations": permutations, **summarize(stacked, y, np.arange(len(y)), modalities, bootstrap, seed)}
    result["slices"] = {column: {value: summarize(stacked, y, np.flatnonzero(labels == value), modalities, bootstrap, seed)
                                 for value in sorted(set(labels)) if (labels == value).sum() >= min_slice_rows}
                        for column in slices for labels in [slice_labels(rows[column])]}
    return result


def summarize(hits: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, modalities: list[str], bootstrap: int,
              seed: int) -> dict[str, Any]:
    """Scores, paired drops and the verdict on a set of rows (all of them, or one slice)."""
    draws = Draws.make(len(rows), bootstrap, seed)
    sub = {name: h[:, rows] for name, h in hits.items()}
    scores = {name: score_with_ci(h, draws) for name, h in sub.items()}
    drops = {name: difference_ci(sub["normal"], h, draws=draws) for name, h in sub.items() if name != "normal"}
    out = {"scores": scores, "drops": drops, "chance": chance(y[rows]), "n": int(len(rows))}
    return {**out, **verdict(out, modalities)}


def _rows_digest(rows: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(rows.astype(str), index=True).to_numpy().tobytes()).hexdigest()


def margin(score: float, chance_: float) -> float:
    """The smallest drop that counts as reliance: 0.01, or 5% of the model's gain over chance."""
    return max(0.01, 0.05 * (score - chance_))


def verdict(result: dict[str, Any], modalities: list[str]) -> dict[str, Any]:
    """The model's reliance in words, from the shuffle drops (the rule is in the README).

    A modality is *used* when the lower end of its shuffle drop's interval is above the margin;
    otherwise the model shows no measurable reliance on it and *ignores* it. A model whose normal
    score does not clear chance + 0.01 at the lower end of its interval *uses neither*. When no single
    modality's shuffle hurts but shuffling all does, the modalities are used *redundantly* (either
    one suffices).
    """
    normal, c = result["scores"]["normal"], result["chance"]
    delta = margin(normal["score"], c)
    used = [m for m in modalities if result["drops"][f"shuffle:{m}"]["ci"][0] > delta]
    ignored = [m for m in modalities if m not in used]
    if normal["ci"][0] <= c + 0.01:
        text, category = "uses neither (scores at chance)", "neither"
    elif not ignored:
        text, category = ("uses both" if len(modalities) == 2 else "uses all of " + ", ".join(used)), "both"
    elif not used:
        redundant = result["drops"]["shuffle:all"]["ci"][0] > delta
        text = ("uses " + " and ".join(modalities) + " redundantly (either suffices)" if redundant
                else "relies on no modality measurably")
        category = "redundant" if redundant else "neither"
    else:
        text, category = f"relies on {', '.join(used)}, ignores {', '.join(ignored)}", "partial"
    return {"verdict": text, "category": category, "used": used, "ignored": ignored, "margin": delta}


def against_profile(result: dict[str, Any], profile: dict[str, Any]) -> list[str]:
    """What the model uses next to what the dataset offers (a profile from ``modalyze analyze``)."""
    notes = []
    for m, entry in profile.get("intra", {}).items():
        beats = entry["ci"][0] > profile["chance"] + 0.01
        if m in result["ignored"] and beats:
            notes.append(f"the data's {m} alone scores {entry['score']:.3f} (chance {profile['chance']:.3f}), "
                         f"but the model ignores {m}")
    if profile.get("verdict") in ("both", "inter-dominant") and result["ignored"]:
        notes.append(f"the dataset needs the modalities together ({profile['verdict']}); a model that ignores "
                     f"{', '.join(result['ignored'])} cannot use that interaction")
    if profile.get("verdict") in ("both", "inter-dominant") and not result["ignored"]:
        notes.append(f"the dataset needs the modalities together ({profile['verdict']}), and the model uses each of them")
    return notes


def probe_rows(data: Any, split: str = PROBE.split, seed: int = PROBE.seed, target: str | None = None,
               dataset_options: dict[str, Any] | None = None) -> tuple[Any, pd.DataFrame, dict[str, list[str]], np.ndarray]:
    """The spec, the rows to probe (``split``, or ``all``), each modality's columns and the labels as indices."""
    from modalyze.data import load_dataset
    from modalyze.data.prepare import check_splits
    from modalyze.data.table import SPLIT_COLUMN

    spec, table = load_dataset(data, seed=seed, target=target, **(dataset_options or {}))
    frame = table.frame if split == "all" else table.part(split)
    check_splits(spec, [split] if len(frame) else [], (split,), "probing")
    classes = sorted(pd.unique(table.frame[spec.target]).tolist(), key=lambda v: (str(type(v)), v))
    classes = [c.item() if hasattr(c, "item") else c for c in classes]
    rows = frame.drop(columns=[SPLIT_COLUMN], errors="ignore").reset_index(drop=True)
    rows.attrs.update(classes=classes, base_dir=str(table.base_dir), n_rows=len(rows),
                      kinds={m: s.kind for m, s in spec.modalities.items()},
                      prompt_columns=prompt_columns(spec, table.columns))
    lookup = {str(c): i for i, c in enumerate(classes)}
    y = np.array([lookup[str(v)] for v in rows[spec.target].tolist()])
    return spec, rows, dict(table.columns), y


def prompt_columns(spec: Any, columns: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(column, kind) of every modality a generative model's processor takes beside the prompt (its kind's
    pretrained mapping names the keyword), in spec order."""
    from modalyze.kind import get_kind

    return [(columns[m][0], s.kind) for m, s in spec.modalities.items()
            if (mapping := get_kind(s.kind).pretrained) is not None and mapping.prompt_input]


def probe(data: Any, models: list[str], out: str | Path, profile: dict[str, Any] | None = None,
          permutations: int = PROBE.permutations, seed: int = PROBE.seed, bootstrap: int = PROBE.bootstrap,
          batch_size: int = PROBE.batch_size, split: str = PROBE.split,
          prompt: str | None = None, accelerator: str = "cpu", target: str | None = None,
          dataset_options: dict[str, Any] | None = None, log: Log = info) -> dict[str, Any]:
    """Probe every model in ``models`` (adapters, :mod:`modalyze.adapters`) on the same rows; ``prompt``
    and ``accelerator`` ('gpu' puts an ``hf:`` model on the GPU) are for ``hf:`` models."""
    from modalyze.adapters import AdapterOptions, create_adapter
    from modalyze.options import check_options
    from modalyze.run import versions

    check_options(seed=seed, bootstrap=bootstrap, permutations=permutations, batch_size=batch_size, split=split,
                  accelerator=accelerator)
    if not models:
        raise ModalyzeError("probe needs at least one --model ADAPTER (run:DIR, py:module:function, preds:FILE or hf:DIR)")
    options = AdapterOptions(prompt, "cuda" if accelerator in ("gpu", "cuda") else "cpu")
    adapters = [create_adapter(m, options) for m in models]  # every adapter is checked before any work
    spec, rows, columns, y = probe_rows(data, split, seed, target, dataset_options)
    results = [probe_model(a, rows, columns, y, Path(out), permutations, seed, bootstrap, batch_size,
                           tuple(spec.slices), log=log) for a in adapters]
    if profile is not None:
        for result in results:
            result["against_profile"] = against_profile(result, profile)
    return {"schema": PROBE_SCHEMA, "dataset": spec.name, "target": spec.target, "split": split, "n": int(len(y)),
            "classes": rows.attrs["classes"], "modalities": list(columns), "seed": seed,
            "conditions": [c.name for c in conditions(list(columns), permutations, True, ordered(rows))],
            "profile": None if profile is None else {k: profile.get(k) for k in ("dataset", "verdict", "chance")},
            "models": results, "versions": versions()}


def write_conditions(data: Any, out: str | Path, permutations: int = PROBE.permutations, seed: int = PROBE.seed,
                     split: str = PROBE.split,
                     target: str | None = None, dataset_options: dict[str, Any] | None = None) -> list[str]:
    """The inputs of every condition as ``out/<condition>.csv`` (for a model run elsewhere, such as an
    API model), and ``out/predictions.csv`` with one empty column per condition to fill in for ``preds:``."""
    from modalyze.options import check_options
    from modalyze.outputs import write_text

    check_options(seed=seed, permutations=permutations, split=split)
    spec, rows, columns, _ = probe_rows(data, split, seed, target, dataset_options)
    names = []
    for condition in conditions(list(columns), permutations, True, ordered(rows)):
        seen = apply(rows, columns, condition, seed, Path(out)).drop(columns=[spec.target])
        write_with(Path(out) / f"{_file_name(condition.name)}.csv", seen.to_csv, index=False)
        names.append(condition.name)
    write_text(Path(out) / "predictions.csv", ",".join(names) + "\n")
    return names


def _file_name(condition: str) -> str:
    return condition.replace(":", "-").replace("#", "-")
