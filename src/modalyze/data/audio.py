"""Audio: files read with soundfile (wav, flac, ogg), mixed to mono, resampled, turned into a log-mel
spectrogram with ``torch.stft`` and a mel filterbank (HTK mel scale)."""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Annotated, Any, Callable

import numpy as np
import pandas as pd
import soundfile
import torch
from pydantic import Field
from scipy.signal import resample_poly

from modalyze.data.featurizers import Featurizer, Features, _empty, register_featurizer
from modalyze.errors import ModalyzeError

Perturb = Callable[[np.ndarray], np.ndarray]


def read_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples at ``sample_rate``; raises soundfile/OS errors for unreadable files."""
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # [S, channels]
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


@register_featurizer("audio")
class AudioFeaturizer(Featurizer):
    """Audio file paths -> log-mel [N, n_mels, T] (standardised with train statistics) and a frame mask [N, T].

    Options: ``sample_rate`` (16000), ``n_mels`` (40), ``n_fft`` (400), ``hop`` (160). Clips of
    different lengths are padded to the longest of the rows transformed together, never cut.
    """

    option_types = {"sample_rate": Annotated[int, Field(ge=1000, le=192_000)],
                    "n_mels": Annotated[int, Field(ge=1, le=512)],
                    "n_fft": Annotated[int, Field(ge=16, le=65_536)], "hop": Annotated[int, Field(ge=1, le=65_536)]}

    @property
    def _settings(self) -> dict[str, int]:
        o = self.options
        return {"sample_rate": int(o.get("sample_rate", 16000)), "n_mels": int(o.get("n_mels", 40)),
                "n_fft": int(o.get("n_fft", 400)), "hop": int(o.get("hop", 160))}

    def fit(self, frame: pd.DataFrame) -> AudioFeaturizer:
        mels = [m for m in self._spectrograms(frame) if m is not None]
        values = torch.cat([m.flatten() for m in mels]) if mels else torch.zeros(1)
        self.mean_, self.std_ = float(values.mean()), float(values.std()) if len(values) > 1 else 1.0
        return self

    @property
    def spec_info(self) -> dict[str, Any]:
        return {"n_mels": self._settings["n_mels"]}

    def _spectrograms(self, frame: pd.DataFrame, perturb: Perturb | None = None) -> list[torch.Tensor | None]:
        column = self.columns[0]
        s = self._settings
        out: list[torch.Tensor | None] = []
        for row, (value, absent) in enumerate(zip(frame[column].tolist(), _empty(frame[column]))):
            if absent:
                out.append(None)
                continue
            path = Path(str(value))
            path = path if path.is_absolute() else self.base_dir / path
            try:
                samples = read_audio(path, s["sample_rate"])
            except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
                if self.unreadable == "missing":
                    out.append(None)
                    continue
                reason = "does not exist" if not path.exists() else f"is not a readable audio file ({exc})"
                raise ModalyzeError(f"{path}: row {frame.index[row]}, column '{column}': audio file {reason} "
                                    "(pass --unreadable missing to treat such files as missing)") from None
            out.append(log_mel(perturb(samples) if perturb else samples, **s))
        return out

    def transform(self, frame: pd.DataFrame, perturb: Perturb | None = None) -> Features:
        """``perturb`` edits each clip's samples before the spectrogram (corruptions use it)."""
        mels = self._spectrograms(frame, perturb)
        n_mels = self._settings["n_mels"]
        length = max([m.shape[1] for m in mels if m is not None] or [1])
        values = torch.zeros(len(frame), n_mels, length)
        frames = torch.zeros(len(frame), length, dtype=torch.bool)
        for i, mel in enumerate(mels):
            if mel is not None:
                values[i, :, : mel.shape[1]] = (mel - self.mean_) / self.std_
                frames[i, : mel.shape[1]] = True
        return Features({"mel": values, "frames": frames}, frames.any(1))
