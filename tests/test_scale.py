"""Data at scale (issue 16): files decoded on demand, the decoded-file cache, DataLoader workers,
column-projected sources."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
import yaml
from PIL import Image

from modalyze.data import load_dataset
from modalyze.data.batching import FeaturizedDataset, make_loader
from modalyze.data.decoded import CACHE_ENV, WORKERS_ENV, FileRows, configure, resolve_workers
from modalyze.data.featurizers import Featurizer, create_featurizer
from modalyze.data.prepare import prepare
from modalyze.data.table import read_source
from modalyze.errors import ModalyzeError
from tests.conftest import write_images_dataset
from tests.test_bad_input import run_cli


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test its own decoded-file cache, the cache on and no workers unless a test says so."""
    monkeypatch.setenv("MODALYZE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(CACHE_ENV, "on")
    monkeypatch.setenv(WORKERS_ENV, "0")


def _images(tmp_path: Path, n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir(exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "img" / f"{i}.png")
    return pd.DataFrame({"path": [f"img/{i % n}.png" for i in range(2 * n)] + [""]})  # each file twice, one empty


def _shards(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "decoded").rglob("*.bin"))


def _pixels(feats) -> torch.Tensor:
    return feats.take(torch.arange(len(feats)))["pixels"]


def _by_hand(path: Path, size: int) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)


def test_images_are_read_on_demand_and_the_cache_decodes_each_file_once(tmp_path, monkeypatch):
    frame = _images(tmp_path)
    f = create_featurizer("image", ["path"], base_dir=tmp_path, size=16).fit(frame)
    feats = f.transform(frame)
    assert isinstance(feats.rows, FileRows) and len(feats.rows) == 12, "one position per distinct file"
    assert feats.present.tolist() == [True] * 24 + [False]
    pixels = _pixels(feats)  # [25, 3, 16, 16]
    for row in (0, 5, 17):
        assert np.array_equal(pixels[row].numpy(), _by_hand(tmp_path / frame["path"][row], 16))
    assert (pixels[24] == 0).all(), "an absent row reads as a blank"
    assert len(_shards(tmp_path)) == 1, "fit and transform: the files were decoded once"
    assert len(pickle.dumps(feats.rows)) < 12 * 400, "the rows hold file names, not pixels"

    f.transform(frame)
    assert len(_shards(tmp_path)) == 1, "a second transform reads the cache"
    os.utime(tmp_path / "img" / "3.png", ns=(1, 1))  # same content, new signature: found by its content
    f.transform(frame)
    assert len(_shards(tmp_path)) == 1
    Image.new("RGB", (20, 24), (9, 9, 9)).save(tmp_path / "img" / "3.png")  # new content: decoded again
    again = f.transform(frame)
    assert len(_shards(tmp_path)) == 2 and (_pixels(again)[3] == 9).all()
    assert not list((tmp_path / "cache").rglob("*.tmp*")), "no temporary file is left behind"

    monkeypatch.setenv(CACHE_ENV, "off")
    off = f.transform(frame)
    assert off.rows.entries is None and torch.equal(_pixels(off), _pixels(again)), "the cache changes no pixel"


def _fill(cache: str, root: str) -> bytes:
    os.environ["MODALYZE_CACHE"] = cache
    frame = pd.DataFrame({"path": [f"img/{i}.png" for i in range(12)]})
    f = create_featurizer("image", ["path"], base_dir=root, size=16)
    return _pixels(f.transform(frame)).numpy().tobytes()


def test_concurrent_processes_fill_the_cache_safely(tmp_path):
    _images(tmp_path)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(_fill, [(str(tmp_path / "cache"), str(tmp_path))] * 3)
    assert len(set(results)) == 1, "every process reads the same pixels"
    assert 1 <= len(_shards(tmp_path)) <= 3
    assert _fill(str(tmp_path / "cache"), str(tmp_path)) == results[0], "and a later process reads them back"


def test_worker_processes_give_the_same_batches(tmp_path, tiny_spec):
    spec, table = load_dataset(str(tiny_spec))
    train = prepare(spec, table).splits["train"]
    assert train.lazy
    here = list(make_loader(train, 16, shuffle=True, seed=3, workers=0))
    there = list(make_loader(train, 16, shuffle=True, seed=3, workers=2))
    assert len(here) == len(there)
    for a, b in zip(here, there):
        assert torch.equal(a["y"], b["y"]) and torch.equal(a["x"]["image"]["pixels"], b["x"]["image"]["pixels"])


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not


