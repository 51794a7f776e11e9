"""Datasets drawn from the space of valid inputs, for the sweep that runs every command on them.

A :class:`Case` names one point of that space: its modalities (each a kind and a *variant* — numbers
only, categories only, one column, several text columns, a Pillow mode and file format, a sample
rate and channel count, ragged multichannel sequences, ...), the row count, the class count and
balance, how labels are written, whether cells are missing, the file format and whether the spec is
written or inferred (``--target``). :func:`write_case` writes it to disk: a table (CSV, parquet,
JSONL), real image and audio files, a spec, and new rows to predict with unseen categories, empty
cells and images of other sizes. Every modality carries a noisy view of the label, so experts learn.

:func:`cases` draws a matrix of cases with a seed so that every value of every axis appears at least
once; the default suite takes a bounded number of them, the ``slow`` sweep more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import soundfile
import yaml
from PIL import Image

Columns = dict[str, list[Any]]  # column name -> one cell per row

# --- the axes --------------------------------------------------------------------------------------

TABULAR = ("numeric", "categorical", "boolean", "codes", "mixed", "one-column")
TEXT = ("short", "columns", "long", "one-token")
IMAGE = tuple(f"{mode}-{fmt}" for mode, fmt in (
    ("RGB", "png"), ("L", "jpg"), ("RGBA", "png"), ("P", "gif"), ("1", "bmp"), ("I;16", "png"),
    ("CMYK", "jpg"), ("LA", "png"), ("F", "tiff"), ("RGB", "webp")))
AUDIO = ("8000-mono-wav", "22050-stereo-flac", "16000-mono-ogg", "44100-stereo-wav")
TIMESERIES = ("ragged", "channels", "steps")
VECTOR = ("dense",)
VARIANTS: dict[str, tuple[str, ...]] = {"tabular": TABULAR, "text": TEXT, "image": IMAGE, "audio": AUDIO,
                                        "timeseries": TIMESERIES, "vector": VECTOR}
LABELS = ("int", "float", "bool", "words")
FORMATS = ("csv", "parquet", "jsonl", "frame")
DECLARE = ("spec", "target")


@dataclass(frozen=True)
class Case:
    """One generated dataset. ``modalities``: ``kind:variant`` per modality, in order."""

    modalities: tuple[str, ...]
    rows: int = 40
    classes: int = 2
    imbalanced: bool = False
    labels: str = "int"
    missing: bool = False
    fmt: str = "csv"
    declare: str = "spec"
    seed: int = 0

    @property
    def name(self) -> str:
        mods = "+".join(m.replace(":", "-").replace(";", "") for m in self.modalities)
        return (f"{mods}_{self.rows}r_{self.classes}c{'i' if self.imbalanced else ''}_{self.labels}"
                f"{'_missing' if self.missing else ''}_{self.fmt}_{self.declare}")

    @property
    def kinds(self) -> list[str]:
        return [m.split(":")[0] for m in self.modalities]


@dataclass
class Written:
    """A case on disk: how a command names the data, the table, new rows to predict, and the rows in memory."""

    case: Case
    data_args: list[str]  # the spec path, or the table path with --target (and --modality overrides)
    table: Path | None  # None for the DataFrame format
    new_rows: Path
    frame: pd.DataFrame
    target: str = "label"
    modalities: list[str] = field(default_factory=list)  # --modality overrides given with --target

    @property
    def names(self) -> list[str]:
        """The modalities' names, in order."""
        return [o.split("=")[0] for o in self.modalities]


# --- modalities: each returns columns, the spec entry and the --modality override it needs -------------

Maker = Callable[[str, str, np.ndarray, np.random.Generator, Path, bool], tuple[Columns, dict[str, Any]]]
MAKERS: dict[str, Maker] = {}


def maker(kind: str) -> Callable[[Maker], Maker]:
    def wrap(fn: Maker) -> Maker:
        MAKERS[kind] = fn
        return fn
    return wrap


def _noisy(z: np.ndarray, rng: np.random.Generator, flip: float = 0.25) -> np.ndarray:
    """The latent class, replaced by a random one in a share ``flip`` of rows (each modality knows some)."""
    k = int(z.max()) + 1
    return np.where(rng.random(len(z)) < flip, rng.integers(0, k, len(z)), z)


