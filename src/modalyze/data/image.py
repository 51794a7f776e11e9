"""The image featurizer: files Pillow reads -> uint8 pixels, decoded on demand (and once per machine
with the decoded-file cache); views (one channel, one patch of a grid) for modalities derived from
one image column."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pydantic import Field

from modalyze.data.decoded import FileFeaturizer, Unreadable
from modalyze.data.featurizers import register_featurizer


@register_featurizer("image")
class ImageFeaturizer(FileFeaturizer):
    """Image files (any format Pillow reads) -> uint8 pixels [B, 3, S, S], decoded when a batch is read
    (see :mod:`modalyze.data.decoded`); the pixel statistics come from a sample of the train files."""

    what = "image file"
    option_types = {"size": Annotated[int, Field(ge=8, le=1024)],  # side S of the resized square image
                    "view": dict[str, Any]}  # set by the spec's ``view:`` expansion

    def fit(self, frame: pd.DataFrame) -> ImageFeaturizer:
        sample = self.sample(frame)
        pixels = torch.from_numpy(np.stack(sample)).float() / 255 if sample else torch.zeros(0)  # [n, 3, S, S]
        self.mean_ = pixels.mean(dim=(0, 2, 3)).tolist() if len(pixels) else [0.5] * 3
        self.std_ = (pixels.std(dim=(0, 2, 3)) + 1e-3).tolist() if len(pixels) > 1 else [0.25] * 3
        return self

    @property
    def size(self) -> int:
        return int(self.options.get("size", 64))

    @property
    def decode_options(self) -> dict[str, Any]:
        return {"size": self.size, "max_pixels": Image.MAX_IMAGE_PIXELS}  # a view reads the same decoded file

    @property
    def spec_info(self) -> dict[str, Any]:
        view = self.options.get("view") or {}
        size = self.size // view["patch"][2] if "patch" in view else self.size
        return {"size": size, "mean": self.mean_, "std": self.std_}

    def _view(self, pixels: torch.Tensor) -> torch.Tensor:
        """The declared view of decoded pixels [B, 3, S, S]: one channel (as grey) or one patch of a grid."""
        view = self.options.get("view") or {}
        if "channel" in view:
            return pixels[:, [view["channel"]] * 3]  # [B, 3, S, S]
        if "patch" in view:
            row, col, n = view["patch"]
            step = self.size // n
            return pixels[:, :, row * step:(row + 1) * step, col * step:(col + 1) * step].contiguous()  # [B, 3, S/n, S/n]
        return pixels

    def check(self, path: Path) -> tuple[int, ...]:
        with _opened(path):
            return (3, self.size, self.size)

    def decode(self, path: Path, perturb: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        image = open_rgb(path).resize((self.size, self.size), Image.BILINEAR)
        pixels = np.asarray(image).transpose(2, 0, 1).copy()  # [3, S, S]
        return perturb(pixels) if perturb else pixels

    def assemble(self, decoded: list[np.ndarray | None], shapes: list[tuple[int, ...]]) -> dict[str, torch.Tensor]:
        blank = np.zeros((3, self.size, self.size), dtype=np.uint8)
        stacked = np.stack([blank if d is None else d for d in decoded]) if decoded else blank[None, :0]
        return {"pixels": self._view(torch.from_numpy(stacked))}  # uint8 [B, 3, S, S] (a view: smaller)


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The image file opened (its header read, nothing decoded); every failure (absent, not an image,
    a decompression bomb over Pillow's pixel limit) is :class:`Unreadable` with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield image
    except FileNotFoundError:
        raise Unreadable("does not exist") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Unreadable(f"has more pixels than Pillow decodes safely ({Image.MAX_IMAGE_PIXELS:,})") from None
    except Exception:  # noqa: BLE001 - Pillow's decoders raise many types for corrupt files
        raise Unreadable("is not a readable image") from None


def open_rgb(path: Path) -> Image.Image:
    """Decode an image file to RGB; every failure (absent, not an image, truncated, a decompression
    bomb) is :class:`Unreadable` with the reason."""
    with _opened(path) as image:
        return image.convert("RGB")
