"""The text kind: word tokens from a vocabulary fitted on train, a light transformer, word dropout and
character swaps as corruptions, and Hugging Face tokenizers for pretrained towers."""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from modalyze.data.featurizers import Featurizer, Features, empty_cells
from modalyze.encoders.base import EncoderOutput, masked_mean
from modalyze.kind import Corruption, Kind, Pretrained, register_kind
from modalyze.options import Count, Rate

PAD, UNK = 0, 1  # token ids
SEPARATOR = " ¦ "  # joins the columns of a text modality; one token of its own
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")


BAG_LEN = 1024  # tokens per row the flat families count (the neural encoder reads the first max_len)


class TextFeaturizer(Featurizer):
    """Lower-cased word tokens -> ids [N, T] (int32) from a vocabulary fitted on train (min_freq, max_len).

    Several columns (a title and a body) are read as one text, joined by the separator token
    :data:`SEPARATOR`; a row is missing when all of its text cells are empty. The ids run to
    ``bag_len`` tokens (default :data:`BAG_LEN`): the neural encoder reads the first ``max_len`` of
    them (attention's cost grows with the square of the length), the flat families count words and word
    pairs over all of them, as a user's TF-IDF reads a long document past its first sentences.
    """

    option_types = {"min_freq": Count, "max_len": Annotated[int, Field(ge=1, le=100_000)],
                    "bag_len": Annotated[int, Field(ge=1, le=100_000)]}

    def fit(self, frame: pd.DataFrame) -> TextFeaturizer:
        counts: dict[str, int] = {}
        lengths = [1]
        for text in self._texts(frame):
            tokens = _TOKEN.findall(text.lower())
            lengths.append(len(tokens))
            for tok in tokens:
                counts[tok] = counts.get(tok, 0) + 1
        min_freq = int(self.options.get("min_freq", 1))
        self.vocab_ = ["<pad>", "<unk>"] + sorted(t for t, c in counts.items() if c >= min_freq)
        self.max_len_ = int(min(max(lengths), self.options.get("max_len", 128)))
        self.bag_len_ = int(min(max(lengths), max(self.options.get("bag_len", BAG_LEN), self.max_len_)))
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab_), "max_len": self.max_len_}

    def _texts(self, frame: pd.DataFrame) -> list[str]:
        texts, missing = self._joined(frame)
        return [t for t, absent in zip(texts, missing) if not absent]

    def _joined(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Per row the non-empty cells of the modality's columns joined by the separator, and which rows have none."""
        empty = np.stack([empty_cells(frame[c]) for c in self.columns], axis=1)  # [N, columns]
        cells = zip(*(frame[c].tolist() for c in self.columns))
        texts = [SEPARATOR.join(str(v) for v, e in zip(row, blank) if not e) for row, blank in zip(cells, empty)]
        return texts, empty.all(axis=1)

    def transform(self, frame: pd.DataFrame) -> Features:
        lookup = {t: i for i, t in enumerate(self.vocab_)}
        texts, missing = self._joined(frame)
        length = getattr(self, "bag_len_", self.max_len_)  # a run saved before the bag: the encoder's length
        ids = np.zeros((len(frame), length), dtype=np.int32)  # 4 bytes a token: a 1,024-token bag is 4 KB a row
        for row, (text, absent) in enumerate(zip(texts, missing)):
            if not absent:
                tokens = [lookup.get(t, UNK) for t in _TOKEN.findall(text.lower())][:length]
                ids[row, : len(tokens)] = tokens
        return Features({"ids": torch.from_numpy(ids)}, torch.from_numpy(~missing))


class TextEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, layers: Count = 1, heads: Count = 4, dropout: Rate = 0.1):
        super().__init__()
        self.embed = nn.Embedding(int(info["vocab_size"]), dim, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(1, int(info["max_len"]), dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        ids = x["ids"][:, : self.position.shape[1]]  # [B, T]: the first max_len tokens of the bag
        mask = ids != 0  # [B, T]
        attend = mask.clone()
        attend[:, 0] = True  # an empty text still attends to one (padding) token: no all-masked rows
        tokens = self.embed(ids) + self.position[:, : ids.shape[1]]  # [B, T, D]
        tokens = self.norm(self.encoder(tokens, src_key_padding_mask=~attend))  # [B, T, D]
        return EncoderOutput(masked_mean(tokens, attend), tokens, attend)


def _edit_text(featurizer: Featurizer, frame: pd.DataFrame, edit: Callable[[str], str]) -> Features:
    """The raw strings edited, then featurized as usual."""
    edited = {column: pd.Series([v if pd.isna(v) else edit(str(v)) for v in frame[column].tolist()],
                                index=frame.index, dtype=object) for column in featurizer.columns}
    return featurizer.transform(frame.assign(**edited))


def _word_dropout(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    def edit(text: str) -> str:
        words = _WORD.findall(text)
        return " ".join(w for w, drop in zip(words, rng.random(len(words)) < level) if not drop)
    return _edit_text(featurizer, frame, edit)


def _char_swap(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    def swap(word: str) -> str:
        if len(word) < 2 or rng.random() >= level:
            return word
        i = int(rng.integers(0, len(word) - 1))
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return _edit_text(featurizer, frame, lambda text: _WORD.sub(lambda m: swap(m.group()), text))


def _tokenized(tokenizer: Any, values: list[Any], options: dict[str, Any]) -> dict[str, torch.Tensor]:
    enc = tokenizer(values, padding=True, truncation=True, max_length=int(options.get("max_len", 128)),
                    return_tensors="pt")
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}


TEXT = register_kind(Kind(
    "text", TextFeaturizer, TextEncoder, grouped=True,
    corruptions=(
        Corruption("word-dropout", "every word removed: the text is empty, so the modality is absent", _word_dropout),
        Corruption("char-swap", "two adjacent characters swapped in every word of two or more characters", _char_swap)),
    pretrained=Pretrained("AutoTokenizer", _tokenized, tower="text_model", files=False),
    encoder_aliases={"minilm": {"hf": "minilm", "freeze": True}}))