def test_a_truncated_image_is_missing_or_a_one_line_error(tmp_path, monkeypatch):
    frame = _images(tmp_path)
    _truncate(tmp_path / "img" / "4.png")
    strict = create_featurizer("image", ["path"], base_dir=tmp_path, size=16)
    with pytest.raises(ModalyzeError, match=r"4.png: row 4, column 'path': image file is not a readable image"):
        strict.transform(frame)
    lenient = create_featurizer("image", ["path"], base_dir=tmp_path, size=16, unreadable="missing")
    assert lenient.transform(frame).present.tolist() == [i % 12 != 4 for i in range(24)] + [False]

    monkeypatch.setenv(CACHE_ENV, "off")  # only the header is checked: the batch that reads the file fails
    lenient.mean_, lenient.std_ = [0.5] * 3, [0.25] * 3
    feats = lenient.transform(frame)
    assert feats.present[4], "its header reads"
    data = FeaturizedDataset({"image": feats}, torch.zeros(len(frame), dtype=torch.long))
    for workers in (0, 1):
        with pytest.raises(ModalyzeError) as caught:
            list(make_loader(data, 8, shuffle=False, workers=workers))
        message = str(caught.value)
        assert "4.png: row 4, column 'path': image file cannot be decoded" in message and "\n" not in message, message


def test_audio_through_the_cache_equals_audio_without_it(tmp_path, monkeypatch):
    for i, seconds in enumerate((0.3, 0.5, 0.2)):
        t = np.arange(int(8000 * seconds)) / 8000
        soundfile.write(str(tmp_path / f"{i}.wav"), 0.3 * np.sin(2 * np.pi * (300 + 200 * i) * t), 8000)
    frame = pd.DataFrame({"clip": ["0.wav", "1.wav", "", "2.wav"]})
    f = create_featurizer("audio", ["clip"], base_dir=tmp_path, sample_rate=8000, n_fft=256, hop=128).fit(frame)
    cached = f.transform(frame).tensors
    monkeypatch.setenv(CACHE_ENV, "off")
    fresh = f.transform(frame).tensors  # shapes from the headers alone
    assert cached["mel"].shape == fresh["mel"].shape == (4, 40, 1 + 4000 // 128), "padded to the longest clip"
    assert torch.allclose(cached["mel"], fresh["mel"]) and torch.equal(cached["frames"], fresh["frames"])


def test_training_and_prediction_run_with_workers_and_without_the_cache(tiny_spec, capsys):
    for flags in (["--workers", "1"], ["--no-feature-cache", "--workers", "0"]):
        run = tiny_spec.parent / f"run{len(flags)}"
        code, out, err = run_cli(["train", str(tiny_spec), "--model", "inter", "--max-epochs", "2", "--dim", "8",
                                  "--no-progress", "--out", str(run), *flags], capsys)
        assert code == 0, err
    code, _, err = run_cli(["train", str(tiny_spec), "--workers", "many", "--out", str(tiny_spec.parent / "x")], capsys)
    assert code == 2 and "option --workers='many'" in err and err.count("\n") == 1, err


def test_configure_checks_and_passes_settings_to_worker_processes(monkeypatch):
    configure(workers=3, feature_cache=False)
    assert os.environ[WORKERS_ENV] == "3" and os.environ[CACHE_ENV] == "off" and resolve_workers() == 3
    with pytest.raises(ModalyzeError, match="option workers"):
        configure(workers=-2)
    monkeypatch.setenv(WORKERS_ENV, "auto")
    assert resolve_workers() == min(4, (os.cpu_count() or 1) // 4)


def test_sources_read_only_the_columns_the_spec_names(tmp_path):
    spec_path = write_images_dataset(tmp_path, rows=40)
    frame = pd.read_csv(tmp_path / "data.csv")
    frame["blob"] = ["x" * 1000] * len(frame)  # a wide column no modality names
    (tmp_path / "parts").mkdir()
    for i, part in enumerate([frame.iloc[:13], frame.iloc[13:27], frame.iloc[27:]]):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), tmp_path / "parts" / f"{i}.parquet")
        part.to_csv(tmp_path / "parts" / f"{i}.csv", index=False)
    raw = yaml.safe_load(spec_path.read_text())
    for source in ("parts", "parts/*.parquet", "parts/*.csv"):
        spec_path.write_text(yaml.safe_dump({**raw, "source": source}))
        spec, table = load_dataset(str(spec_path))
        assert len(table.frame) == 40 and "blob" not in table.frame.columns, source
        assert set(table.columns["patient"]) == {"age", "sex", "lab_a", "lab_b"}
    assert "blob" in read_source(tmp_path / "parts"), "without a spec every column is read"
    (tmp_path / "parts" / "2.csv").write_text("other\n1\n")
    with pytest.raises(ModalyzeError, match=r"2.csv: its columns differ from 0.csv's"):
        read_source(tmp_path / "parts" / "*.csv")
    with pytest.raises(ModalyzeError, match=r"nothing\*.csv: no source file matches"):
        read_source(tmp_path / "parts" / "nothing*.csv")


