"""The image kind: files Pillow reads -> uint8 pixels, decoded on demand (and once per machine with
the decoded-file cache); views (one channel, one patch of a grid) for modalities derived from one image
column; a patchify-stem CNN; noise, blur and occlusion as corruptions; Hugging Face image processors
for pretrained towers."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFilter
from pydantic import Field
from torch import nn

from modalyze.data.corruptions import edit_decoded
from modalyze.data.decoded import FileFeaturizer, Unreadable
from modalyze.encoders.base import EncoderOutput
from modalyze.errors import ModalyzeError
from modalyze.files import source
from modalyze.kind import Corruption, Kind, Pretrained, register_kind
from modalyze.options import Count

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


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
            with Image.open(source(path)) as image:
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


def _block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2 if stride == 2 else 0,
                                   bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class ImageEncoder(nn.Module):
    """uint8 pixels [B, 3, S, S] -> normalised -> a ``patch``x``patch`` stride-``patch`` stem (cheap on
    CPU: each patch is embedded once) -> stride-2 3x3 blocks until the map is at most 4x4."""

    def __init__(self, info: dict[str, Any], dim: int, width: Count = 32, patch: Count = 4):
        super().__init__()
        self.register_buffer("mean", torch.tensor(info["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(info["std"]).view(1, 3, 1, 1))
        size = int(info["size"])
        patch = max(1, min(patch, size // 4))
        blocks, channels, size = [_block(3, width, patch, patch)], width, size // patch
        while size > 4:
            out = min(2 * channels, max(dim, width))
            blocks.append(_block(channels, out, 3, 2))
            channels, size = out, (size + 1) // 2
        blocks.append(nn.Sequential(nn.Conv2d(channels, dim, 1), nn.ReLU()))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.Linear(2 * dim, dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        pixels = (x["pixels"].float() / 255 - self.mean) / self.std  # [B, 3, S, S]
        fmap = self.features(pixels)  # [B, D, h, w]
        tokens = fmap.flatten(2).transpose(1, 2)  # [B, h*w, D]
        pooled = self.pool(torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1))  # [B, D]
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(pooled, tokens, mask)


def _noise(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    noisy = pixels / 255.0 + rng.normal(0.0, level, pixels.shape)
    return (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)


def _blur(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    radius = level * pixels.shape[-1] / 4
    return np.asarray(Image.fromarray(pixels.transpose(1, 2, 0)).filter(ImageFilter.GaussianBlur(radius))).transpose(2, 0, 1)


def _occlude(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    out = pixels.copy()
    size = pixels.shape[-1]
    side = int(round(np.sqrt(level) * size))  # the square covers `level` of the area
    top, left = rng.integers(0, size - side + 1, size=2)
    out[:, top:top + side, left:left + side] = 128
    return out


def _pixel_values(processor: Any, values: list[Any], options: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A pretrained image processor's inputs; an absent row is a blank image (ignored downstream)."""
    images = [_readable(p) if p else Image.new("RGB", (32, 32)) for p in values]
    return {"pixel_values": processor(images=images, return_tensors="pt")["pixel_values"]}


def _readable(path: Path) -> Image.Image:
    try:
        return open_rgb(Path(path))
    except Unreadable as exc:
        raise ModalyzeError(f"{path}: image file {exc}") from None


IMAGE = register_kind(Kind(
    "image", ImageFeaturizer, ImageEncoder, one_column=True, suffixes=SUFFIXES, views=True,
    corruptions=(
        Corruption("gaussian-noise", "noise with a standard deviation of the full pixel range, clipped",
                   edit_decoded("pixels", _noise)),
        Corruption("blur", "Gaussian blur with a radius of a quarter of the image side", edit_decoded("pixels", _blur),
                   random=False),
        Corruption("occlusion", "a grey square covering the whole image", edit_decoded("pixels", _occlude))),
    pretrained=Pretrained("AutoImageProcessor", _pixel_values, tower="vision_model", prompt_input="images",
                          read=_readable)))
