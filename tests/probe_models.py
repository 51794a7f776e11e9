"""Models whose use of the modalities is known, for tests/test_probe.py (``py:tests.probe_models:NAME``)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd


@lru_cache(maxsize=None)
def _answers_by_question() -> dict[str, str]:
    """easy-vqa: the most frequent training answer of each question string."""
    from modalyze.data import load_dataset
    from modalyze.data.table import SPLIT_COLUMN

    _, table = load_dataset("easy-vqa")
    train = table.frame[table.frame[SPLIT_COLUMN] == "train"]
    return train.groupby("question")["answer"].agg(lambda a: a.value_counts().index[0]).to_dict()


def question_only(rows: pd.DataFrame) -> list[str]:
    """Reads the question, never the image: its answer is the question's most frequent training answer."""
    lookup = _answers_by_question()
    return [lookup.get(q, "yes") for q in rows["question"]]


def random_answers(rows: pd.DataFrame) -> np.ndarray:
    """Probabilities from a seeded generator, whatever the rows hold."""
    rng = np.random.default_rng(len(rows))
    return rng.dirichlet(np.ones(len(rows.attrs["classes"])), size=len(rows))


def top_half_only(rows: pd.DataFrame) -> list[int]:
    """digits: the nearest training centroid of the top half's pixels (the bottom half is never read)."""
    centres, columns = _digit_centres()
    x = rows[columns].to_numpy(dtype=float)
    return list(np.argmin(((x[:, None] - centres[None]) ** 2).sum(-1), axis=1))


@lru_cache(maxsize=None)
def _digit_centres() -> tuple[np.ndarray, list[str]]:
    from modalyze.data import load_dataset
    from modalyze.data.table import SPLIT_COLUMN

    spec, table = load_dataset("digits")
    columns = table.columns["top"]
    train = table.frame[table.frame[SPLIT_COLUMN] == "train"]
    labels = train[spec.target].astype(int).to_numpy()
    x = train[columns].to_numpy(dtype=float)
    return np.stack([x[labels == d].mean(0) for d in range(10)]), columns


def wrong_shape(rows: pd.DataFrame) -> np.ndarray:
    return np.zeros((len(rows), 2, 2))


def raises(rows: pd.DataFrame) -> list[str]:
    raise RuntimeError("the model server is down")


def motion_reader(rows: pd.DataFrame) -> list[str]:
    """moving-shapes: answers from the clip's frames as a person would — the colour from any frame, the
    direction from the first and last frames (so it needs their order) — and the question's words."""
    from pathlib import Path

    from modalyze.data.builtin import DIRECTIONS, MOTION_COLOURS
    from modalyze.kinds.video import read_clip

    palette = np.array(list(MOTION_COLOURS.values()), dtype=float)  # [3 colours, RGB]
    out = []
    for path, question in zip(rows["clip"], rows["question"]):
        clip = read_clip(Path(rows.attrs["base_dir"]) / path, 8, 32).astype(float)  # [T, 3, S, S]
        bright = clip.max(axis=1) > 120  # [T, S, S]
        centres = [np.nonzero(f)[1].mean() for f in bright]
        direction = DIRECTIONS[int(centres[-1] > centres[0])]  # ("left", "right")
        shade = clip.transpose(0, 2, 3, 1)[bright].mean(axis=0)  # [RGB]
        colour = list(MOTION_COLOURS)[int(np.argmin(((palette - shade) ** 2).sum(1)))]
        if "colour" in question:
            out.append(colour)
        elif "way" in question or "direction" in question:
            out.append(direction)
        else:  # "is the red shape moving left?"
            out.append("yes" if colour in question and direction in question else "no")
    return out
