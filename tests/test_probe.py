"""modalyze probe: adapters whose use of the modalities is known get the verdict that says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modalyze.analysis.probe import conditions, map_answers, probe
from tests.conftest import FAST
from tests.test_bad_input import run_cli


def test_a_model_that_ignores_the_image_on_easy_vqa_is_found_out(tmp_path):
    result = probe("easy-vqa", ["py:tests.probe_models:question_only"], tmp_path, permutations=2, log=lambda _: None)
    [model] = result["models"]
    image = model["drops"]["shuffle:image"]
    assert abs(image["score"]) <= 0.01 and image["ci"][0] <= 0 <= image["ci"][1], image
    assert model["drops"]["shuffle:question"]["score"] > 0.3
    assert model["verdict"] == "relies on question, ignores image" and model["ignored"] == ["image"]
    assert model["unmapped"] == 0 and result["n"] == 9673
    slices = model["slices"]["question_type"]  # every question type has its own scores and verdict
    assert set(slices) == {"what-color", "what-shape", "yes/no-color", "yes/no-shape"}
    verdicts = {k: s["verdict"] for k, s in slices.items()}
    assert all("image" in s["ignored"] for s in slices.values()), verdicts
    # what colour / what shape cannot be answered from the question alone: at chance there
    assert verdicts["what-color"].startswith("uses neither") and verdicts["yes/no-shape"] == "relies on question, ignores image"


def test_random_answers_use_neither(tmp_path):
    result = probe("synthetic-mixed", ["py:tests.probe_models:random_answers"], tmp_path, permutations=2,
                   dataset_options={"rows": 600}, log=lambda _: None)
    assert result["models"][0]["category"] == "neither", result["models"][0]["verdict"]


def test_a_trained_run_uses_both_halves_and_a_half_reader_only_one(tmp_path, capsys):
    from modalyze import Classifier

    Classifier(model="inter", **{**FAST, "max_epochs": 20, "patience": 3}).fit("digits").save(tmp_path / "inter")
    out = tmp_path / "probe"
    code, stdout, err = run_cli(["probe", "digits", "--model", f"run:{tmp_path / 'inter'}", "--model",
                                 "py:tests.probe_models:top_half_only", "--permutations", "2", "--out", str(out)], capsys)
    assert code == 0, err
    result = json.loads((out / "probe.json").read_text())
    run, half = result["models"]
    assert run["verdict"] == "uses both", run["drops"]
    assert run["drops"]["shuffle:top"]["score"] > 0.2 and run["drops"]["shuffle:bottom"]["score"] > 0.2
    assert "remove:top" in run["scores"] and "remove:top" not in half["scores"]  # only a run accepts missing inputs
    assert half["verdict"] == "relies on top, ignores bottom"
    assert "uses both" in stdout and (out / "probe.html").exists()
    # a rerun asks the models nothing: every answer is cached on disk
    cached = sorted(p.stat().st_mtime_ns for p in (out / "cache").rglob("*.npy"))
    code, _, err = run_cli(["probe", "digits", "--model", f"run:{tmp_path / 'inter'}", "--model",
                            "py:tests.probe_models:top_half_only", "--permutations", "2", "--out", str(out)], capsys)
    assert code == 0, err
    assert sorted(p.stat().st_mtime_ns for p in (out / "cache").rglob("*.npy")) == cached


def test_the_probe_reads_a_profile_and_says_what_the_model_misses(tmp_path):
    from modalyze.analysis import analyze

    profile = analyze("digits", progress=False, log=lambda _: None).to_dict()
    result = probe("digits", ["py:tests.probe_models:top_half_only"], tmp_path, profile=profile, permutations=2,
                   log=lambda _: None)
    notes = result["models"][0]["against_profile"]
    assert any("ignores bottom" in n for n in notes), notes


@pytest.mark.parametrize("adapter, message", [
    ("py:tests.probe_models:wrong_shape", r"returned an array of shape \(\d+, 2, 2\)"),
    ("py:tests.probe_models:raises", "raised RuntimeError: the model server is down"),
    ("py:tests.no_such_module:f", "cannot import tests.no_such_module"),
    ("py:tests.probe_models:missing", "has no function 'missing'"),
    ("hub:bert", "unknown model adapter 'hub'"),
    ("run:/nonexistent/run", "model run:/nonexistent/run:"),
])
def test_bad_adapters_are_one_line_errors_naming_them(adapter, message, tmp_path, capsys):
    code, _, err = run_cli(["probe", "synthetic-mixed", "-o", "rows=300", "--model", adapter,
                            "--out", str(tmp_path / "p")], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert pytest.importorskip("re").search(message, err), err


def test_answers_map_onto_the_labels_and_unmapped_ones_are_counted():
    classes = ["red", "blue", "circle"]
    index = map_answers(np.array(["Red", " blue ", "circel", "a teapot"]), classes, "m")
    assert index.tolist() == [0, 1, 2, -1]
    assert map_answers(np.eye(3), classes, "m").tolist() == [0, 1, 2]


def test_write_conditions_and_a_predictions_file_round_trip(tmp_path, capsys):
    folder = tmp_path / "conditions"
    code, _, err = run_cli(["probe", "synthetic-mixed", "-o", "rows=300", "--write-conditions", str(folder),
                            "--permutations", "1"], capsys)
    assert code == 0, err
    names = [c.name for c in conditions(["a", "b"], 1, True)]
    assert sorted(p.stem for p in folder.glob("*.csv")) == sorted([*(n.replace(":", "-").replace("#", "-") for n in names),
                                                                   "predictions"])
    # the "API model" answers the constant label 0 under every condition
    n = len(pd.read_csv(folder / "normal.csv"))
    pd.DataFrame({name: [0] * n for name in names}).to_csv(tmp_path / "preds.csv", index=False)
    result = probe("synthetic-mixed", [f"preds:{tmp_path / 'preds.csv'}"], tmp_path / "out", permutations=1,
                   dataset_options={"rows": 300}, log=lambda _: None)
    assert result["models"][0]["category"] == "neither"
    shuffled = pd.read_csv(folder / "shuffle-a-0.csv")
    normal = pd.read_csv(folder / "normal.csv")
    a_cols = [c for c in normal.columns if c.startswith("a_")]
    assert not normal[a_cols].equals(shuffled[a_cols]) and normal.drop(columns=a_cols).equals(shuffled.drop(columns=a_cols))
    assert sorted(map(tuple, normal[a_cols].to_numpy())) == sorted(map(tuple, shuffled[a_cols].to_numpy()))


def test_hostile_model_names_are_escaped_in_the_page(tmp_path):
    from modalyze.report.html import render_probe

    result = probe("synthetic-mixed", ["py:tests.probe_models:random_answers"], tmp_path, permutations=1,
                   dataset_options={"rows": 300}, log=lambda _: None)
    result["models"][0]["model"] = "<script>alert(1)</script>"
    result["dataset"] = "<b>x</b>"
    page = render_probe(result)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page
    assert Path(tmp_path).exists()


def _tiny_llava(root: Path) -> Path:
    """A randomly initialised LLaVA-style vision-language model (CLIP tower, Llama decoder), saved locally."""
    transformers = pytest.importorskip("transformers")
    import torch

    path = root / "tiny-llava"
    path.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "sample", "warm", "cool", "tone", "red", "blue",
             *map(str, range(80))]
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    vision = transformers.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=16, patch_size=8)
    text = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                                    pad_token_id=0, bos_token_id=2, eos_token_id=3)
    torch.manual_seed(0)
    config = transformers.LlavaConfig(vision_config=vision, text_config=text, image_seq_length=4,
                                      image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                                      vision_feature_layer=-1, projector_hidden_act="gelu")
    transformers.LlavaForConditionalGeneration(config).save_pretrained(path)
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    transformers.LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                vision_feature_select_strategy="full", image_token="<image>").save_pretrained(path)
    return path


def test_a_local_vision_language_model_is_prompted_and_its_answers_mapped(tiny_spec, tmp_path, capsys):
    model = _tiny_llava(tmp_path)
    out = tmp_path / "probe"
    code, stdout, err = run_cli(["probe", str(tiny_spec), "--model", f"hf:{model}", "--prompt", "<image> {note} tone",
                                 "--split", "all", "--batch-size", "32", "--permutations", "1", "--out", str(out)], capsys)
    assert code == 0, err
    [result] = json.loads((out / "probe.json").read_text())["models"]
    n_conditions = 1 + 4 * 1  # normal; one permutation of image, note, patient and all (no remove: free text)
    assert result["n"] == 80 and len(result["scores"]) == n_conditions
    assert 0 <= result["unmapped"] <= 80 * n_conditions  # a random model's answers: counted, never dropped
    assert len(list((out / "cache").rglob("*.npy"))) == n_conditions * 3  # 80 rows in batches of 32
    code, _, err = run_cli(["probe", str(tiny_spec), "--model", f"hf:{model}", "--prompt", "{nope}",
                            "--out", str(tmp_path / "p2")], capsys)
    assert code == 2 and "prompt names {nope}" in err, err
    code, _, err = run_cli(["probe", str(tiny_spec), "--model", f"hf:{tmp_path}", "--prompt", "x",
                            "--out", str(tmp_path / "p3")], capsys)
    assert code == 2 and "is not a Hugging Face model directory" in err, err


def test_a_summary_of_some_rows_reads_only_those_rows():
    from modalyze.analysis.probe import summarize

    y = np.arange(40) % 2  # chance 0.5
    hits = {"normal": np.ones((1, 40), bool), "shuffle:a": np.zeros((1, 40), bool),
            "shuffle:b": np.ones((1, 40), bool), "shuffle:all": np.zeros((1, 40), bool)}
    hits["shuffle:b"][0, 20:] = False  # b matters only in the second half of the rows
    first, second = (summarize(hits, y, rows, ["a", "b"], 200, 0) for rows in (np.arange(20), np.arange(20, 40)))
    assert first["n"] == 20 and first["verdict"] == "relies on a, ignores b" and second["verdict"] == "uses both"


@pytest.mark.slow
def test_an_inter_run_on_easy_vqa_uses_both(tmp_path):
    """The issue's measured case (also benchmarks/probe_easy_vqa.py): an inter expert trained with the fast budget."""
    from modalyze import Classifier
    from modalyze.settings import BUDGETS

    plan = BUDGETS["fast"]
    run = Classifier(model="inter", max_epochs=plan.max_epochs, patience=plan.patience, min_steps=plan.min_steps,
                     progress=False).fit("easy-vqa").save(tmp_path / "inter")
    [model] = probe("easy-vqa", [f"run:{run}"], tmp_path / "probe", log=lambda _: None)["models"]
    assert model["verdict"] == "uses both"
    assert model["scores"]["shuffle:image"]["score"] <= 0.70 and model["scores"]["shuffle:question"]["score"] <= 0.50


