"""A study's independent trainings on local worker processes and on a real local Ray instance."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

from modalyze.analysis import analyze
from modalyze.analysis.parallel import Training, resolve_jobs, run_trainings
from modalyze.analysis.store import ExpertStore
from modalyze.data import load_dataset
from modalyze.data.prepare import prepare
from modalyze.errors import ModalyzeError

DATA = dict(data="synthetic-mixed", budget="fast", progress=False, dataset_options={"rows": 1500})


def _numbers(profile) -> dict:
    return {**{f"intra:{m}": e["score"] for m, e in profile.intra.items()}, "inter": profile.inter["score"],
            "i2m2": profile.i2m2["score"], "additive": profile.additive["score"], "verdict": profile.verdict,
            "pid": profile.pid}


@pytest.fixture(scope="module")
def one_process():
    return _numbers(analyze(**DATA, jobs=1, log=lambda _: None))


def test_local_worker_processes_give_the_numbers_of_one_process(one_process, tmp_path):
    lines: list[str] = []
    profile = analyze(**DATA, jobs=2, out=tmp_path / "study", log=lines.append)
    assert any("2 worker processes" in line for line in lines), lines
    assert not any("resumed" in line for line in lines), lines  # trained a moment ago in workers, not resumed
    assert sum("trained in a worker" in line for line in lines) >= 3, lines
    assert _numbers(profile) == one_process
    lines.clear()  # a rerun finds every expert on disk, whatever trained it
    analyze(**DATA, jobs=2, out=tmp_path / "study", log=lines.append)
    assert not any("in parallel" in line for line in lines) and sum("resumed" in line for line in lines) == 4


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
def test_a_study_on_a_local_ray_instance_gives_the_numbers_of_one_process(one_process):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        lines: list[str] = []
        profile = analyze(**DATA, executor="ray", log=lines.append)
        assert any("ray executor" in line for line in lines), lines
        assert _numbers(profile) == one_process
    finally:
        ray.shutdown()


def test_a_failed_training_names_the_expert_and_keeps_the_finished_ones(tmp_path):
    spec, table = load_dataset("synthetic-mixed", rows=400)
    prepared = prepare(spec, table)
    store = ExpertStore(tmp_path, {"purpose": "test"})
    good = dict(model="intra:a", max_epochs=2, progress=False, dim=8)
    trainings = [Training(0, "intra:a", good), Training(0, "broken", {**good, "lr": -1.0})]
    with pytest.raises(ModalyzeError, match=r"training broken \(seed 1\) failed in a worker: .*lr=-1\.0"):
        run_trainings(trainings, store, spec, prepared, jobs=2, log=lambda _: None)
    assert store.has(0, "intra:a") and not store.has(0, "broken")


def test_auto_jobs_keep_small_data_in_one_process():
    assert resolve_jobs("auto", n_tasks=3, rows=900, accelerator="cpu") == 1
    assert resolve_jobs("auto", n_tasks=3, rows=50_000, accelerator="cpu") >= 1
    assert resolve_jobs(4, n_tasks=3, rows=10) == 3  # never more workers than trainings
    with pytest.raises(ModalyzeError, match="option jobs"):
        analyze(**DATA, jobs=0)


def test_a_study_in_workers_prints_progress_to_a_log_file_at_least_every_period(tmp_path):
    """Output to a pipe (a log file, CI): while the workers train, the main process prints which
    trainings run, are done and are left, with the time elapsed, at least every $MODALYZE_LOG_EVERY
    seconds (15 by default; 2 here so the test is short)."""
    env = {**os.environ, "MODALYZE_LOG_EVERY": "2"}
    command = [sys.executable, "-m", "modalyze.cli", "analyze", "synthetic-mixed", "-o", "rows=1500", "--jobs", "2",
               "--budget", "fast", "--no-progress", "--out", str(tmp_path / "study")]
    stamps: list[tuple[float, str]] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        for line in proc.stdout:
            stamps.append((time.perf_counter(), line.rstrip()))
    assert proc.returncode == 0, "\n".join(line for _, line in stamps[-20:])
    texts = [line for _, line in stamps]
    first = next(i for i, line in enumerate(texts) if "in parallel" in line)
    last = max(i for i, line in enumerate(texts) if "trained in a worker" in line)
    gaps = [b[0] - a[0] for a, b in zip(stamps[first:last], stamps[first + 1:last + 1])]
    assert any(line.startswith("trainings: ") and "running: " in line and "elapsed" in line
               for line in texts[first:last]), texts[first:last + 1]
    assert max(gaps) < 2 + 3, (max(gaps), texts[first:last + 1])  # the period, plus a worker's start-up slack


def test_the_time_left_counts_down_from_the_finished_trainings_durations(monkeypatch):
    """Two workers, three trainings: the first finished after 30 s and the third started then, so 10 s
    later it needs about 20 s more; past the finished one's duration, the line says so instead of a guess."""
    from modalyze.analysis import parallel
    from modalyze.analysis.parallel import Heartbeat, Training

    clock = [0.0]
    monkeypatch.setattr(parallel.time, "perf_counter", lambda: clock[0])
    lines: list[str] = []
    a, b, c = (Training(0, n, {}) for n in ("intra:a", "intra:b", "inter"))
    beat = Heartbeat([a, b, c], jobs=2, log=lines.append, every=1e9)
    beat.tick([a, b])
    clock[0] = 10.0
    beat.report()
    assert "left" not in lines[-1] and "10 s elapsed" in lines[-1]  # nothing finished: no estimate yet
    clock[0] = 30.0
    beat.finished(a)
    beat.tick([b, c])
    clock[0] = 40.0
    beat.report()
    assert lines[-1].endswith("about 20 s left"), lines[-1]
    clock[0] = 70.0
    beat.report()
    assert lines[-1].endswith("already take longer than the finished ones took"), lines[-1]
