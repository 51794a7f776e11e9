"""The audio kind: files read with soundfile (wav, flac, ogg), mixed to mono, resampled, turned into a
log-mel spectrogram with ``torch.stft`` and a mel filterbank (HTK mel scale), decoded on demand (and
once per machine with the decoded-file cache); a small 2-D CNN; additive noise and the order of its
0.1 s segments (the temporal-order condition) as its corruptions;
Hugging Face feature extractors for pretrained towers."""

from __future__ import annotations

from functools import partial
from math import gcd
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Callable

import numpy as np
import pandas as pd
import soundfile
import torch
from pydantic import Field
from scipy.signal import resample_poly
from torch import nn

from modalyze.data.corruptions import reordered_files, shuffled_places
from modalyze.data.decoded import FileFeaturizer, Perturbation, Unreadable
from modalyze.data.featurizers import Featurizer, Features
from modalyze.encoders.base import EncoderOutput, downsample_mask, pooled_sequence
from modalyze.files import container, source
from modalyze.kind import Corruption, Kind, Pretrained, register_kind
from modalyze.options import Count, Rate

SUFFIXES = (".wav", ".flac", ".ogg")
SEGMENT_S = 0.1  # the order condition's unit: about a syllable or a note


def read_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples at ``sample_rate``; raises soundfile/OS errors for unreadable files."""
    samples, rate = soundfile.read(_readable(path), dtype="float32", always_2d=True)  # [S, channels]
    mono = samples.mean(axis=1)
    if rate != sample_rate:
        g = gcd(rate, sample_rate)
        mono = resample_poly(mono, sample_rate // g, rate // g).astype(np.float32)
    return mono


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular filters [n_mels, n_fft // 2 + 1], equally spaced on the HTK mel scale up to Nyquist."""
    def to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = to_hz(np.linspace(0.0, to_mel(np.array(sample_rate / 2)), n_mels + 2))  # [n_mels + 2]
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # [F]
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / np.maximum(center - lower, 1e-9)
    falling = (upper - bins) / np.maximum(upper - center, 1e-9)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None)).float()