def test_an_align_run_is_probed_zero_shot_through_its_text_modality(tiny_spec, tmp_path, capsys):
    """The note names the label ('red disc'); zero-shot with the prompt '{} disc' reads it, so
    shuffling the note across rows must cost the zero-shot classifier most of its accuracy."""
    import yaml

    from modalyze import Aligner

    frame = pd.read_csv(tmp_path / "data.csv")
    frame["note"] = frame["label"] + " disc"
    frame.to_csv(tmp_path / "data.csv", index=False)
    raw = yaml.safe_load(tiny_spec.read_text())
    raw["modalities"] = {m: raw["modalities"][m] for m in ("image", "note")}
    tiny_spec.write_text(yaml.safe_dump(raw))
    Aligner(loss="clip", max_epochs=3, min_steps=0, progress=False).fit(str(tiny_spec)).save(tmp_path / "aligned")
    out = tmp_path / "probe"
    code, stdout, err = run_cli(["probe", str(tiny_spec), "--model", f"run:{tmp_path / 'aligned'}", "--prompt", "{} disc",
                                 "--permutations", "2", "--split", "all", "--out", str(out)], capsys)
    assert code == 0, err
    [model] = json.loads((out / "probe.json").read_text())["models"]
    assert model["scores"]["normal"]["score"] >= 0.9, model["scores"]
    assert model["drops"]["shuffle:note"]["score"] > 0.3, model["drops"]
    assert "note" in model["verdict"] or model["verdict"] == "uses both", model["verdict"]
    code, _, err = run_cli(["probe", str(tiny_spec), "--model", f"run:{tmp_path / 'aligned'}", "--prompt", "no label",
                            "--out", str(out)], capsys)
    assert code == 2 and "needs a {} where the label goes" in err and err.count("\n") == 1, err


