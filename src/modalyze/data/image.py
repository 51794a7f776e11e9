"""The image featurizer: files Pillow reads -> uint8 pixels, decoded once per distinct file; views
(one channel, one patch of a grid) for modalities derived from one image column."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pydantic import Field

from modalyze.data.featurizers import Featurizer, Features, _empty, register_featurizer
from modalyze.errors import ModalyzeError

_DECODED: dict[tuple[int, str], dict[tuple[str, int], np.ndarray | None]] = {}


@register_featurizer("image")
class ImageFeaturizer(Featurizer):
    """Image files (any format Pillow reads) -> uint8 [U, 3, S, S], decoded once per distinct file."""

    option_types = {"size": Annotated[int, Field(ge=8, le=1024)],  # side S of the resized square image
                    "view": dict[str, Any]}  # set by the spec's ``view:`` expansion

    def fit(self, frame: pd.DataFrame) -> ImageFeaturizer:
        feats = self.transform(frame)
        pixels = feats.tensors["pixels"].float() / 255  # [U, 3, S, S]
        self.mean_ = pixels.mean(dim=(0, 2, 3)).tolist() if len(pixels) else [0.5] * 3
        self.std_ = (pixels.std(dim=(0, 2, 3)) + 1e-3).tolist() if len(pixels) > 1 else [0.25] * 3
        return self

    @property
    def _decoded(self) -> dict[tuple[str, int], np.ndarray | None]:
        """Files decoded in this process, keyed by path and mtime: every expert of a study decodes once."""
        return _DECODED.setdefault((self.size, self.unreadable), {})

    @property
    def size(self) -> int:
        return int(self.options.get("size", 64))

    @property
    def spec_info(self) -> dict[str, Any]:
        view = self.options.get("view") or {}
        size = self.size // view["patch"][2] if "patch" in view else self.size
        return {"size": size, "mean": self.mean_, "std": self.std_}

    def _view(self, pixels: torch.Tensor) -> torch.Tensor:
        """The declared view of decoded pixels [U, 3, S, S]: one channel (as grey) or one patch of a grid."""
        view = self.options.get("view") or {}
        if "channel" in view:
            return pixels[:, [view["channel"]] * 3]  # [U, 3, S, S]
        if "patch" in view:
            row, col, n = view["patch"]
            step = self.size // n
            return pixels[:, :, row * step:(row + 1) * step, col * step:(col + 1) * step].contiguous()  # [U, 3, S/n, S/n]
        return pixels

    def transform(self, frame: pd.DataFrame) -> Features:
        column = self.columns[0]
        values = frame[column]
        missing = _empty(values)
        slot: dict[str, int] = {}
        images: list[np.ndarray] = []
        index = np.full(len(frame), -1, dtype=np.int64)
        for row, (value, absent) in enumerate(zip(values.tolist(), missing)):
            if absent:
                continue
            path = Path(str(value))
            path = path if path.is_absolute() else self.base_dir / path
            key = str(path)
            if key not in slot:
                stamp = (key, path.stat().st_mtime_ns if path.is_file() else -1)
                image = self._decoded.get(stamp)
                if image is None:
                    image = self._decoded[stamp] = self._load(path, frame.index[row], column)
                if image is None:
                    missing[row] = True
                    continue
                slot[key] = len(images)
                images.append(image)
            index[row] = slot[key]
        pixels = torch.from_numpy(np.stack(images)) if images else torch.zeros(0, 3, self.size, self.size, dtype=torch.uint8)
        pixels = torch.cat([pixels, torch.zeros(1, *pixels.shape[1:], dtype=torch.uint8)])  # slot -1: blank
        return Features({"pixels": self._view(pixels)}, torch.from_numpy(~missing), torch.from_numpy(index))

    def _load(self, path: Path, row: Any, column: str) -> np.ndarray | None:
        try:
            image = open_rgb(path).resize((self.size, self.size), Image.BILINEAR)
            return np.asarray(image).transpose(2, 0, 1).copy()  # [3, S, S]
        except UnreadableImage as exc:
            if self.unreadable == "missing":
                return None
            raise ModalyzeError(f"{path}: row {row}, column '{column}': image file {exc} "
                                "(pass --unreadable missing to treat such files as missing)") from None


class UnreadableImage(Exception):
    """Why an image file cannot be used, in words ('does not exist', 'is not a readable image', ...)."""


def open_rgb(path: Path) -> Image.Image:
    """Decode an image file to RGB; every failure (absent, not an image, truncated, a decompression
    bomb over Pillow's pixel limit) is :class:`UnreadableImage` with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.convert("RGB")
    except FileNotFoundError:
        raise UnreadableImage("does not exist") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(f"has more pixels than Pillow decodes safely ({Image.MAX_IMAGE_PIXELS:,})") from None
    except Exception:  # noqa: BLE001 - Pillow's decoders raise many types for corrupt files
        raise UnreadableImage("is not a readable image") from None
