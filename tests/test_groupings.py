"""Views (channels, patches) expand one column into several modalities; --groupings studies
alternative groupings side by side and recommends one."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from modalyze.data import load_dataset
from modalyze.data.prepare import prepare
from modalyze.errors import ModalyzeError
from modalyze.spec import parse_modalities

from .test_bad_input import run_cli


def test_channel_and_patch_views_extract_their_part(tiny_spec):
    raw = yaml.safe_load(tiny_spec.read_text())
    raw["modalities"] = {"rgb": {"kind": "image", "column": "path", "options": {"size": 16}, "view": "channels"},
                         "quad": {"kind": "image", "column": "path", "options": {"size": 16}, "view": {"patches": 2}}}
    path = tiny_spec.with_name("views.yaml")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    spec, table = load_dataset(str(path))
    assert list(spec.modalities) == ["rgb_r", "rgb_g", "rgb_b", "quad_p00", "quad_p01", "quad_p10", "quad_p11"]
    prepared = prepare(spec, table)
    rows = torch.arange(4)
    red = prepared.splits["train"].features["rgb_r"].take(rows)["pixels"]  # [4, 3, 16, 16]
    assert torch.equal(red[:, 0], red[:, 1]) and torch.equal(red[:, 0], red[:, 2]), "one channel, shown as grey"
    blue = prepared.splits["train"].features["rgb_b"].take(rows)["pixels"]
    assert not torch.equal(red, blue)
    patch = prepared.splits["train"].features["quad_p10"].take(rows)["pixels"]
    assert patch.shape == (4, 3, 8, 8) and prepared.featurizers["quad_p10"].spec_info["size"] == 8


@pytest.mark.parametrize("view,message", [("pixels", "'view' must be 'channels' or {patches: N}"),
                                          ({"patches": 9}, "'view' must be")])
def test_bad_views_are_clear_errors(view, message):
    with pytest.raises(ModalyzeError, match=message):
        parse_modalities({"x": {"kind": "image", "column": "p", "view": view}}, "g.yaml")
    with pytest.raises(ModalyzeError, match="'view' applies to image modalities"):
        parse_modalities({"x": {"kind": "text", "column": "p", "view": "channels"}}, "g.yaml")


def test_groupings_study_each_grouping_and_recommend_one(tiny_spec, tmp_path, capsys, tiny_budget):
    groupings = tmp_path / "groupings.yaml"
    groupings.write_text(yaml.safe_dump({"groupings": {"channels": {
        "image": {"kind": "image", "column": "path", "options": {"size": 16}, "view": "channels"},
        "note": {"kind": "text", "column": "note"},
    }}}))
    out = tmp_path / "g"
    code, stdout, err = run_cli(["analyze", str(tiny_spec), "--groupings", str(groupings), "--dim", "16",
                                 "--budget", "tiny", "--no-progress", "--out", str(out)], capsys)
    assert code == 0, err
    result = json.loads((out / "groupings.json").read_text())
    assert list(result["profiles"]) == ["declared", "channels"]
    assert list(result["profiles"]["channels"]["intra"]) == ["image_r", "image_g", "image_b", "note"]
    assert result["recommended"] in result["profiles"] and result["reason"]
    for name in ("declared", "channels"):
        assert (out / name / "report.html").exists() and (out / name / "profile.json").exists()
        assert f"grouping {name}: verdict" in stdout
    assert "recommended grouping" in stdout
    assert "image_g" in (out / "groupings.html").read_text()

    groupings.write_text("groupings: {declared: {}}")
    code, _, err = run_cli(["analyze", str(tiny_spec), "--groupings", str(groupings), "--out", str(out)], capsys)
    assert code == 2 and "reserved" in err