def test_the_order_condition_rewrites_clips_in_the_output_folder_and_takes_away_only_the_motion(tmp_path, capsys):
    """A model that reads colour from any frame and direction from the first and last: with each clip's
    frames in a random order it keeps every colour answer and loses the direction (near chance)."""
    out = tmp_path / "probe"
    result = probe("moving-shapes", ["py:tests.probe_models:motion_reader"], out, permutations=1, split="all",
                   dataset_options={"rows": 150}, log=lambda _: None)
    assert "order:clip" in result["conditions"] and "order:question" not in result["conditions"]
    model = result["models"][0]
    by_type = model["slices"]["question_type"]
    assert {t: s["scores"]["normal"]["score"] for t, s in by_type.items()} == {"colour": 1.0, "direction": 1.0, "both": 1.0}
    assert by_type["colour"]["scores"]["order:clip"]["score"] == 1.0
    assert by_type["direction"]["scores"]["order:clip"]["score"] <= 0.75 and model["drops"]["order:clip"]["score"] > 0.1
    written = sorted((out / "conditions" / "order-clip").iterdir())
    assert len(written) == 150 and all(p.suffix == ".mp4" for p in written)
    again = probe("moving-shapes", ["py:tests.probe_models:motion_reader"], out, permutations=1, split="all",
                  dataset_options={"rows": 150}, log=lambda _: None)  # a rerun reuses the files and the answers
    assert again["models"][0]["scores"] == model["scores"]
    code, printed, err = run_cli(["probe", "moving-shapes", "--option", "rows=60", "--split", "all", "--permutations", "1",
                                  "--write-conditions", str(tmp_path / "c")], capsys)
    assert code == 0, err
    shuffled = pd.read_csv(tmp_path / "c" / "order-clip.csv")["clip"]
    assert all(Path(p).is_relative_to(tmp_path / "c") and Path(p).exists() for p in shuffled)


def test_the_order_condition_of_time_series_cells_keeps_each_rows_values():
    from modalyze.kind import get_kind

    reorder = get_kind("timeseries").reorder
    one = pd.DataFrame({"s": ["1 2 3 4 5 6", "[[1, 10], [2, 20], [3, 30]]", None]})
    moved = reorder(one, Path("."), Path("unused"), 0)["s"]
    assert sorted(json.loads(moved[0])) == [1, 2, 3, 4, 5, 6] and json.loads(moved[0]) != [1, 2, 3, 4, 5, 6]
    assert sorted(map(tuple, json.loads(moved[1]))) == [(1, 10), (2, 20), (3, 30)] and pd.isna(moved[2])
    steps = pd.DataFrame({"t0": [1.0, 5.0], "t1": [2.0, None], "t2": [3.0, 7.0], "t3": [4.0, None]})
    moved = reorder(steps, Path("."), Path("unused"), 0)
    assert sorted(moved.iloc[0]) == [1, 2, 3, 4] and moved.iloc[1].isna().tolist() == [False, True, False, True]