@maker("tabular")
def _tabular(name: str, variant: str, z: np.ndarray, rng: np.random.Generator, root: Path,
             other_sizes: bool) -> tuple[Columns, dict[str, Any]]:
    v = _noisy(z, rng)
    n = len(z)
    number = lambda: (v + rng.normal(0, 0.6, n)).round(4).tolist()  # noqa: E731
    category = lambda: [f"c{x}" for x in v] if not other_sizes else [f"new{x}" for x in v]  # noqa: E731 unseen
    columns: Columns = {
        "numeric": {f"{name}_x1": number(), f"{name}_x2": number(), f"{name}_x3": rng.normal(size=n).round(3).tolist()},
        "categorical": {f"{name}_c1": category(), f"{name}_c2": [["lo", "mid", "hi"][x % 3] for x in v]},
        "boolean": {f"{name}_b1": (v % 2 == 0).tolist(), f"{name}_b2": (v >= v.max() / 2).tolist()},
        "codes": {f"{name}_k1": (v * 3 + 1).tolist(), f"{name}_k2": rng.integers(0, 4, n).tolist()},
        "mixed": {f"{name}_x1": number(), f"{name}_c1": category(), f"{name}_b1": (v % 2 == 1).tolist()},
        "one-column": {f"{name}_x1": number()},
    }[variant]
    return columns, {"kind": "tabular", "columns": list(columns)}


_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar".split()


@maker("text")
def _text(name: str, variant: str, z: np.ndarray, rng: np.random.Generator, root: Path,
          other_sizes: bool) -> tuple[Columns, dict[str, Any]]:
    v = _noisy(z, rng)

    def sentence(x: int, words: int) -> str:
        filler = rng.choice(_WORDS, size=words).tolist()
        filler.insert(int(rng.integers(0, words + 1)), f"topic{x}")
        return " ".join(filler)
    if variant == "one-token":
        columns = {f"{name}_t": [f"topic{x}" for x in v]}
    elif variant == "columns":
        columns = {f"{name}_title": [sentence(x, 2) for x in v], f"{name}_body": [sentence(x, 8) for x in v]}
    else:
        columns = {f"{name}_t": [sentence(x, 300 if variant == "long" else 4) for x in v]}
    return columns, {"kind": "text", "columns": list(columns)}


