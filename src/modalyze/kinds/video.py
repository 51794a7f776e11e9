"""The video kind: clips (mp4, webm, mov, avi, mkv, an animated gif, or a folder of frame images) read
with PyAV, ``frames`` frames sampled uniformly over the clip and resized to ``size`` × ``size``, decoded
on demand (and once per machine with the decoded-file cache); a from-scratch encoder with divided
space-time attention (TimeSformer's pattern) or a frame-pooled baseline (the image encoder per frame,
pooled over time); frame order, dropped frames, frozen frames and noise as corruptions (frame order is
the study's temporal-order condition); Hugging Face video processors (VideoMAE, TimeSformer) for
pretrained towers."""

from __future__ import annotations

import math
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pydantic import Field
from torch import nn

from modalyze.data.clips import write_clip
from modalyze.data.corruptions import edit_decoded, reordered_files, shuffled_places
from modalyze.data.decoded import FileFeaturizer, Unreadable
from modalyze.encoders.base import EncoderOutput
from modalyze.errors import ModalyzeError
from modalyze.files import container, source
from modalyze.kind import Corruption, Kind, Pretrained, register_kind
from modalyze.kinds.image import SUFFIXES as IMAGE_SUFFIXES
from modalyze.kinds.image import ImageEncoder, open_rgb
from modalyze.options import Count, Rate

SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v")  # a gif reads as video when declared so


def frame_files(folder: Path) -> list[Path]:
    """The image files of a folder of frames, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def uniform(total: int, frames: int) -> np.ndarray:
    """``frames`` indices spread evenly over ``total`` frames (repeated where the clip is shorter)."""
    return np.linspace(0, total - 1, frames).round().astype(int) if total else np.zeros(0, dtype=int)


def read_clip(path: Path, frames: int, size: int | None) -> np.ndarray:
    """uint8 [frames, 3, size, size] (``size`` None: [frames, 3, H, W] as stored): frames sampled uniformly
    over the clip (a folder's frames as its first frame's size); :class:`Unreadable` with the reason if
    the clip cannot be read (a truncated file keeps the frames that decode)."""
    if container(path).is_dir():
        files = frame_files(path)
        if not files:
            raise Unreadable("is a folder without frame images")
        images = [open_rgb(files[i]) for i in uniform(len(files), frames)]
        shape = (size, size) if size else images[0].size
        return np.stack([np.asarray(im.convert("RGB").resize(shape, Image.BILINEAR)).transpose(2, 0, 1) for im in images])
    decoded = _decoded_frames(path, size)
    if not decoded:
        raise Unreadable("has no decodable video frames")
    return np.stack([decoded[i] for i in uniform(len(decoded), frames)])


@contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The clip opened with PyAV (its header read) and holding a video stream; every failure is
    :class:`Unreadable` with the reason."""
    import av

    if not container(path).exists():
        raise Unreadable("does not exist")
    try:
        clip = av.open(source(path))
    except Exception as exc:  # noqa: BLE001 - FFmpeg raises many types for damaged files
        raise Unreadable(f"is not a readable video ({type(exc).__name__})") from None
    with clip:
        if not clip.streams.video:
            raise Unreadable("has no video stream (truncated, or not a video?)")
        yield clip


def _decoded_frames(path: Path, size: int | None) -> list[np.ndarray]:
    """Every frame of the clip's first video stream that decodes, resized as it is decoded (uint8
    [3, S, S] each, so a long clip costs little memory; ``size`` None: [3, H, W] as stored); decoding
    stops at the first damaged packet of a truncated file."""
    images: list[np.ndarray] = []
    shape = {} if size is None else {"width": size, "height": size}
    with _opened(path) as clip:
        try:
            for frame in clip.decode(video=0):
                images.append(frame.to_ndarray(**shape, format="rgb24").transpose(2, 0, 1).copy())
        except Exception as exc:  # noqa: BLE001 - a damaged packet: keep the frames before it
            if not images:
                raise Unreadable(f"is not a readable video ({type(exc).__name__})") from None
    return images




