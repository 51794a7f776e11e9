"""Built-in datasets, usable by name: each builds its rows in memory and declares its own spec."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, validate_call

from modalyze.data.table import stratified_split
from modalyze.data.clips import write_clip
from modalyze.errors import ModalyzeError
from modalyze.options import Seed, describe
from modalyze.registry import Registry
from modalyze.settings import cache_dir
from modalyze.spec import ModalitySpec, Spec, SplitSpec

Builder = Callable[..., tuple[Spec, pd.DataFrame]]


@dataclass
class BuiltinDataset:
    name: str
    summary: str
    build: Builder  # build(seed=..., **params) -> (spec, rows)


DATASETS: Registry[BuiltinDataset] = Registry("dataset")


def register_dataset(name: str, summary: str) -> Callable[[Builder], Builder]:
    """Register a builder; its parameters' annotations declare each option's type and range."""
    def wrap(fn: Builder) -> Builder:
        DATASETS.register(name)(BuiltinDataset(name, summary, validate_call(fn)))
        return fn
    return wrap


def list_datasets() -> list[BuiltinDataset]:
    return [DATASETS.get(name) for name in DATASETS.names()]


def is_builtin(name: str) -> bool:
    return name in DATASETS


def load_builtin(name: str, seed: int = 0, **params: Any) -> tuple[Spec, pd.DataFrame]:
    """Build a built-in dataset's spec and rows; an unknown name is a one-line error."""
    if name not in DATASETS:
        raise ModalyzeError(f"unknown dataset '{name}' (built-in: {', '.join(DATASETS.names())}; "
                            "or pass a spec .yaml file)")
    try:
        spec, frame = DATASETS.get(name).build(seed=seed, **params)
    except ValidationError as exc:  # an option the builder does not take, or a value out of its range
        error = exc.errors(include_url=False)[0]
        key = str(error["loc"][-1]) if error["loc"] else "?"
        if error["type"] == "unexpected_keyword_argument":
            raise ModalyzeError(f"dataset {name}: unknown option '{key}'") from None
        value = params.get(key, seed if key == "seed" else error.get("input"))
        raise ModalyzeError(f"dataset {name}: option {key}={value!r}: {describe(exc)}") from None
    spec.builtin = {"name": name, "params": {"seed": seed, **params}}
    return spec, frame


