"""The README's walk-through, "Your table in five minutes", runs as written from a fresh checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def walkthrough_commands() -> list[str]:
    """Every line of the section's ```bash blocks, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Your table in five minutes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_walkthrough_runs_as_written(tmp_path):
    commands = walkthrough_commands()
    assert commands[0].startswith("python docs/make_reviews.py") and any("modalyze predict" in c for c in commands)
    (tmp_path / "docs").symlink_to(ROOT / "docs")  # the commands start at the repository root
    bin_dir = Path(sys.executable).parent  # `python` and `modalyze` of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    script = "set -euo pipefail\n" + "\n".join(commands)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    reviews = tmp_path / "reviews"
    for written in ("reviews.yaml", "reports/reviews/profile.json", "reports/reviews/report.html",
                    "runs/reviews/weights.safetensors", "predictions.csv"):
        assert (reviews / written).exists(), written
    assert "verdict: intra-dominant" in done.stdout
    predictions = (reviews / "predictions.csv").read_text().splitlines()
    assert len(predictions) == 21 and "modalities_used" in predictions[0]