class VideoFeaturizer(FileFeaturizer):
    """Video files or frame folders -> uint8 frames [B, T, 3, S, S], decoded when a batch is read (see
    :mod:`modalyze.data.decoded`); the pixel statistics come from a sample of the train clips."""

    what = "video"
    option_types = {"frames": Annotated[int, Field(ge=2, le=256)],  # T, sampled uniformly over each clip
                    "size": Annotated[int, Field(ge=8, le=512)]}  # side S of the resized square frames

    @property
    def decode_options(self) -> dict[str, Any]:
        return {"frames": int(self.options.get("frames", 8)), "size": int(self.options.get("size", 32))}

    def fit(self, frame: pd.DataFrame) -> VideoFeaturizer:
        sample = self.sample(frame, limit=500)
        pixels = torch.from_numpy(np.stack(sample)).float() / 255 if sample else torch.zeros(0)  # [n, T, 3, S, S]
        self.mean_ = pixels.mean(dim=(0, 1, 3, 4)).tolist() if len(pixels) else [0.5] * 3
        self.std_ = (pixels.std(dim=(0, 1, 3, 4)) + 1e-3).tolist() if len(pixels) > 1 else [0.25] * 3
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {**self.decode_options, "mean": self.mean_, "std": self.std_}

    def check(self, path: Path) -> tuple[int, ...]:
        """The decoded shape, after checking that the clip opens and holds a video stream (or frames)."""
        o = self.decode_options
        shape = (o["frames"], 3, o["size"], o["size"])
        if container(path).is_dir():
            if not frame_files(path):
                raise Unreadable("is a folder without frame images")
            return shape
        with _opened(path):
            return shape

    def decode(self, path: Path, perturb: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        clip = read_clip(path, **self.decode_options)
        return perturb(clip) if perturb else clip

    def assemble(self, decoded: list[np.ndarray | None], shapes: list[tuple[int, ...]]) -> dict[str, torch.Tensor]:
        o = self.decode_options
        blank = np.zeros((o["frames"], 3, o["size"], o["size"]), dtype=np.uint8)
        stacked = np.stack([blank if d is None else d for d in decoded]) if decoded else blank[None, :0]
        return {"pixels": torch.from_numpy(stacked)}  # uint8 [B, T, 3, S, S]


class SpaceTimeBlock(nn.Module):
    """TimeSformer's divided attention: each patch attends over time (the same patch in every frame),
    then over space (every patch of its frame), then an MLP; pre-norm residuals."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.time_norm, self.space_norm, self.mlp_norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.time = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.space = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, p, d = x.shape  # [B, T, P, D]
        across_time = self.time_norm(x).transpose(1, 2).reshape(b * p, t, d)  # [B·P, T, D]
        x = x + self.time(across_time, across_time, across_time, need_weights=False)[0].reshape(b, p, t, d).transpose(1, 2)
        across_space = self.space_norm(x).reshape(b * t, p, d)  # [B·T, P, D]
        x = x + self.space(across_space, across_space, across_space, need_weights=False)[0].reshape(b, t, p, d)
        return x + self.mlp(self.mlp_norm(x))


class VideoEncoder(nn.Module):
    """uint8 frames [B, T, 3, S, S] -> tokens and a pooled vector.

    ``space-time`` (default): ``patch``×``patch`` patches embedded per frame, learned space and time
    positions, ``depth`` divided space-time attention blocks; tokens [B, T·P, D].
    ``frames``: the image kind's CNN on every frame, its pooled outputs as tokens [B, T, D] (with time
    positions) — the frame-pooled baseline, which sees order only through the positions.
    """

    def __init__(self, info: dict[str, Any], dim: int, arch: Literal["space-time", "frames"] = "space-time",
                 depth: Count = 2, heads: Count = 4, patch: Count = 8, dropout: Rate = 0.1):
        super().__init__()
        if arch not in ("space-time", "frames"):
            raise ModalyzeError(f"video encoder option arch={arch!r}: use 'space-time' or 'frames'")
        self.arch, frames, size = arch, int(info["frames"]), int(info["size"])
        self.register_buffer("mean", torch.tensor(info["mean"]).view(1, 1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(info["std"]).view(1, 1, 3, 1, 1))
        self.time_position = nn.Parameter(torch.zeros(1, frames, 1, dim))
        if arch == "frames":
            self.frame = ImageEncoder({"size": size, "mean": info["mean"], "std": info["std"]}, dim)
        else:
            patch = max(1, min(patch, size))
            self.embed = nn.Conv2d(3, dim, patch, stride=patch)
            self.space_position = nn.Parameter(torch.zeros(1, 1, (size // patch) ** 2, dim))
            self.blocks = nn.ModuleList(SpaceTimeBlock(dim, math.gcd(heads, dim), dropout) for _ in range(depth))
            nn.init.normal_(self.space_position, std=0.02)
        nn.init.normal_(self.time_position, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.pool = nn.Linear(2 * dim, dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        b, t = x["pixels"].shape[:2]  # uint8 [B, T, 3, S, S]
        if self.arch == "frames":
            pooled = self.frame({"pixels": x["pixels"].flatten(0, 1)}).pooled  # [B·T, D]
            tokens = pooled.view(b, t, 1, -1) + self.time_position  # [B, T, 1, D]
        else:
            pixels = (x["pixels"].float() / 255 - self.mean) / self.std  # [B, T, 3, S, S]
            patches = self.embed(pixels.flatten(0, 1)).flatten(2).transpose(1, 2)  # [B·T, P, D]
            tokens = patches.view(b, t, *patches.shape[1:]) + self.space_position + self.time_position  # [B, T, P, D]
            for block in self.blocks:
                tokens = block(tokens)
        tokens = self.norm(tokens.flatten(1, 2))  # [B, T·P, D]
        pooled = self.pool(torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1))  # [B, D]
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(pooled, tokens, mask)


# --- corruptions: each edits one clip's decoded frames [T, 3, S, S] -----------------------------------

def _chosen(frames: int, level: float, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(frames, size=int(round(level * frames)), replace=False))


def shuffle_frames(clip: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """A ``level`` share of the frames trade places at random (level 1: the order is gone)."""
    return clip[shuffled_places(len(clip), level, rng)]


def _drop_frames(clip: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    out = clip.copy()
    out[_chosen(len(clip), level, rng)] = 0
    return out


def _freeze_frames(clip: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    frozen = int(round(level * len(clip)))
    out = clip.copy()
    if frozen:
        start = len(clip) - frozen
        out[start:] = clip[max(start - 1, 0)]
    return out


def _noise(clip: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    noisy = clip / 255.0 + rng.normal(0.0, level, clip.shape)
    return (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)


def _reordered_clips(cells: pd.DataFrame, base_dir: Path, out: Path, seed: int) -> pd.DataFrame:
    """Probe's order condition: each clip rewritten with its frames in a random order (every frame, as
    stored; a folder of frames as a folder, a container as an mp4 at the source's frame rate)."""
    return reordered_files(cells, base_dir, out, seed, lambda p: "" if container(p).is_dir() else ".mp4", _reorder_clip)


