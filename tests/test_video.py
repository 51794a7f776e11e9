"""The video kind: clips in every container PyAV writes and a folder of frames decode to the same
frames; broken clips are one-line errors (or missing); the space-time encoder's shapes; a tiny VideoMAE
from a local folder; the temporal-order condition in the profile, per slice; inference of a video column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from modalyze import Classifier
from modalyze.data.builtin import DIRECTIONS, MOTION_COLOURS, load_builtin, moving_clip, write_clip
from modalyze.data.featurizers import create_featurizer
from modalyze.data.infer import infer_spec
from modalyze.errors import ModalyzeError
from modalyze.kinds.video import VideoEncoder, read_clip, shuffle_frames


from .conftest import FAST
from .test_bad_input import run_cli

CONTAINERS = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".gif")


def _centre_x(clip: np.ndarray) -> np.ndarray:
    """Per frame of uint8 [T, 3, S, S], the mean column of the bright (shape) pixels."""
    bright = clip.max(axis=1) > 120  # [T, S, S]
    return np.array([np.nonzero(f)[1].mean() for f in bright])


@pytest.fixture(scope="module")
def right_moving(tmp_path_factory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("clips")
    frames = moving_clip("red", "right", disc=False, rng=np.random.default_rng(0))  # [8, 32, 32, 3]
    for suffix in CONTAINERS:
        write_clip(root / f"clip{suffix}", frames)
    (root / "frames").mkdir()
    for t, pixels in enumerate(frames):
        Image.fromarray(pixels).save(root / "frames" / f"{t:03d}.png")
    return root, frames


@pytest.mark.parametrize("name", [f"clip{s}" for s in CONTAINERS] + ["frames"])
def test_every_container_and_a_folder_of_frames_decode_to_the_motion(right_moving, name):
    root, frames = right_moving
    clip = read_clip(root / name, frames=8, size=32)
    assert clip.shape == (8, 3, 32, 32) and clip.dtype == np.uint8
    centre = _centre_x(clip)
    np.testing.assert_allclose(centre, _centre_x(frames.transpose(0, 3, 1, 2)), atol=1.5)  # the shape where it was
    assert (np.diff(centre) > 0).all(), centre  # moving right, frame after frame
    red = clip[:, 0][clip.max(axis=1) > 120].mean()
    assert red > 150, "the colour survives the codec"


def test_frames_are_sampled_uniformly_over_a_longer_clip(right_moving):
    root, _ = right_moving
    four = read_clip(root / "clip.mp4", frames=4, size=16)
    assert four.shape == (4, 3, 16, 16) and (np.diff(_centre_x(four)) > 0).all()


def test_broken_clips_are_one_line_errors_or_missing(right_moving, tmp_path):
    root, _ = right_moving
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all" * 20)
    data = (root / "clip.webm").read_bytes()
    (tmp_path / "truncated.webm").write_bytes(data[: len(data) * 2 // 3])  # the frames before the cut decode
    (tmp_path / "empty").mkdir()
    frame = pd.DataFrame({"clip": [str(root / "clip.mp4"), "truncated.webm", "garbage.mp4", "empty", "absent.mp4"]})
    for row, reason in ((2, "is not a readable video"), (3, "folder without frame images"), (4, "does not exist")):
        cells = frame.iloc[[0, row]]
        featurizer = create_featurizer("video", ["clip"], base_dir=tmp_path, frames=4, size=16)
        with pytest.raises(ModalyzeError) as err:
            featurizer.fit(cells).transform(cells)
        message = str(err.value)
        assert reason in message and f"row {row}" in message and "'clip'" in message and "\n" not in message
    featurizer = create_featurizer("video", ["clip"], base_dir=tmp_path, frames=4, size=16, unreadable="missing")
    features = featurizer.fit(frame).transform(frame)
    assert features.present.tolist() == [True, True, False, False, False]
    assert features.take(torch.tensor([0, 1]))["pixels"].shape == (2, 4, 3, 16, 16)


@pytest.mark.parametrize("arch, tokens", [("space-time", 8 * 16), ("frames", 8)])
def test_the_video_encoders_shapes_and_the_space_time_encoder_sees_order(arch, tokens):
    torch.manual_seed(0)
    encoder = VideoEncoder({"frames": 8, "size": 32, "mean": [0.5] * 3, "std": [0.25] * 3}, 64, arch=arch).eval()
    clips = torch.randint(0, 255, (3, 8, 3, 32, 32), dtype=torch.uint8)
    out = encoder({"pixels": clips})
    assert out.pooled.shape == (3, 64) and out.tokens.shape == (3, tokens, 64) and out.mask.all()
    reversed_ = encoder({"pixels": clips.flip(1)})
    assert not torch.allclose(out.pooled, reversed_.pooled, atol=1e-4), "time positions make order visible"


def test_frame_order_shuffles_within_each_clip_and_level_zero_changes_nothing():
    rng = np.random.default_rng(0)
    clip = np.arange(8)[:, None, None, None] * np.ones((8, 3, 4, 4), dtype=np.uint8)
    shuffled = shuffle_frames(clip, 1.0, rng)
    assert sorted(shuffled[:, 0, 0, 0].tolist()) == list(range(8)) and shuffled[:, 0, 0, 0].tolist() != list(range(8))
    assert (shuffle_frames(clip, 0.0, rng) == clip).all()


def test_a_video_column_is_inferred_from_suffixes_and_a_column_of_frame_folders(right_moving):
    root, _ = right_moving
    if not (root / "frames-2").exists():
        shutil.copytree(root / "frames", root / "frames-2")
    frame = pd.DataFrame({"clip": ["clip.mp4", "clip.webm"] * 10, "folder": ["frames", "frames-2"] * 10,
                          "y": ["a", "b"] * 10})
    spec, left_out = infer_spec(frame, "y", base_dir=root)
    assert not left_out, left_out
    kinds = {m.columns[0]: m.kind for m in spec.modalities.values()}
    assert kinds == {"clip": "video", "folder": "video"}


def test_the_order_condition_is_in_the_profile_and_in_every_slice(tmp_path, capsys, tiny_budget):
    spec, frame = load_builtin("moving-shapes", rows=150)
    frame["part"] = np.where(np.arange(150) < 90, "train", np.where(np.arange(150) < 120, "val", "test"))
    frame.to_csv(tmp_path / "shapes.csv", index=False)
    code, _, err = run_cli(["analyze", str(tmp_path / "shapes.csv"), "--target", "answer", "--modality",
                            "clip=clip:video", "--modality", "question=question:text", "--slices", "question_type",
                            "--split-column", "part", "--budget", "tiny", "--dim", "16", "--no-progress", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 0, err
    profile = json.loads((tmp_path / "r" / "profile.json").read_text())
    order = profile["shuffle"]["order:clip"]
    assert order["label"] == "order of clip shuffled" and 0 <= order["score"] <= 1 and "i2m2" in order
    for value, summary in profile["slices"]["question_type"].items():
        assert {"clip", "question", "all", "order:clip"} <= set(summary.get("shuffle", {})) or summary.get("few_rows"), value
    curves = {c["corruption"] for c in profile["robustness"]["corruptions"] if c["modality"] == "clip"}
    assert curves == {"frame-order", "dropped-frames", "frozen-frames", "gaussian-noise"}


def test_the_order_corruption_leaves_colour_and_removes_direction():
    """By construction: shuffled frames keep every frame's content (colour) and the span the shape
    covers, so only the direction is lost."""
    rng = np.random.default_rng(1)
    for colour in MOTION_COLOURS:
        for direction in DIRECTIONS:
            clip = moving_clip(colour, direction, disc=True, rng=rng).transpose(0, 3, 1, 2)
            shuffled = shuffle_frames(clip, 1.0, rng)
            assert sorted(map(tuple, shuffled.reshape(8, -1))) == sorted(map(tuple, clip.reshape(8, -1)))


transformers = pytest.importorskip("transformers")


TINY_VIDEO = {"image_size": 32, "patch_size": 16, "num_frames": 4, "hidden_size": 32, "num_hidden_layers": 1,
              "num_attention_heads": 2, "intermediate_size": 64}


@pytest.mark.parametrize("name", ["VideoMAE", "Timesformer"])
def test_a_tiny_pretrained_video_model_from_a_local_folder_trains_frozen_and_fine_tuned(name, right_moving, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setenv("MODALYZE_CACHE", str(tmp_path / "cache"))
    root, _ = right_moving
    model = tmp_path / name
    torch.manual_seed(0)
    extra = {"tubelet_size": 2} if name == "VideoMAE" else {}
    architecture = getattr(transformers, f"{name}Model")
    architecture(getattr(transformers, f"{name}Config")(**TINY_VIDEO, **extra)).save_pretrained(model)
    transformers.VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}) \
        .save_pretrained(model)
    clips = [str(root / f"clip{s}") for s in CONTAINERS]
    frame = pd.DataFrame({"clip": clips * 6, "note": [f"note {i % 3}" for i in range(36)], "y": ["a", "b", "c"] * 12})
    frame.to_csv(tmp_path / "t.csv", index=False)
    for freeze in (True, False):
        spec = {"name": "t", "source": "t.csv", "target": "y",
                "modalities": {"clip": {"kind": "video", "column": "clip", "options": {"frames": 4},
                                        "encoder": {"hf": str(model), "freeze": freeze}},
                               "note": {"kind": "text", "column": "note"}}}
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        clf = Classifier(model="inter", **FAST).fit(str(tmp_path / "spec.json"))
        tower = clf.expert_.encoders["clip"].tower
        assert (tower is None) == freeze and (freeze or isinstance(tower, architecture))
        assert np.isfinite(clf.predict_proba(frame.head(3), base_dir=tmp_path)).all()


def test_step_order_shuffles_each_series_and_keeps_its_values():
    from modalyze.data.corruptions import corrupt

    frame = pd.DataFrame({"s": [[float(i) for i in range(10)], [1.0, 2.0, 3.0], [5.0] * 6]})
    featurizer = create_featurizer("timeseries", ["s"]).fit(frame)
    clean = featurizer.transform(frame).tensors
    shuffled = corrupt(featurizer, frame, "step-order", 1.0, seed=0).tensors
    assert torch.equal(shuffled["steps"], clean["steps"])
    for row in range(3):
        kept = clean["steps"][row]
        assert sorted(shuffled["values"][row][kept].flatten().tolist()) == sorted(clean["values"][row][kept].flatten().tolist())
    assert not torch.equal(shuffled["values"][0], clean["values"][0])


def test_segment_order_moves_whole_segments_of_each_clip_and_keeps_every_sample(tmp_path):
    import soundfile

    from modalyze.data.corruptions import corrupt
    from modalyze.kind import get_kind
    from modalyze.kinds.audio import shuffle_segments

    samples = np.arange(1050, dtype=np.float32)  # ten segments of 100 samples and a partial one of 50
    shuffled = shuffle_segments(samples, 1.0, np.random.default_rng(0), segment=100)
    blocks = shuffled[:1000].reshape(10, 100)
    assert (np.diff(blocks, axis=1) == 1).all(), "each segment moves whole"
    assert sorted(blocks[:, 0].tolist()) == list(range(0, 1000, 100)) and blocks[:, 0].tolist() != list(range(0, 1000, 100))
    assert (shuffled[1000:] == samples[1000:]).all() and (shuffle_segments(samples, 0.0, np.random.default_rng(1), 100) == samples).all()

    from modalyze.kinds.audio import _reorder_audio

    soundfile.write(str(tmp_path / "short.wav"), np.linspace(-0.5, 0.5, 300), 8000)  # shorter than one segment
    _reorder_audio(tmp_path / "short.wav", tmp_path / "same.wav", np.random.default_rng(0))
    np.testing.assert_allclose(soundfile.read(str(tmp_path / "same.wav"))[0], np.linspace(-0.5, 0.5, 300), atol=1e-4)

    rate = 8000
    t = np.arange(rate) / rate  # a one-second rising chirp: its order is in the spectrogram
    soundfile.write(str(tmp_path / "chirp.wav"), np.sin(2 * np.pi * (200 + 1500 * t) * t), rate)
    frame = pd.DataFrame({"a": ["chirp.wav"]})
    featurizer = create_featurizer("audio", ["a"], base_dir=tmp_path, sample_rate=rate, n_fft=256, hop=128).fit(frame)
    clean = featurizer.transform(frame).take(torch.arange(1))
    moved = corrupt(featurizer, frame, "segment-order", 1.0, seed=0).take(torch.arange(1))
    assert get_kind("audio").order == "segment-order"
    assert torch.equal(moved["frames"], clean["frames"]) and not torch.allclose(moved["mel"], clean["mel"], atol=0.1)
    peak = lambda rows: rows["mel"][0].argmax(0).float()  # noqa: E731  the loudest band per frame rises with the chirp
    assert np.corrcoef(torch.arange(len(peak(clean))), peak(clean))[0, 1] > 0.9 > \
        np.corrcoef(torch.arange(len(peak(moved))), peak(moved))[0, 1]


@pytest.mark.slow
def test_moving_shapes_gives_its_documented_verdict_and_order_matters_only_for_motion(tmp_path, capsys):
    """The README's expectation by construction: verdict both; with the frames shuffled, direction
    questions fall to their chance and colour questions keep their score."""
    code, _, err = run_cli(["analyze", "moving-shapes", "--no-progress", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert profile["verdict"] == "both" and profile["inter"]["score"] >= 0.95
    slices = profile["slices"]["question_type"]
    direction, colour = slices["direction"], slices["colour"]
    assert direction["inter"]["score"] >= 0.95
    assert direction["shuffle"]["order:clip"]["inter"]["score"] <= direction["chance"] + 0.1
    assert colour["shuffle"]["order:clip"]["inter"]["score"] >= colour["inter"]["score"] - 0.02
