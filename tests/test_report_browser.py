"""The report in a real headless Chromium: it renders, shows its charts, logs no console errors and
makes no network requests. Also checks that user strings are escaped."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from modalyze.report.html import write_report, write_robustness_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="Chromium not installed (CI installs it and runs this test)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> dict:
    from modalyze.analysis import analyze

    p = analyze("synthetic-mixed", progress=False, log=lambda _: None, dataset_options={"rows": 1500}).to_dict()
    p["dataset"] = "<script>alert('x')</script>"  # a hostile dataset name must be shown, not run
    p["slices"] = {"group<b>": {"v&1": {**{k: p[k] for k in ("chance", "intra", "additive", "inter", "i2m2", "interaction")},
                                         "n": 10, "verdict": "both", "reason": "x"},
                                "$tiny$": {"n": 3, "few_rows": True}}}
    p["confusion"]["classes"] = ["<i>zero</i>", *p["confusion"]["classes"][1:]]  # a hostile class name
    return p


def _load(path: Path, check) -> None:
    """Open ``path`` in headless Chromium, run ``check(page)``; assert one request and no console errors."""
    from playwright.sync_api import sync_playwright

    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("networkidle")
        check(page)
        assert page.locator("script").count() == 0
        browser.close()
    assert requests == [path.as_uri()], f"network requests: {requests}"
    assert errors == [], errors


def _chart_drawn(page, chart: str) -> None:
    box = page.locator(f"{chart} svg").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 80, chart


def test_report_renders_offline_without_errors(profile, tmp_path):
    def check(page):
        assert page.inner_text("#verdict") == profile["verdict"]
        assert profile["reason"][:40] in page.inner_text("#reason")
        for chart in ("#chart-scores", "#chart-shuffle", "#chart-pid-1", "#chart-curves", "#chart-robustness-1",
                      "#chart-robustness-2"):
            _chart_drawn(page, chart)
        assert page.locator("#chart-scores svg rect, #chart-scores svg path").count() > 10, "bars are drawn"
        assert "<script>alert('x')</script>" in page.inner_text("h1"), "user strings appear as text"
        assert "group<b> = v&1" in page.inner_text("#slices")
        assert page.locator("#missing tr").count() == 1 + 3, "header + every subset of the two modalities"
        assert "gaussian-noise" in page.inner_text("#robustness-summary")
        assert "synergy" in page.inner_text("#glossary") and "perceptual score" in page.inner_text("#glossary")
        from modalyze.analysis.verdict import NEXT_STEPS

        assert NEXT_STEPS[profile["verdict"]][:40] in page.inner_text("#next-steps")
        assert page.locator("#confusion tr").count() == 1 + len(profile["classes"])
        assert "<i>zero</i>" in page.inner_text("#confusion"), "class names appear as text"
        assert "too few test rows" in page.inner_text("#slices") and "$tiny$" in page.inner_text("#slices")
        assert page.locator("figcaption").count() >= 4, "a sentence under each chart"
        shot = Path(os.environ.get("MODALYZE_SCREENSHOT", tmp_path / "report.png"))
        page.screenshot(path=str(shot), full_page=True)

    _load(write_report(profile, tmp_path), check)
    assert json.dumps(profile)  # the profile itself stays JSON


def test_robustness_page_renders_offline_without_errors(profile, tmp_path):
    result = {**profile["robustness"], "run": "runs/<i>x</i>", "dataset": profile["dataset"], "model": "i2m2",
              "metric": "accuracy"}

    def check(page):
        assert "<script>alert('x')</script>" in page.inner_text("h1")
        assert "runs/<i>x</i>" in page.inner_text("body")
        _chart_drawn(page, "#chart-robustness-1")
        assert page.locator("#missing tr").count() == 4

    _load(write_robustness_report(result, tmp_path), check)


def test_compare_groupings_and_align_pages_render_offline(profile, tmp_path):
    import numpy as np

    from modalyze.report.html import write_align_report, write_compare_report, write_groupings_report

    rows = [{"fusion": f, "model": m, "score": 0.9, "ci": [0.88, 0.92], "params": 1000, "train_time_s": 3.0,
             "latency_ms_per_row": 0.1, "train_memory_mb": 12.0} for f in ("late", "<b>x</b>") for m in ("inter", "i2m2")]
    compare = {"dataset": profile["dataset"], "metric": "accuracy", "n_test": 10, "budget": "fast", "seed": 0,
               "dim": 16, "rows": rows, "versions": {}}
    groupings = {"dataset": profile["dataset"], "profiles": {"declared": profile, "<i>alt</i>": profile},
                 "recommended": "declared", "reason": "r<script>"}
    metrics = {"dataset": profile["dataset"], "loss": "clip", "modalities": ["a", "b"], "lock": [], "n_test_pairs": 4,
               "retrieval": {"a→b": {"R@1": 0.5, "R@5": 1.0, "R@10": 1.0, "median_rank": 1.5, "mean_rank": 1.5}},
               "gap": {"a|b": {"centroid_distance": 0.3, "separability": 0.9}}, "train_time_s": 1.0, "epochs": 2,
               "logit_scale": 14.0}
    history = {"epochs": [{"epoch": 0, "train_loss": 2.0, "val_loss": 2.1, "logit_scale": 14.2},
                          {"epoch": 1, "train_loss": 1.5, "val_loss": 1.7, "logit_scale": 14.4}]}
    rng = np.random.default_rng(0)
    pages = {
        write_compare_report(compare, tmp_path / "c"): ("#chart-compare", "#compare", "<b>x</b>"),
        write_groupings_report(groupings, tmp_path / "g"): (None, "#groupings", "<i>alt</i>"),
        write_align_report(metrics, history, {"a": rng.normal(size=(20, 4)), "b": rng.normal(size=(20, 4))},
                           tmp_path / "a"): ("#chart-projection", "#retrieval", "a→b"),
    }
    for path, (chart, table, text) in pages.items():
        def check(page, chart=chart, table=table, text=text):
            if chart:
                _chart_drawn(page, chart)
            assert text in page.inner_text(table), "user strings appear as text"
            assert "<script>alert('x')</script>" in page.inner_text("h1")

        _load(path, check)


def test_benchmark_map_renders_offline_with_names_escaped(profile, tmp_path, capsys):
    from modalyze.analysis.benchmark_map import map_point
    from tests.test_bad_input import run_cli

    point = map_point("x", profile)  # the documented formulas
    chance, joint = profile["chance"], max(profile["inter"]["score"], profile["i2m2"]["score"])
    best = max(s["score"] for s in profile["intra"].values())
    assert abs(point["intra"]["score"] - (best - chance) / (joint - chance)) < 1e-9
    assert abs(point["inter"]["score"] - profile["interaction"]["score"] / (joint - chance)) < 1e-9
    paths = []
    for name in ("<script>alert('x')</script>", "$second$ & <b>co</b>"):
        (tmp_path / str(len(paths))).mkdir()
        paths.append(tmp_path / str(len(paths)) / "profile.json")
        paths[-1].write_text(json.dumps({**profile, "dataset": name}))
    code, out, err = run_cli(["map", *map(str, paths), "--slices", "--out", str(tmp_path / "map.html")], capsys)
    assert code == 0, err

    def check(page):
        _chart_drawn(page, "#chart-map")
        assert page.locator("#map tr").count() == 1 + 2 + 2  # header, two datasets, one scored slice each
        assert "$second$ & <b>co</b>" in page.inner_text("#map"), "user strings appear as text"
        assert "group<b>=v&1" in page.inner_text("#map")

    _load(tmp_path / "map.html", check)


def test_many_classes_list_the_worst_recalls_instead_of_the_matrix(profile):
    from modalyze.report.html import MAX_MATRIX_CLASSES, render_profile

    n = MAX_MATRIX_CLASSES + 5
    matrix = [[10 if i == j else 0 for j in range(n)] for i in range(n)]
    matrix[3] = [0] * n
    matrix[3][7] = 10  # every row of class c3 is predicted as c7
    page = render_profile({**profile, "confusion": {"model": "inter", "classes": [f"c{i}" for i in range(n)],
                                                    "matrix": matrix}})
    table = page[page.index('id="confusion"'):page.index("</table>", page.index('id="confusion"'))]
    assert table.count("<tr>") == 1 + min(n, 30)
    assert "<tr><td>c3</td><td>10</td><td>0.000</td><td class=\"left\">c7</td></tr>" in table


def test_probe_page_compares_models_offline_with_names_escaped(profile, tmp_path, capsys):
    """`modalyze probe` with a trained run and a callable: one page, models side by side, names escaped."""
    from modalyze import Classifier
    from tests.test_bad_input import run_cli

    run = Classifier(model="inter", max_epochs=5, dim=16, progress=False).fit("synthetic-mixed", rows=600)
    run.save(tmp_path / "run<b>")  # a hostile folder name reaches the page as the model's name
    profile_path = tmp_path / "profile.json"
    profile_path.write_text(json.dumps(profile))
    out = tmp_path / "probe"
    code, _, err = run_cli(["probe", "synthetic-mixed", "-o", "rows=600", "--model", f"run:{tmp_path / 'run<b>'}",
                            "--model", "py:tests.probe_models:random_answers", "--permutations", "1",
                            "--profile", str(profile_path), "--out", str(out)], capsys)
    assert code == 0, err

    def check(page):
        assert page.locator("#verdicts tr").count() == 1 + 2
        assert "run<b>" in page.inner_text("#verdicts"), "the model's name appears as text"
        assert page.locator("#conditions tr").count() > 4 and "shuffle:a" in page.inner_text("#conditions")
        assert page.locator("#against-profile li").count() >= 2
        shot = Path(os.environ.get("MODALYZE_PROBE_SCREENSHOT", tmp_path / "probe.png"))
        page.screenshot(path=str(shot), full_page=True)

    _load(out / "probe.html", check)
