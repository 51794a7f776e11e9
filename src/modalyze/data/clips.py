"""Writing video clips with PyAV: the built-in video datasets and the order condition's rewritten clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CODECS = {".webm": ("libvpx", "yuv420p"), ".gif": ("gif", "rgb8")}  # others: MPEG-4 part 2 in yuv420p


def write_clip(path: Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Write uint8 frames [T, H, W, 3] (even H and W) as a video file, the codec chosen by the suffix."""
    import av

    codec, pixel_format = CODECS.get(path.suffix.lower(), ("mpeg4", "yuv420p"))
    with av.open(str(path), mode="w") as clip:
        stream = clip.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pixel_format
        if codec == "mpeg4":
            stream.options = {"qscale": "2"}  # near-lossless: small clips keep their colours
        for pixels in frames:
            clip.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")))
        clip.mux(stream.encode())
    return path