def _pixels(x: int, k: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An RGB array [H, W, 3] in 0..255 whose brightness and hue follow the class ``x`` of ``k``."""
    w, h = size
    base = np.array([40 + 180 * x / max(k - 1, 1), 200 - 150 * x / max(k - 1, 1), 120.0])
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255)


def _image_file(rgb: np.ndarray, mode: str, path: Path) -> None:
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    if mode == "I;16":
        image = Image.fromarray((rgb.mean(2) * 257).astype(np.uint16))
    elif mode == "F":
        image = Image.fromarray(rgb.mean(2).astype(np.float32) / 255.0, "F")
    else:
        image = image.convert(mode)
    image.save(path)


@maker("image")
def _image(name: str, variant: str, z: np.ndarray, rng: np.random.Generator, root: Path,
           other_sizes: bool) -> tuple[Columns, dict[str, Any]]:
    mode, fmt = variant.rsplit("-", 1)
    v = _noisy(z, rng)
    folder = root / f"{name}_files"
    folder.mkdir(parents=True, exist_ok=True)
    cells = []
    for i, x in enumerate(v):
        size = (int(rng.integers(3, 40)), int(rng.integers(3, 40))) if other_sizes else (12 + i % 5, 10 + i % 3)
        path = folder / f"{'new' if other_sizes else ''}{i}.{fmt}"
        _image_file(_pixels(int(x), int(z.max()) + 1, size, rng), mode, path)
        cells.append(str(path.relative_to(root)))
    return {f"{name}_path": cells}, {"kind": "image", "column": f"{name}_path", "options": {"size": 16}}


@maker("audio")
def _audio(name: str, variant: str, z: np.ndarray, rng: np.random.Generator, root: Path,
           other_sizes: bool) -> tuple[Columns, dict[str, Any]]:
    rate_text, channels, fmt = variant.split("-")
    rate = int(rate_text)
    v = _noisy(z, rng)
    folder = root / f"{name}_files"
    folder.mkdir(parents=True, exist_ok=True)
    cells = []
    for i, x in enumerate(v):
        t = np.arange(int(rate * rng.uniform(0.05, 0.2))) / rate  # ragged durations
        tone = 0.5 * np.sin(2 * np.pi * (300 + 150 * x) * t) + rng.normal(0, 0.1, len(t))
        data = np.stack([tone, tone[::-1]], 1) if channels == "stereo" else tone
        path = folder / f"{'new' if other_sizes else ''}{i}.{fmt}"
        soundfile.write(path, data.astype(np.float32), rate, subtype="VORBIS" if fmt == "ogg" else None)
        cells.append(str(path.relative_to(root)))
    return {f"{name}_clip": cells}, {"kind": "audio", "column": f"{name}_clip", "options": {"sample_rate": 8000}}


@maker("timeseries")
def _timeseries(name: str, variant: str, z: np.ndarray, rng: np.random.Generator, root: Path,
                other_sizes: bool) -> tuple[Columns, dict[str, Any]]:
    v = _noisy(z, rng)

    def sequence(x: int, channels: int) -> np.ndarray:
        t = np.arange(int(rng.integers(3, 25)))
        return np.stack([np.sin((1 + x) * t / 4 + c) + rng.normal(0, 0.2, len(t)) for c in range(channels)], 1)
    if variant == "steps":  # one column per step; shorter rows end in empty cells
        seqs = [sequence(int(x), 1)[:, 0] for x in v]
        width = max(len(s) for s in seqs)
        columns = {f"{name}_s{j:02d}": [round(float(s[j]), 4) if j < len(s) else None for s in seqs]
                   for j in range(width)}
        return columns, {"kind": "timeseries", "columns": list(columns)}
    channels = 3 if variant == "channels" else 1
    cells = [sequence(int(x), channels).round(4) for x in v]
    cells = [c.tolist() if channels > 1 else c[:, 0].tolist() for c in cells]
    return {f"{name}_seq": cells}, {"kind": "timeseries", "column": f"{name}_seq"}


@maker("vector")
def _vector(name: str, variant: str, z: np.ndarray, rng: np.random.Generator, root: Path,
            other_sizes: bool) -> tuple[Columns, dict[str, Any]]:
    v = _noisy(z, rng)
    k = int(z.max()) + 1
    directions = np.random.default_rng(k).normal(size=(k, 6))
    values = directions[v] + rng.normal(0, 0.5, (len(z), 6))
    columns = {f"{name}_e{j}": values[:, j].round(4).tolist() for j in range(6)}
    return columns, {"kind": "vector", "columns": list(columns)}


# --- labels, missing cells, formats ----------------------------------------------------------------

def _labels(z: np.ndarray, how: str) -> list[Any]:
    return {"int": lambda: z.tolist(), "float": lambda: (z + 0.5).tolist(), "bool": lambda: (z == 1).tolist(),
            "words": lambda: [f"class {x} of  many" if x % 2 else f"Class {x}" for x in z]}[how]()


def _latent(case: Case, rng: np.random.Generator, rows: int) -> np.ndarray:
    k = 2 if case.labels == "bool" else case.classes
    weights = np.r_[0.7, np.full(k - 1, 0.3 / (k - 1))] if case.imbalanced else np.full(k, 1 / k)
    z = rng.choice(k, size=rows, p=weights)
    z[:k] = np.arange(k)  # every class present (at least twice)
    z[k:2 * k] = np.arange(k)
    return z


def _blank(columns: Columns, rng: np.random.Generator, share: float, whole_row: bool) -> None:
    """Empty a share of cells (whole rows of the modality where a partial row would be invalid)."""
    n = len(next(iter(columns.values())))
    rows = rng.random(n) < share
    for column, cells in columns.items():
        hit = rows if whole_row else rows & (rng.random(n) < 0.6)
        for i in np.flatnonzero(hit):
            cells[i] = None


def _frame(case: Case, root: Path, rows: int, seed: int, new: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    z = _latent(case, rng, rows)
    columns: Columns = {}
    entries: dict[str, Any] = {}
    for i, modality in enumerate(case.modalities):
        kind, variant = modality.split(":", 1)
        name = f"{kind[:3]}{i}"
        made, entry = MAKERS[kind](name, variant, z, rng, root, new)
        if case.missing or new:
            _blank(made, rng, 0.15, whole_row=kind in ("vector", "timeseries") or variant == "steps")
        columns.update(made)
        entries[name] = entry
    frame = pd.DataFrame(columns)
    frame["label"] = _labels(z, case.labels)
    frame["group"] = [None if case.missing and j % 7 == 0 else f"g {j % 3}" for j in range(rows)]  # a slice column
    return frame, entries


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.assign(**{c: frame[c].map(_as_text) for c in frame.columns if frame[c].map(_is_list).any()}).to_csv(
            path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        with path.open("w") as out:
            for record in frame.to_dict(orient="records"):
                out.write(json.dumps({k: (None if _is_nan(v) else v) for k, v in record.items()}) + "\n")


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _as_text(value: Any) -> Any:
    return json.dumps(value) if _is_list(value) else value


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def write_case(case: Case, root: Path) -> Written:
    """Write ``case`` under ``root``: the table (or keep it in memory), the spec, new rows to predict."""
    root.mkdir(parents=True, exist_ok=True)
    frame, entries = _frame(case, root, case.rows, case.seed, new=False)
    new_frame, _ = _frame(case, root, max(8, case.rows // 4), case.seed + 1, new=True)
    suffix = "csv" if case.fmt == "frame" else case.fmt
    new_rows = root / f"new_rows.{suffix}"
    _write_table(new_frame.drop(columns=["label"]), new_rows)
    table = None if case.fmt == "frame" else root / f"table.{case.fmt}"
    if table is not None:
        _write_table(frame, table)
    overrides = [f"{m}={','.join(e.get('columns') or [e['column']])}:{e['kind']}" for m, e in entries.items()]
    if case.declare == "spec" and table is not None:
        spec = {"name": "generated", "source": table.name, "target": "label", "modalities": entries,
                "slices": ["group"], "split": {"val": 0.15, "test": 0.2, "seed": 0}}
        (root / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        args = [str(root / "spec.yaml")]
    else:
        args = [str(table), "--target", "label", *(a for o in overrides for a in ("--modality", o))]
    return Written(case, args, table, new_rows, frame, modalities=overrides)


def cases(count: int, seed: int = 0, rows: tuple[int, ...] = (20, 40, 1200),
          classes: tuple[int, ...] = (2, 12, 40), sizes: tuple[int, ...] = (2, 3, 4, 5)) -> list[Case]:
    """``count`` cases drawn with ``seed`` so that each value of each axis appears early: the i-th case
    takes the i-th value of every axis (cycled); the modalities are a random order of every variant,
    taken ``sizes`` at a time (with 2 to 5, the first eight cases take each variant once). Fewer than 1,000 rows
    is the cross-validated path of a study, more the held-out one; class counts above a tenth of the
    rows are capped there (a stratified split needs rows of every class in every part)."""
    rng = np.random.default_rng(seed)
    variants = [f"{kind}:{v}" for kind, vs in VARIANTS.items() for v in vs]
    order = rng.permutation(len(variants))
    out, start, unused = [], 0, list(LABELS)
    for i in range(count):
        n_modalities = sizes[i % len(sizes)]
        picked = [variants[order[(start + j) % len(variants)]] for j in range(n_modalities)]
        start += n_modalities  # consecutive: the first cases together take every variant once
        n = rows[i % len(rows)]
        k = min(classes[(len(classes) - 1 - i // len(rows)) % len(classes)], max(2, n // 10))
        unused = unused or list(LABELS)  # each label type in turn; booleans only where there are two classes
        labels = next((t for t in unused if t != "bool" or k == 2), "words")
        if labels in unused:
            unused.remove(labels)
        out.append(Case(tuple(picked), rows=n, classes=k, imbalanced=bool(i % 3 == 1), labels=labels,
                        missing=bool(i % 2), fmt=FORMATS[i % len(FORMATS)], declare=DECLARE[(i // 2) % 2], seed=i))
    return out