Rows = Annotated[int, Field(ge=20, le=10**7)]
Dims = Annotated[int, Field(ge=2, le=4096)]
Noise = Annotated[float, Field(ge=0, le=100)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


# --- easy-vqa ---------------------------------------------------------------------------------------

_SHAPES = ("circle", "rectangle", "triangle")


def question_type(question: str, answer: str) -> str:
    """easy-vqa's four question families, from the question's wording and its answer."""
    if answer in ("yes", "no"):
        return "yes/no-shape" if any(re.search(rf"\b{s}\b", question) for s in _SHAPES) else "yes/no-color"
    return "what-shape" if answer in _SHAPES else "what-color"


@register_dataset("easy-vqa", "easy-VQA: 64x64 shape images + questions -> answer (13 classes); "
                  "its own train/test split, val carved from train")
def _easy_vqa(seed: Seed = 0, val: Fraction = 0.1) -> tuple[Spec, pd.DataFrame]:
    import easy_vqa

    parts = []
    for split, questions, paths in (("train", easy_vqa.get_train_questions, easy_vqa.get_train_image_paths),
                                    ("test", easy_vqa.get_test_questions, easy_vqa.get_test_image_paths)):
        texts, answers, image_ids = questions()
        files = paths()
        parts.append(pd.DataFrame({"image": [files[i] for i in image_ids], "question": texts, "answer": answers,
                                   "question_type": [question_type(q, a) for q, a in zip(texts, answers)],
                                   "image_id": image_ids, "split": split}))
    frame = pd.concat(parts, ignore_index=True)
    train = np.flatnonzero(frame["split"].to_numpy() == "train")
    _, val_rows = stratified_split(train, frame["answer"].to_numpy()[train], val, seed)
    frame.loc[val_rows, "split"] = "val"
    spec = Spec(name="easy-vqa", target="answer", slices=["question_type"], split=SplitSpec(column="split"),
                modalities={"image": ModalitySpec("image", ["image"]), "question": ModalitySpec("text", ["question"])})
    return spec, frame


# --- digits -----------------------------------------------------------------------------------------


@register_dataset("digits", "scikit-learn's 8x8 handwritten digits; views 'top' and 'bottom' halves -> digit")
def _digits(seed: Seed = 0) -> tuple[Spec, pd.DataFrame]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images  # [N, 8, 8], values 0..16
    top = images[:, :4, :].reshape(len(images), -1)
    bottom = images[:, 4:, :].reshape(len(images), -1)
    frame = pd.DataFrame(np.concatenate([top, bottom], axis=1),
                         columns=[f"top_{i}" for i in range(32)] + [f"bottom_{i}" for i in range(32)])
    frame["digit"] = bunch.target
    spec = Spec(name="digits", target="digit", split=SplitSpec(val=0.15, test=0.2, seed=seed),
                modalities={"top": ModalitySpec("vector", ["top_*"]), "bottom": ModalitySpec("vector", ["bottom_*"])})
    return spec, frame


# --- synthetic --------------------------------------------------------------------------------------
# Each structure names the latent bits modality a and b carry, and the label as a function of bits.
# A bit is written into a modality as +-1 along its own random unit direction, plus Gaussian noise.

_STRUCTURES: dict[str, tuple[str, dict[str, list[str]], Callable[[dict[str, np.ndarray]], np.ndarray]]] = {
    "redundant": ("both modalities carry the label bit", {"a": ["r"], "b": ["r"]}, lambda z: z["r"]),
    "unique": ("only modality a carries the label bit", {"a": ["u"], "b": []}, lambda z: z["u"]),
    "synergy": ("label = XOR of a bit in a and a bit in b; each alone is at chance",
                {"a": ["s1"], "b": ["s2"]}, lambda z: z["s1"] ^ z["s2"]),
    "mixed": ("4 classes: a redundant bit (in a and b) and an XOR bit (a with b)",
              {"a": ["r", "s1"], "b": ["r", "s2"]}, lambda z: 2 * z["r"] + (z["s1"] ^ z["s2"])),
    "none": ("label independent of both modalities", {"a": ["n1"], "b": ["n2"]}, lambda z: z["y"]),
}


@validate_call
def synthetic(structure: str, seed: Seed = 0, rows: Rows = 4000, dims: Dims = 8, noise: Noise = 0.5,
              form: Literal["vector", "timeseries"] = "vector", steps: Dims = 32) -> tuple[Spec, pd.DataFrame]:
    """Two modalities ``a`` and ``b`` whose dependency structure with ``y`` is known.

    ``form="vector"``: each modality is ``dims`` columns. ``form="timeseries"``: each modality is one
    column of sequences of ``steps`` steps, x_t = Σ_j v_j · w_j(t) where v is the same noisy vector
    and the w_j are sine and cosine waves of distinct frequencies (so the same information, in time).
    """
    if form == "timeseries" and steps < dims:
        raise ModalyzeError(f"option steps={steps}: a timeseries needs at least dims={dims} steps")
    if structure not in _STRUCTURES:
        raise ModalyzeError(f"unknown synthetic structure '{structure}' (one of {', '.join(_STRUCTURES)})")
    _, carried, label = _STRUCTURES[structure]
    rng = np.random.default_rng(seed)
    names = sorted({b for bits in carried.values() for b in bits} | {"y"})
    bits = {b: rng.integers(0, 2, rows) for b in names}
    columns: dict[str, np.ndarray] = {}
    for modality, modality_bits in carried.items():
        directions = np.linalg.qr(rng.standard_normal((dims, dims)))[0][:, : len(modality_bits)].T  # [k, dims]
        signal = sum(((2 * bits[b] - 1)[:, None] * directions[i]) for i, b in enumerate(modality_bits))
        x = signal + noise * rng.standard_normal((rows, dims))
        if form == "timeseries":
            columns[modality] = list(x @ _waves(dims, steps))  # one [steps] array per row
        else:
            for j in range(dims):
                columns[f"{modality}_{j}"] = x[:, j]
    frame = pd.DataFrame(columns)
    frame["y"] = label(bits)
    modality = {m: ModalitySpec("timeseries", [m]) if form == "timeseries" else ModalitySpec("vector", [f"{m}_*"])
                for m in ("a", "b")}
    name = f"synthetic-{structure}" + ("-timeseries" if form == "timeseries" else "")
    return Spec(name=name, target="y", split=SplitSpec(val=0.15, test=0.25, seed=seed), modalities=modality), frame


def synthetic_information(structure: str, noise: float = 0.5, samples: int = 200_000, seed: int = 0) -> dict[str, float]:
    """The PID terms each synthetic structure constructs, in bits, at this noise (Monte Carlo).

    A bit is read from its direction with log-odds 2·(±1 + noise·ε)/noise², so one modality tells
    I₁ = 1 − E[H(sigmoid(L))] bits of it and two independent readings I₂ = 1 − E[H(sigmoid(L + L'))].
    Redundant: R = I₁ and S = I₂ − I₁ (two noisy readings say more than one); unique: U(a) = I₁;
    synergy: S = 1 − E[H(p₁ ⊕ p₂)]; mixed: both (the label's two bits are independent); none: 0.
    At noise → 0 every constructed term is 1 bit.
    """
    rng = np.random.default_rng(seed)
    log_odds = lambda: 2 * (1 + noise * rng.standard_normal(samples)) / noise**2  # noqa: E731  [samples]
    h = lambda p: float(np.mean(-(p * np.log2(np.clip(p, 1e-300, 1)) + (1 - p) * np.log2(np.clip(1 - p, 1e-300, 1)))))  # noqa: E731
    sigmoid = lambda x: 1 / (1 + np.exp(-np.clip(x, -700, 700)))  # noqa: E731
    one, two = 1 - h(sigmoid(log_odds())), 1 - h(sigmoid(log_odds() + log_odds()))
    p1, p2 = sigmoid(log_odds()), sigmoid(log_odds())
    xor = 1 - h(p1 * (1 - p2) + p2 * (1 - p1))
    terms = {"redundant": {"redundancy": one, "synergy": two - one}, "unique": {"unique:a": one},
             "synergy": {"synergy": xor}, "mixed": {"redundancy": one, "synergy": xor + two - one},
             "none": {"redundancy": 0.0, "unique:a": 0.0, "unique:b": 0.0, "synergy": 0.0}}
    if structure not in terms:
        raise ModalyzeError(f"unknown synthetic structure '{structure}' (one of {', '.join(_STRUCTURES)})")
    return terms[structure]


def _waves(dims: int, steps: int) -> np.ndarray:
    """[dims, steps]: sine and cosine waves of frequencies 1, 2, ... (orthogonal over the steps)."""
    t = np.arange(steps) / steps
    wave = (np.sin, np.cos)
    return np.stack([wave[j % 2](2 * np.pi * (j // 2 + 1) * t) for j in range(dims)])


for _name, (_summary, _, _) in _STRUCTURES.items():
    register_dataset(f"synthetic-{_name}", f"synthetic, known ground truth: {_summary}; "
                     "options rows, dims, noise, form=vector|timeseries, steps")(lambda seed=0, _s=_name, **kw: synthetic(_s, seed=seed, **kw))


# --- av-digits --------------------------------------------------------------------------------------
# scikit-learn's digit images paired with synthesised audio clips written as real files. Digit d sounds
# as a tone at PAIR_TONES[d // 2] Hz for the whole clip; odd digits add a quieter PARITY_TONE. Both
# files carry noise: the image alone confuses similar-looking digits, the audio alone hears the pair
# of d but often misses the parity tone, and together they resolve each other's confusions.

PAIR_TONES = (300.0, 500.0, 700.0, 900.0, 1100.0)
PARITY_TONE = 2200.0


@register_dataset("av-digits", "scikit-learn's digits as noisy 32x32 images + synthesised tone clips written "
                  "as wav files -> digit; options image_noise, audio_noise, parity_level, sample_rate")
def _av_digits(seed: Seed = 0, image_noise: Noise = 0.2, audio_noise: Noise = 1.0, parity_level: Noise = 0.18,
               sample_rate: Annotated[int, Field(ge=1000, le=192000)] = 8000,
               seconds: Annotated[float, Field(gt=0, le=60)] = 0.4) -> tuple[Spec, pd.DataFrame]:
    import soundfile
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    params = dict(seed=seed, image_noise=image_noise, audio_noise=audio_noise, parity_level=parity_level,
                  sample_rate=sample_rate, seconds=seconds)
    root = cache_dir() / ("av-digits-" + "-".join(f"{k}{v}" for k, v in params.items()))
    done = root / "complete"
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    rows = []
    for i, (pixels, digit) in enumerate(zip(bunch.images, bunch.target)):
        image_path, audio_path = root / f"{i:04d}.png", root / f"{i:04d}.wav"
        noisy = pixels / 16.0 + image_noise * rng.standard_normal(pixels.shape)  # [8, 8]
        tone = np.sin(2 * np.pi * PAIR_TONES[digit // 2] * t + rng.uniform(0, 2 * np.pi))
        if digit % 2:
            tone = tone + parity_level * np.sin(2 * np.pi * PARITY_TONE * t + rng.uniform(0, 2 * np.pi))
        clip = 0.3 * (tone + audio_noise * rng.standard_normal(len(t)))
        if not done.exists():  # the draws above always run, so a seed gives the same files
            root.mkdir(parents=True, exist_ok=True)
            gray = (np.clip(noisy, 0, 1) * 255).astype(np.uint8)
            Image.fromarray(gray).resize((32, 32), Image.NEAREST).convert("RGB").save(image_path)
            soundfile.write(str(audio_path), np.clip(clip, -1, 1).astype(np.float32), sample_rate, subtype="PCM_16")
        rows.append({"image": str(image_path), "audio": str(audio_path), "digit": int(digit)})
    done.touch()
    spec = Spec(name="av-digits", target="digit", split=SplitSpec(val=0.15, test=0.2, seed=seed), modalities={
        "image": ModalitySpec("image", ["image"], options={"size": 32}),
        "audio": ModalitySpec("audio", ["audio"], options={"sample_rate": sample_rate, "n_fft": 256, "hop": 128})})
    return spec, pd.DataFrame(rows)


# --- easy-vqa-captions --------------------------------------------------------------------------------

_COLORS = ("black", "blue", "brown", "gray", "green", "red", "teal", "yellow")


def _caption_facts(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The colour and shape of one easy-vqa image, read off its questions and answers.

    "what color is the triangle?" -> blue gives both; a yes/no question names a present value when
    it is affirmed ("is there a red shape?" -> yes) or its negation is denied ("is there not a red
    shape?" -> no).
    """
    facts: dict[str, str] = {}
    for question, answer in pairs:
        words = re.findall(r"[a-z]+", question.lower())
        named = {"color": [w for w in words if w in _COLORS], "shape": [w for w in words if w in _SHAPES]}
        if answer in _COLORS or answer in _SHAPES:
            facts["color" if answer in _COLORS else "shape"] = answer
            for key, values in named.items():
                if values and (key == "shape" or answer not in _COLORS):
                    facts.setdefault(key, values[0])
        elif (answer == "yes") != ("not" in words or "no" in words):
            for key, values in named.items():
                if values:
                    facts.setdefault(key, values[0])
    return facts


@register_dataset("easy-vqa-captions", "easy-VQA images paired with the caption of their colour and shape "
                  "(\"a blue triangle\"), derived from the dataset's own questions and answers")
def _easy_vqa_captions(seed: Seed = 0, val: Fraction = 0.1) -> tuple[Spec, pd.DataFrame]:
    import easy_vqa

    rows = []
    for split, questions, paths in (("train", easy_vqa.get_train_questions, easy_vqa.get_train_image_paths),
                                    ("test", easy_vqa.get_test_questions, easy_vqa.get_test_image_paths)):
        texts, answers, image_ids = questions()
        files = paths()
        pairs: dict[int, list[tuple[str, str]]] = {}
        for q, a, i in zip(texts, answers, image_ids):
            pairs.setdefault(i, []).append((q, a))
        for i, image_pairs in sorted(pairs.items()):
            facts = _caption_facts(image_pairs)
            if len(facts) < 2:  # the questions never name its colour or shape: no caption can be derived
                continue
            rows.append({"image": files[i], "caption": f"a {facts['color']} {facts['shape']}",
                         "color": facts["color"], "shape": facts["shape"], "split": split})
    frame = pd.DataFrame(rows)
    train = np.flatnonzero(frame["split"].to_numpy() == "train")
    _, val_rows = stratified_split(train, frame["shape"].to_numpy()[train], val, seed)
    frame.loc[val_rows, "split"] = "val"
    spec = Spec(name="easy-vqa-captions", target="shape", split=SplitSpec(column="split"),
                modalities={"image": ModalitySpec("image", ["image"]), "caption": ModalitySpec("text", ["caption"])})
    return spec, frame


@register_dataset("synthetic-xor3", "synthetic triples for Symile: bit vectors a and b, c = a XOR b, each "
                  "pairwise independent of the others; options rows, bits, dims, noise")
def _synthetic_xor3(seed: Seed = 0, rows: Rows = 4000, bits: Annotated[int, Field(ge=1, le=64)] = 6,
                    dims: Dims = 16, noise: Noise = 0.3) -> tuple[Spec, pd.DataFrame]:
    """Three vector modalities; only the joint of all three carries information (target: c's first bit)."""
    if dims < bits:
        raise ModalyzeError(f"option dims={dims}: needs at least bits={bits} dimensions")
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, (rows, bits)), rng.integers(0, 2, (rows, bits))
    columns: dict[str, np.ndarray] = {}
    for name, value in (("a", a), ("b", b), ("c", a ^ b)):
        directions = np.linalg.qr(rng.standard_normal((dims, dims)))[0][:, :bits].T  # [bits, dims]
        x = (2 * value - 1) @ directions + noise * rng.standard_normal((rows, dims))
        for j in range(dims):
            columns[f"{name}_{j}"] = x[:, j]
        columns[f"{name}_bits"] = ["".join(map(str, r)) for r in value]
    frame = pd.DataFrame(columns)
    frame["y"] = (a ^ b)[:, 0]
    spec = Spec(name="synthetic-xor3", target="y", split=SplitSpec(val=0.15, test=0.25, seed=seed),
                modalities={m: ModalitySpec("vector", [f"{m}_[0-9]*"]) for m in ("a", "b", "c")})
    return spec, frame


# --- moving-shapes --------------------------------------------------------------------------------------
# Short clips (written as mp4 files, so the decode path runs) of a coloured square or disc moving left
# or right, each with a question. A colour question needs one frame, a direction question needs the
# motion (the order of the frames: shuffled, left and right look the same, since both directions
# cover the same span of positions), and "is the red shape moving left?" needs both and the question.

MOTION_COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230)}
DIRECTIONS = ("left", "right")
_MOTION_QUESTIONS = {"colour": ("what colour is the shape?", "which colour does the shape have?"),
                     "direction": ("which way does the shape move?", "in which direction is the shape moving?"),
                     "both": ("is the {colour} shape moving {direction}?", "does the {colour} shape go {direction}?")}




def moving_clip(colour: str, direction: str, disc: bool, rng: np.random.Generator, frames: int = 8,
                side: int = 32, box: int = 8, step: int = 2) -> np.ndarray:
    """uint8 [frames, side, side, 3]: the shape crossing the same span of positions either way."""
    span = step * (frames - 1)
    left, top = int(rng.integers(0, side - box - span + 1)), int(rng.integers(0, side - box + 1))
    xs = left + step * np.arange(frames)
    xs = xs[::-1] if direction == "left" else xs
    yy, xx = np.mgrid[:box, :box]
    mask = (yy - (box - 1) / 2) ** 2 + (xx - (box - 1) / 2) ** 2 <= (box / 2) ** 2 if disc else np.ones((box, box), bool)
    clip = np.clip(30 + rng.normal(0, 6, (frames, side, side, 3)), 0, 255).astype(np.uint8)
    for t, x in enumerate(xs):
        clip[t, top:top + box, x:x + box][mask] = MOTION_COLOURS[colour]
    return clip


def _moving_rows(seed: int, rows: int) -> pd.DataFrame:
    """The clips (files cached per seed and row count) and, per clip, a question, its answer and a caption."""
    root = cache_dir() / f"moving-shapes-seed{seed}-rows{rows}"
    done = root / "complete"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        colour, direction = str(rng.choice(list(MOTION_COLOURS))), str(rng.choice(DIRECTIONS))
        disc = bool(rng.random() < 0.5)
        clip = moving_clip(colour, direction, disc, rng)
        kind = ("colour", "direction", "both")[i % 3]
        asked_colour, asked_direction, answer = colour, direction, {"colour": colour, "direction": direction}.get(kind)
        if kind == "both":  # half the questions true; a false one changes the colour or the direction
            answer = "yes" if rng.random() < 0.5 else "no"
            if answer == "no" and rng.random() < 0.5:
                asked_colour = str(rng.choice([c for c in MOTION_COLOURS if c != colour]))
            elif answer == "no":
                asked_direction = next(d for d in DIRECTIONS if d != direction)
        question = str(rng.choice(_MOTION_QUESTIONS[kind])).format(colour=asked_colour, direction=asked_direction)
        path = root / f"{i:05d}.mp4"
        if not done.exists():  # the draws above always run, so a seed gives the same files
            write_clip(path, clip)
        records.append({"clip": str(path), "question": question, "answer": answer, "question_type": kind,
                        "colour": colour, "direction": direction,
                        "caption": f"a {colour} {'disc' if disc else 'square'} moving {direction}"})
    done.touch()
    return pd.DataFrame(records)


def _clip_modality() -> ModalitySpec:
    return ModalitySpec("video", ["clip"], options={"frames": 8, "size": 32})


@register_dataset("moving-shapes", "short mp4 clips of a coloured shape moving left or right + a question -> "
                  "answer (7 classes); colour questions need one frame, direction questions the motion; "
                  "options rows")
def _moving_shapes(seed: Seed = 0, rows: Rows = 2400) -> tuple[Spec, pd.DataFrame]:
    spec = Spec(name="moving-shapes", target="answer", slices=["question_type"],
                split=SplitSpec(val=0.15, test=0.2, seed=seed),
                modalities={"clip": _clip_modality(), "question": ModalitySpec("text", ["question"])})
    return spec, _moving_rows(seed, rows)


@register_dataset("moving-shapes-captions", "the moving-shapes clips paired with captions (\"a red disc moving "
                  "left\") for alignment; target colour or direction (zero-shot); options rows, target")
def _moving_shapes_captions(seed: Seed = 0, rows: Rows = 2400,
                            target: Literal["direction", "colour"] = "direction") -> tuple[Spec, pd.DataFrame]:
    spec = Spec(name="moving-shapes-captions", target=target, split=SplitSpec(val=0.15, test=0.2, seed=seed),
                modalities={"clip": _clip_modality(), "caption": ModalitySpec("text", ["caption"])})
    return spec, _moving_rows(seed, rows)