def _reorder_clip(path: Path, target: Path, rng: np.random.Generator) -> None:
    if container(path).is_dir():
        files = frame_files(path)
        if not files:
            raise Unreadable("is a folder without frame images")
        target.mkdir()
        for t, i in enumerate(shuffled_places(len(files), 1.0, rng)):
            shutil.copyfile(files[i], target / f"{t:06d}{files[i].suffix.lower()}")
        return
    with _opened(path) as clip:
        rate = clip.streams.video[0].average_rate
    frames = np.stack(_decoded_frames(path, None)).transpose(0, 2, 3, 1)  # [T, H, W, 3]
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # the codec takes even sides
    write_clip(target, frames[shuffled_places(len(frames), 1.0, rng)], fps=round(float(rate)) if rate else 8)


# --- pretrained towers (VideoMAE, TimeSformer) from a local folder -----------------------------------

def _video_values(processor: Any, values: list[Any], options: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A pretrained video processor's inputs: each clip as a list of frames (an absent row: black frames);
    the modality's ``frames`` option must match the model's ``num_frames`` (VideoMAE's default: 16)."""
    frames = int(options.get("frames", 16))
    clips = [[Image.fromarray(f.transpose(1, 2, 0)) for f in _readable(p, frames)] if p
             else [Image.new("RGB", (32, 32))] * frames for p in values]
    return {"pixel_values": processor(clips, return_tensors="pt")["pixel_values"]}


def _readable(path: Any, frames: int) -> np.ndarray:
    """The clip's frames as stored: the processor resizes and crops them as the model was trained."""
    try:
        return read_clip(Path(path), frames, None)
    except Unreadable as exc:
        raise ModalyzeError(f"{path}: video {exc}") from None


VIDEO = register_kind(Kind(
    "video", VideoFeaturizer, VideoEncoder, one_column=True, suffixes=SUFFIXES, folders=True, order="frame-order",
    reorder=_reordered_clips,
    corruptions=(
        Corruption("frame-order", "every frame in a random place: the clip's order is gone",
                   edit_decoded("pixels", shuffle_frames)),
        Corruption("dropped-frames", "every frame black", edit_decoded("pixels", _drop_frames)),
        Corruption("frozen-frames", "the first frame held for the whole clip", edit_decoded("pixels", _freeze_frames),
                   random=False),
        Corruption("gaussian-noise", "noise with a standard deviation of the full pixel range, clipped",
                   edit_decoded("pixels", _noise))),
    pretrained=Pretrained("AutoImageProcessor", _video_values)))
