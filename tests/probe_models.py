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
