"""Contrastive alignment end to end: align / retrieve / zeroshot / embed, save and load, Symile against
pairwise InfoNCE on data whose information sits only in the joint of three modalities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modalyze.aligner import Aligner
from modalyze.analysis.alignment import retrieve

from .test_bad_input import run_cli


def test_symile_retrieves_the_third_modality_where_pairwise_cannot():
    """c = a XOR b bit by bit: each pair is independent, so only the joint of a and b predicts c.
    (Measured: symile R@1 0.262, pairwise 0.016; chance 1/64.)"""
    results = {}
    for loss in ("symile", "pairwise"):
        aligner = Aligner(loss=loss, progress=False).fit("synthetic-xor3")
        results[loss] = retrieve(aligner, ["a", "b"], "c", match="c_bits")
    print("synthetic-xor3 a+b→c:", results)
    assert results["symile"]["R@1"] > 0.15 and results["symile"]["R@10"] > 0.6
    assert results["pairwise"]["R@1"] < 0.05
    assert results["symile"]["median_rank"] < results["pairwise"]["median_rank"] / 10


def test_align_command_writes_a_run_that_retrieves_embeds_and_reloads(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["align", "synthetic-redundant", "-o", "rows=600", "--loss", "siglip",
                                 "--max-epochs", "5", "--no-progress", "--out", str(out)], capsys)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["retrieval"]) == {"a→b", "b→a"} and set(metrics["gap"]) == {"a|b"}
    for r in metrics["retrieval"].values():
        assert 0 <= r["R@1"] <= r["R@5"] <= r["R@10"] <= 1 and r["median_rank"] >= 1
    page = (out / "align.html").read_text()
    assert page.count("<svg") == 2 and "siglip" in page and "modality gap a|b" in stdout

    code, stdout, err = run_cli(["retrieve", str(out), "--query", "a", "--gallery", "b", "--gap-shift", "0.5"], capsys)
    assert code == 0, err
    assert "gap shift 0.5" in stdout

    loaded = Aligner.load(out)
    prepared = loaded.training_data()
    rows = prepared.frames["test"].head(7)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code, stdout, err = run_cli(["embed", str(out), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "e.parquet")],
                                capsys)
    assert code == 0, err
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert list(table.columns) == ["a", "b"] and len(table) == 7
    np.testing.assert_allclose(np.linalg.norm(np.stack(table["a"].to_list()), axis=1), 1.0, atol=1e-5)
    direct = loaded.embed(loaded.featurize(rows))["a"]
    np.testing.assert_allclose(np.stack(table["a"].to_list()), direct, atol=1e-6)


def test_zero_shot_from_label_names_on_tiny_text(tiny_spec, tmp_path, capsys):
    frame = pd.read_csv(tmp_path / "data.csv")
    frame["tone"] = np.where(frame["label"] == "red", "warm", "cool")
    frame.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "run"
    code, _, err = run_cli(["align", str(tiny_spec), "--loss", "anchor", "--anchor", "note", "--dim", "16",
                            "--max-epochs", "20", "--word-dropout", "0.3", "--no-progress", "--out", str(out)], capsys)
    assert code == 0, err
    assert Aligner.load(out).word_dropout == 0.3
    (tmp_path / "labels.txt").write_text("warm\ncool\n")
    code, stdout, err = run_cli(["zeroshot", str(out), "--column", "tone", "--labels", str(tmp_path / "labels.txt"),
                                 "--template", "sample {} tone", "--modality", "image", "--gap-shift", "1"], capsys)
    assert code == 0, err
    assert "zero-shot tone from image: top-1" in stdout and "(gap shift 1.0)" in stdout and "over 2 classes" in stdout


@pytest.mark.parametrize("args,message", [
    (["align", "synthetic-redundant", "--loss", "symile"], "symile needs 3 or more modalities"),
    (["align", "synthetic-redundant", "--lock", "z"], "'z' is not a modality"),
    (["align", "synthetic-xor3", "--loss", "clip"], "exactly 2"),
    (["align", "synthetic-redundant", "--word-dropout", "1"], "option --word-dropout=1.0: input should be less than 1"),
])
def test_bad_alignment_options_are_one_line_errors(args, message, capsys):
    code, _, err = run_cli([*args, "--no-progress"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_a_classifier_run_is_not_an_aligner_run(tiny_spec, tmp_path, capsys):
    from modalyze import Classifier

    from .conftest import FAST

    run = Classifier(model="inter", **FAST).fit(tiny_spec).save(tmp_path / "clf")
    code, _, err = run_cli(["retrieve", str(run), "--query", "image", "--gallery", "note"], capsys)
    assert code == 2 and "this is a classifier run (modalyze train)" in err


def test_lock_freezes_a_tower_while_the_other_learns():
    import lightning as L
    import torch

    from modalyze.aligner import AlignerModel

    aligner = Aligner(loss="clip", lock=["a"], max_epochs=3, min_steps=0, progress=False).fit("synthetic-redundant",
                                                                                              rows=400)
    L.seed_everything(0, verbose=False)  # fit seeds the same way before building the model
    start = AlignerModel(aligner.config_)
    for name, p in aligner.model_.encoders["a"].state_dict().items():
        assert torch.equal(p, start.encoders["a"].state_dict()[name]), f"locked tower changed: {name}"
    moved = [not torch.equal(p, start.encoders["b"].state_dict()[n]) for n, p in aligner.model_.encoders["b"].state_dict().items()]
    assert any(moved), "the unlocked tower trains"
    assert not any(p.requires_grad for p in aligner.model_.encoders["a"].parameters())


def test_word_dropout_deletes_words_and_keeps_order_padding_and_at_least_one_word():
    import torch

    from modalyze.train.task import drop_words

    torch.manual_seed(0)
    ids = torch.zeros(2000, 6, dtype=torch.long)
    ids[:, :4] = torch.rand(2000, 48).argsort(1)[:, :4] + 2  # 4 distinct words per row, 2 padding
    ids[0] = torch.tensor([7, 0, 0, 0, 0, 0])  # one word
    ids[1] = 0  # an empty text
    assert torch.equal(drop_words(ids, 0.0), ids)
    out = drop_words(ids, 0.5)
    lengths = (out != 0).sum(1)
    assert out[1].eq(0).all() and out[0, 0] == 7, "an empty text stays empty; a lone word is never deleted"
    assert (lengths[2:] >= 1).all() and (out[:, 4:] == 0).all()
    for before, after, n in zip(ids[2:100], out[2:100], lengths[2:100]):
        assert after[n:].eq(0).all(), "kept words are moved left, padding follows"
        words = before.tolist()
        positions = [words.index(w) for w in after[:n].tolist()]
        assert positions == sorted(positions), "kept words stay in order"
    # each word survives with probability 0.5, except where all four would go (then all stay: 1/16 of rows)
    assert abs((lengths[2:].float().mean() - (2 + 4 / 16)).item()) < 0.1
