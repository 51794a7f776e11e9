"""Multi-device training on 2 CPU processes (DDP, gloo): contrastive negatives span every rank, and
train / align with --devices 2 match one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from modalyze.losses.contrastive import ContrastiveLoss, flat_rows

ROWS = {0: slice(0, 5), 1: slice(5, 8)}  # the two ranks hold different numbers of pairs


def _batch():
    """8 pairs (float64); rows 1 and 6 share the same 'b' input (a duplicate across the two ranks)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 6, generator=g, dtype=torch.float64), torch.randn(8, 6, generator=g, dtype=torch.float64)
    ids = torch.arange(8).reshape(8, 1)
    ids[6] = ids[1]
    return a, b, ids


def _loss_and_grads(name: str, rows: slice) -> tuple[float, np.ndarray, np.ndarray]:
    a, b, ids = _batch()
    a, b = a[rows].clone().requires_grad_(), b[rows].clone().requires_grad_()
    loss_fn = ContrastiveLoss(name, ["a", "b"]).double()
    loss = loss_fn({"a": F.normalize(a, dim=-1), "b": F.normalize(b, dim=-1)},
                   {"b": flat_rows({"ids": ids[rows]})})
    loss.backward()
    return float(loss.detach()), a.grad.numpy(), b.grad.numpy()


def _rank(rank: int, port: int, name: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        loss, grad_a, grad_b = _loss_and_grads(name, ROWS[rank])
        np.savez(Path(out) / f"rank{rank}.npz", loss=loss, grad_a=grad_a, grad_b=grad_b)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_contrastive_loss_on_two_ranks_equals_the_global_batch_on_one(name, tmp_path):
    mp.spawn(_rank, args=(_free_port(), name, str(tmp_path)), nprocs=2, join=True)
    loss, grad_a, grad_b = _loss_and_grads(name, slice(0, 8))  # one process, the whole batch
    for rank, rows in ROWS.items():
        got = np.load(tmp_path / f"rank{rank}.npz")
        assert float(got["loss"]) == pytest.approx(loss, rel=1e-10)  # every rank sees the global batch
        # each rank's gradient is world_size x its rows' share; DDP's mean over ranks divides it out
        np.testing.assert_allclose(got["grad_a"] / 2, grad_a[rows], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(got["grad_b"] / 2, grad_b[rows], rtol=1e-8, atol=1e-12)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modalyze.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.parametrize("command, data, key", [
    (["train", "digits", "--model", "inter"], "digits", ("test", "accuracy")),
    (["align", "synthetic-xor3", "--loss", "symile", "--max-epochs", "30"], "synthetic-xor3", None),
])
def test_two_cpu_processes_train_like_one(command, data, key, tmp_path):
    results = {}
    for devices in ("1", "2"):
        out = tmp_path / f"devices-{devices}"
        done = _cli([*command, "--accelerator", "cpu", "--devices", devices, "--no-progress", "--out", str(out)],
                    tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.count("run written to") == 1, done.stdout  # only rank zero reports and writes
        metrics = json.loads((out / "metrics.json").read_text())
        results[devices] = (metrics[key[0]][key[1]] if key else
                            np.mean([r["R@1"] for r in metrics["retrieval"].values()]))
    assert abs(results["2"] - results["1"]) <= 0.02, results
    assert not list(tmp_path.rglob("*.tmp-*")), "a temporary file was left behind"
