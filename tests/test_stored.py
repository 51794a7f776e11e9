"""Data as it is stored: a Hugging Face dataset (saved to disk, as parquet, as an object) and bytes
cells read as the same table as PNG files beside a CSV, and give the same profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modalyze.data.stored import arrow_frame, read_saved_dataset
from modalyze.errors import ModalyzeError
from tests.test_bad_input import run_cli

datasets = pytest.importorskip("datasets")
Image = pytest.importorskip("PIL.Image")

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def shapes(rows: int, seed: int = 0) -> tuple[list, list[str], list[str]]:
    """Images whose colour is the label in 80% of rows (else random), and a note that names the label
    in a third of the rows."""
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    labels = [names[i] for i in rng.integers(0, 3, rows)]
    shown = [lab if rng.random() < 0.8 else names[rng.integers(0, 3)] for lab in labels]
    images = []
    for colour in shown:
        pixels = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 25, (16, 16, 3)), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
    notes = [f"it is {lab} surely" if rng.random() < 1 / 3 else "no idea at all" for lab in labels]
    return images, notes, labels


def hf_dataset(rows: int):
    images, notes, labels = shapes(rows)
    features = datasets.Features({"photo": datasets.Image(), "note": datasets.Value("string"),
                                  "colour": datasets.ClassLabel(names=list(COLOURS))})
    return datasets.Dataset.from_dict({"photo": images, "note": notes, "colour": [list(COLOURS).index(c) for c in labels]},
                                      features=features)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("stored")
    ds = hf_dataset(1000)
    ds.save_to_disk(str(root / "saved"))
    ds.to_parquet(str(root / "shapes.parquet"))
    images, notes, labels = shapes(1000)
    (root / "files").mkdir()
    for i, image in enumerate(images):
        image.save(root / "files" / f"{i}.png")
    pd.DataFrame({"photo": [f"{i}.png" for i in range(1000)], "note": notes, "colour": labels}).to_csv(
        root / "files" / "shapes.csv", index=False)
    write_shards(root / "shards", images, notes, labels, per_shard=400)
    return root, ds


def write_shards(folder: Path, images: list, notes: list[str], labels: list[str], per_shard: int) -> None:
    """WebDataset shards as its writer makes them: ``<key>.photo.png``, ``<key>.note.txt``, ``<key>.colour.cls``."""
    import io
    import tarfile

    folder.mkdir(parents=True)
    for start in range(0, len(images), per_shard):
        with tarfile.open(folder / f"shapes-{start // per_shard:03d}.tar", "w") as tar:
            for i in range(start, min(start + per_shard, len(images))):
                png = io.BytesIO()
                images[i].save(png, format="PNG")
                for field, data in (("photo.png", png.getvalue()), ("note.txt", notes[i].encode()),
                                    ("colour.cls", labels[i].encode())):
                    info = tarfile.TarInfo(f"{i:06d}.{field}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def test_a_saved_dataset_parquet_shards_and_a_datasets_object_read_as_one_table(stored):
    root, ds = stored
    from modalyze.data.stored import frame_of_datasets
    from modalyze.data.table import read_source

    csv = pd.read_csv(root / "files" / "shapes.csv")
    for frame in (read_source(root / "saved"), read_source(root / "shapes.parquet"), frame_of_datasets(ds)):
        assert frame["colour"].tolist() == csv["colour"].tolist()  # class labels by name
        assert frame["note"].tolist() == csv["note"].tolist()
        pixels = [np.asarray(Image.open(p)) for p in frame["photo"].head(5)]
        assert all(np.array_equal(a, np.asarray(Image.open(root / "files" / f))) for a, f in zip(pixels, csv["photo"]))
        assert all(Path(p).name.split(".")[0] for p in frame["photo"])  # content-addressed files
    from modalyze.data import load_dataset

    spec, table = load_dataset(ds, target="colour")  # a datasets object wherever a DataFrame goes
    assert {m: s.kind for m, s in spec.modalities.items()} == {"photo": "image", "text": "text"} and len(table.frame) == 1000
    a, b = read_source(root / "saved")["photo"][0], read_source(root / "shapes.parquet")["photo"][0]
    assert a == b  # the same bytes are one stored file, whichever container they came in


def test_a_dataset_dict_keeps_its_splits(tmp_path):
    ds = hf_dataset(60)
    datasets.DatasetDict({"train": ds.select(range(40)), "validation": ds.select(range(40, 50)),
                          "test": ds.select(range(50, 60))}).save_to_disk(str(tmp_path / "dd"))
    frame = read_saved_dataset(tmp_path / "dd")
    assert frame["split"].value_counts().to_dict() == {"train": 40, "val": 10, "test": 10}
    datasets.DatasetDict({"train": ds, "holdout": ds}).save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(ModalyzeError, match="split 'holdout'"):
        read_saved_dataset(tmp_path / "odd")


def test_bytes_columns_become_files_by_their_signature(tmp_path):
    import io

    import pyarrow as pa

    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    frame = arrow_frame(pa.table({"raw": [png.getvalue(), None], "y": [1, 2]}))
    assert frame["raw"][0].endswith(".png") and Path(frame["raw"][0]).read_bytes() == png.getvalue()
    assert pd.isna(frame["raw"][1])  # an empty cell stays empty


def test_the_stored_formats_give_the_profile_of_files_and_a_csv(stored, capsys):
    root, _ = stored
    profiles = {}
    for name, data in (("saved", root / "saved"), ("parquet", root / "shapes.parquet"), ("csv", root / "files" / "shapes.csv"),
                       ("shards", root / "shards" / "shapes-{000..002}.tar")):
        code, out, err = run_cli(["analyze", str(data), "--target", "colour", "--budget", "quick", "--no-progress",
                                  "--out", str(root / f"report-{name}")], capsys)
        assert code == 0, (name, err)
        profiles[name] = json.loads((root / f"report-{name}" / "profile.json").read_text())
    reference = profiles["csv"]
    assert reference["config"]["modalities"] == {"photo": "image", "text": "text"}
    for name, profile in profiles.items():
        assert profile["config"]["modalities"] == reference["config"]["modalities"], name
        assert profile["verdict"] == reference["verdict"], name
        for m in ("photo", "text"):
            assert abs(profile["intra"][m]["score"] - reference["intra"][m]["score"]) < 0.03, (name, m)
    assert reference["intra"]["photo"]["score"] > 0.7  # the colour is in the image


def test_webdataset_shards_read_as_the_table_of_files_without_extracting(stored):
    from modalyze.data.table import read_source
    from modalyze.kinds.image import open_rgb

    root, _ = stored
    files = read_source(root / "files" / "shapes.csv")
    for pattern in ("shapes-{000..002}.tar", "shapes-*.tar"):
        shards = read_source(root / "shards" / pattern)
        assert list(shards.columns) == ["__key__", "photo", "note", "colour"] and len(shards) == 1000
        assert shards["note"].tolist() == files["note"].tolist() and shards["colour"].tolist() == files["colour"].tolist()
    assert not any(p.suffix == ".png" for p in (root / "shards").rglob("*")), "nothing is extracted"
    for i in (0, 401, 999):  # a member's pixels, read in place, are the file's
        assert np.array_equal(np.asarray(open_rgb(Path(shards["photo"][i]))),
                              np.asarray(open_rgb(root / "files" / files["photo"][i])))


def test_align_trains_on_shards_and_a_broken_shard_is_one_line(stored, tmp_path, capsys):
    root, _ = stored
    out = tmp_path / "align"
    code, stdout, err = run_cli(["align", str(root / "shards" / "shapes-*.tar"), "--target", "colour", "--max-epochs", "2",
                                 "--no-progress", "--out", str(out)], capsys)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["retrieval"]) == {"photo→text", "text→photo"}
    broken = tmp_path / "broken.tar"
    broken.write_bytes((root / "shards" / "shapes-000.tar").read_bytes()[:5000])
    code, _, err = run_cli(["analyze", str(broken), "--target", "colour", "--no-progress"], capsys)
    assert code == 2 and str(broken) in err and len(err.strip().splitlines()) == 1, err


def test_a_parquet_column_of_image_bytes_runs_through_analyze_train_and_predict(tmp_path, capsys):
    import io

    images, notes, labels = shapes(150, seed=1)

    def png(image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    parts = ["train"] * 80 + ["val"] * 20 + ["test"] * 20 + [""] * 30  # one split: no cross-validation
    table = pd.DataFrame({"photo": [png(i) for i in images], "note": notes, "colour": labels, "part": parts})
    table.iloc[:120].to_parquet(tmp_path / "train.parquet")
    table.iloc[120:].drop(columns=["colour", "part"]).to_parquet(tmp_path / "new.parquet")
    code, _, err = run_cli(["analyze", str(tmp_path / "train.parquet"), "--target", "colour", "--split-column", "part",
                              "--budget", "quick",
                              "--no-progress", "--out", str(tmp_path / "report")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "report" / "profile.json").read_text())["config"]["modalities"]["photo"] == "image"
    code, _, err = run_cli(["train", str(tmp_path / "train.parquet"), "--target", "colour", "--split-column", "part",
                              "--model", "i2m2",
                              "--max-epochs", "1", "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    code, _, err = run_cli(["predict", str(tmp_path / "run"), str(tmp_path / "new.parquet"),
                              "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 0, err
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 30
    assert predicted["prediction"].isin(list(COLOURS)).all()
    assert (predicted["modalities_used"].str.contains("photo")).all()