def test_a_state_round_trip_reads_the_same_rows(tmp_path):
    frame = _images(tmp_path)
    f = create_featurizer("image", ["path"], base_dir=tmp_path, size=16).fit(frame)
    again = Featurizer.from_state(f.state(), tmp_path, "error")
    assert torch.equal(_pixels(f.transform(frame)), _pixels(again.transform(frame)))


@pytest.mark.parametrize("encoder", ["cnn", "clip-frozen", "clip-tuned"])
def test_the_default_pipeline_at_224_pixels(tiny_spec, tmp_path, encoder):
    """224 px images: the small CNN, and a CLIP-style tower at its real input size, frozen (features
    cached) or fine-tuned (its pixel values made per batch, never for every row at once)."""
    from modalyze import Classifier
    from modalyze.data.pretrained import InputRows
    from tests.conftest import FAST

    raw = yaml.safe_load(tiny_spec.read_text())
    image = raw["modalities"]["image"]
    if encoder == "cnn":
        image["options"] = {"size": 224}
    else:
        transformers = pytest.importorskip("transformers")
        config = transformers.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, image_size=224, patch_size=56)
        transformers.CLIPVisionModel(config).save_pretrained(tmp_path / "clip")
        transformers.CLIPImageProcessor().save_pretrained(tmp_path / "clip")  # resize 224, centre crop 224
        image["encoder"] = {"hf": str(tmp_path / "clip"), "freeze": encoder == "clip-frozen"}
    spec_path = tiny_spec.with_name("224.yaml")
    spec_path.write_text(yaml.safe_dump(raw))
    spec, table = load_dataset(str(spec_path))
    train = prepare(spec, table).splits["train"]
    batch = train.__getitems__(list(range(4)))["x"]["image"]
    if encoder == "cnn":
        assert batch["pixels"].shape == (4, 3, 224, 224) and isinstance(train.features["image"].rows, FileRows)
    elif encoder == "clip-tuned":
        assert batch["pixel_values"].shape == (4, 3, 224, 224)
        assert isinstance(train.features["image"].rows, InputRows)
    clf = Classifier(model="inter", **FAST).fit(str(spec_path))
    assert 0 <= clf.score(pd.read_csv(tmp_path / "data.csv").head(8), base_dir=tmp_path) <= 1


def test_rows_read_into_memory_equal_the_rows_read_on_demand(tiny_spec):
    """What a Ray task on another node gets: the same batches, with no file to read."""
    spec, table = load_dataset(str(tiny_spec))
    (tiny_spec.parent / "img" / "3.png").unlink()  # absent rows stay absent
    train = prepare(spec, table, "missing").splits["train"]
    held = train.in_memory()
    assert train.lazy and not held.lazy
    rows = list(range(len(train)))
    a, b = train.__getitems__(rows), held.__getitems__(rows)
    assert torch.equal(a["present"]["image"], b["present"]["image"]) and not a["present"]["image"].all()
    assert torch.equal(a["x"]["image"]["pixels"], b["x"]["image"]["pixels"])