def log_mel(samples: np.ndarray, sample_rate: int, n_mels: int, n_fft: int, hop: int) -> torch.Tensor:
    """Log-mel spectrogram [n_mels, frames] of mono samples."""
    wave = torch.from_numpy(np.pad(samples, (0, max(0, n_fft - len(samples)))))
    spec = torch.stft(wave, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs() ** 2  # [F, frames]
    return torch.log(mel_filterbank(n_mels, n_fft, sample_rate) @ spec + 1e-6)


class AudioFeaturizer(FileFeaturizer):
    """Audio file paths -> log-mel [B, n_mels, T] (standardised with train statistics) and a frame mask [B, T],
    decoded when a batch is read (see :mod:`modalyze.data.decoded`).

    Options: ``sample_rate`` (16000), ``n_mels`` (40), ``n_fft`` (400), ``hop`` (160). Clips of
    different lengths are padded to the longest of the rows transformed together, never cut.
    """

    what = "audio file"
    option_types = {"sample_rate": Annotated[int, Field(ge=1000, le=192_000)],
                    "n_mels": Annotated[int, Field(ge=1, le=512)],
                    "n_fft": Annotated[int, Field(ge=16, le=65_536)], "hop": Annotated[int, Field(ge=1, le=65_536)]}

    @property
    def decode_options(self) -> dict[str, int]:
        o = self.options
        return {"sample_rate": int(o.get("sample_rate", 16000)), "n_mels": int(o.get("n_mels", 40)),
                "n_fft": int(o.get("n_fft", 400)), "hop": int(o.get("hop", 160))}

    def fit(self, frame: pd.DataFrame) -> AudioFeaturizer:
        mels = self.sample(frame)
        values = torch.cat([torch.from_numpy(m).flatten() for m in mels]) if mels else torch.zeros(1)
        self.mean_, self.std_ = float(values.mean()), float(values.std()) if len(values) > 1 else 1.0
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"n_mels": self.decode_options["n_mels"]}

    def check(self, path: Path) -> tuple[int, ...]:
        """The log-mel shape from the header: frames of the resampled clip (padded to one window)."""
        s = self.decode_options
        try:
            info = soundfile.info(_readable(path))
        except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
            raise _unreadable(path, exc) from None
        samples = info.frames if info.samplerate == s["sample_rate"] else \
            -(-info.frames * s["sample_rate"] // info.samplerate)  # resample_poly's output length
        return (s["n_mels"], 1 + max(samples, s["n_fft"]) // s["hop"])

    def decode(self, path: Path, perturb: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Log-mel float32 [n_mels, frames]; ``perturb`` edits the samples before the spectrogram."""
        s = self.decode_options
        try:
            samples = read_audio(path, s["sample_rate"])
        except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
            raise _unreadable(path, exc) from None
        return log_mel(perturb(samples) if perturb else samples, **s).numpy()

    def assemble(self, decoded: list[np.ndarray | None], shapes: list[tuple[int, ...]]) -> dict[str, torch.Tensor]:
        length = max([s[1] for s in shapes] or [1])  # the longest clip of the rows
        values = torch.zeros(len(decoded), self.decode_options["n_mels"], length)
        frames = torch.zeros(len(decoded), length, dtype=torch.bool)
        for i, mel in enumerate(decoded):
            if mel is not None:
                values[i, :, : mel.shape[1]] = (torch.from_numpy(mel) - self.mean_) / self.std_
                frames[i, : mel.shape[1]] = True
        return {"mel": values, "frames": frames}


def _unreadable(path: Path, exc: Exception) -> Unreadable:
    return Unreadable("does not exist" if not container(path).exists() else f"is not a readable audio file ({exc})")


def _readable(path: Path) -> str | BinaryIO:
    """What soundfile reads: the file's name, or a shard member's bytes."""
    found = source(path)
    return str(found) if isinstance(found, Path) else found


class AudioEncoder(nn.Module):
    def __init__(self, info: dict[str, Any], dim: int, width: Count = 32, dropout: Rate = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * width, dim, 3, stride=2, padding=1), nn.GELU(), nn.Dropout(dropout),
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        frames = x["frames"]  # bool [B, T]
        maps = self.net(x["mel"].unsqueeze(1))  # [B, D, n_mels / 8, T / 8]
        tokens = self.norm(maps.mean(2).transpose(1, 2))  # [B, T', D]
        return pooled_sequence(tokens, downsample_mask(frames, tokens.shape[1]))


def _additive_noise(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    """White noise added to the samples as each file is decoded, before the spectrogram."""
    assert isinstance(featurizer, FileFeaturizer)
    return featurizer.transform(frame, perturb=Perturbation(_add_noise, level, (int(rng.integers(2**63)),)))


def _add_noise(samples: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    rms = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
    return (samples + rng.normal(0.0, 4 * level * rms, samples.shape)).astype(np.float32)


def _segment_order(featurizer: Featurizer, frame: pd.DataFrame, level: float, rng: np.random.Generator) -> Features:
    """The clip cut into segments of ``SEGMENT_S`` seconds, a ``level`` share of them trading places as each
    file is decoded (level 1: the order is gone, every sample kept): the temporal-order condition."""
    assert isinstance(featurizer, AudioFeaturizer)
    segment = max(1, round(SEGMENT_S * featurizer.decode_options["sample_rate"]))
    edit = partial(shuffle_segments, segment=segment)
    return featurizer.transform(frame, perturb=Perturbation(edit, level, (int(rng.integers(2**63)),)))


def shuffle_segments(samples: np.ndarray, level: float, rng: np.random.Generator, segment: int) -> np.ndarray:
    """Whole segments of ``segment`` samples (of [S] or [S, channels]) trade places; a last partial segment
    stays at the end (a clip shorter than one segment comes back as it is)."""
    n = len(samples) // segment
    cut = n * segment
    moved = samples[:cut].reshape(n, segment, *samples.shape[1:])[shuffled_places(n, level, rng)]
    return np.concatenate([moved.reshape(cut, *samples.shape[1:]), samples[cut:]])


def _reordered_audio(cells: pd.DataFrame, base_dir: Path, out: Path, seed: int) -> pd.DataFrame:
    """Probe's order condition: each clip rewritten as wav at its own rate with every ``SEGMENT_S``
    segment in a random place (channels kept)."""
    return reordered_files(cells, base_dir, out, seed, lambda p: ".wav", _reorder_audio)


def _reorder_audio(path: Path, target: Path, rng: np.random.Generator) -> None:
    try:
        samples, rate = soundfile.read(_readable(path), dtype="float32", always_2d=True)  # [S, channels]
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise _unreadable(path, exc) from None
    moved = shuffle_segments(samples, 1.0, rng, segment=max(1, round(SEGMENT_S * rate)))
    soundfile.write(str(target), moved, rate, format="WAV")


def _input_features(extractor: Any, values: list[Any], options: dict[str, Any]) -> dict[str, torch.Tensor]:
    """A pretrained feature extractor's inputs at its sampling rate; an absent row is 0.1 s of silence."""
    rate = int(extractor.sampling_rate)
    clips = [read_audio(p, rate) if p else np.zeros(rate // 10, dtype=np.float32) for p in values]
    return {"input_features": extractor(clips, sampling_rate=rate, return_tensors="pt")["input_features"]}


AUDIO = register_kind(Kind(
    "audio", AudioFeaturizer, AudioEncoder, one_column=True, suffixes=SUFFIXES, order="segment-order",
    reorder=_reordered_audio,
    corruptions=(Corruption("additive-noise", "white noise at 4 × the clip's RMS (about −12 dB SNR)", _additive_noise),
                 Corruption("segment-order", "every 0.1 s segment in a random place: the clip's order is gone",
                            _segment_order)),
    pretrained=Pretrained("AutoFeatureExtractor", _input_features, tower="encoder")))
