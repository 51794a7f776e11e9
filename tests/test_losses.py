"""Contrastive losses against direct, loop-by-loop computations on small tensors (issue: alignment)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from modalyze.errors import ModalyzeError
from modalyze.losses import ContrastiveLoss


def _item(t: torch.Tensor) -> float:
    return float(t.detach())


def _normalised(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def _log_softmax_row(row: np.ndarray, i: int) -> float:
    return float(row[i] - np.log(np.exp(row).sum()))


def test_clip_is_symmetric_info_nce_with_learnable_temperature():
    a, b = _normalised(5, 4, seed=1), _normalised(5, 4, seed=2)
    loss = ContrastiveLoss("clip", ["image", "text"]).double()
    assert math.isclose(float(loss.scale.detach()), 1 / 0.07, rel_tol=1e-6), "temperature starts at 0.07"
    s = float(loss.scale.detach())  # 1/0.07 as stored in the parameter's precision
    sim = (a @ b.T).numpy()
    direct = -np.mean([_log_softmax_row(s * sim[i], i) for i in range(5)]) / 2 \
        - np.mean([_log_softmax_row(s * sim[:, j], j) for j in range(5)]) / 2
    value = loss({"image": a, "text": b})
    assert math.isclose(value.item(), direct, rel_tol=1e-9)
    value.backward()
    assert loss.log_scale.grad is not None and float(loss.log_scale.grad) != 0


def test_clip_logit_scale_is_clamped_at_100():
    a, b = _normalised(4, 3, seed=3), _normalised(4, 3, seed=4)
    loss = ContrastiveLoss("clip", ["x", "y"]).double()
    with torch.no_grad():
        loss.log_scale.fill_(math.log(1000.0))
    assert float(loss.scale.detach()) == 100.0
    at_100 = ContrastiveLoss("clip", ["x", "y"]).double()
    with torch.no_grad():
        at_100.log_scale.fill_(math.log(100.0))
    assert math.isclose(_item(loss({"x": a, "y": b})), _item(at_100({"x": a, "y": b})), rel_tol=1e-6)


def test_siglip_is_the_pairwise_sigmoid_loss_with_scale_and_bias():
    a, b = _normalised(4, 3, seed=5), _normalised(4, 3, seed=6)
    loss = ContrastiveLoss("siglip", ["image", "text"]).double()
    assert math.isclose(float(loss.scale.detach()), 10.0, rel_tol=1e-6) and float(loss.bias.detach()) == -10.0
    sim = (a @ b.T).numpy()
    direct = 0.0
    for i in range(4):
        for j in range(4):
            z = 1.0 if i == j else -1.0
            direct -= math.log(1 / (1 + math.exp(-z * (float(loss.scale.detach()) * sim[i, j] - 10.0))))
    assert math.isclose(_item(loss({"image": a, "text": b})), direct / 4, rel_tol=1e-9)
    value = loss({"image": a, "text": b})
    value.backward()
    assert float(loss.bias.grad) != 0, "the bias is learned"


def test_symile_uses_the_multilinear_inner_product_averaged_over_targets():
    xs = [_normalised(4, 3, seed=s) for s in (7, 8, 9)]
    loss = ContrastiveLoss("symile", ["a", "b", "c"]).double()
    s = float(loss.scale.detach())
    direct = 0.0
    for k in range(3):
        others = [x.numpy() for m, x in enumerate(xs) if m != k]
        for i in range(4):
            row = np.array([s * np.sum(others[0][i] * others[1][i] * xs[k].numpy()[j]) for j in range(4)])
            direct -= _log_softmax_row(row, i)
    value = loss({"a": xs[0], "b": xs[1], "c": xs[2]})
    assert math.isclose(_item(value), direct / 12, rel_tol=1e-9)


def test_anchor_and_pairwise_are_sums_of_info_nce():
    z = {m: _normalised(4, 3, seed=s) for m, s in (("a", 10), ("b", 11), ("c", 12))}
    clip = lambda x, y: _item(ContrastiveLoss("clip", ["x", "y"]).double()({"x": z[x], "y": z[y]}))  # noqa: E731
    anchor = _item(ContrastiveLoss("anchor", ["a", "b", "c"], anchor="a").double()(z))
    assert math.isclose(anchor, (clip("a", "b") + clip("a", "c")) / 2, rel_tol=1e-9)
    pairwise = _item(ContrastiveLoss("pairwise", ["a", "b", "c"]).double()(z))
    assert math.isclose(pairwise, clip("a", "b") + clip("a", "c") + clip("b", "c"), rel_tol=1e-9)


def test_perfect_alignment_has_lower_loss_than_random():
    a = _normalised(8, 16, seed=13)
    loss = ContrastiveLoss("clip", ["x", "y"]).double()
    assert _item(loss({"x": a, "y": a})) < _item(loss({"x": a, "y": _normalised(8, 16, seed=14)}))


@pytest.mark.parametrize("name,modalities,anchor,message", [
    ("symile", ["a", "b"], None, "3 or more"), ("clip", ["a", "b", "c"], None, "exactly 2"),
    ("anchor", ["a", "b"], "z", "must name a modality"), ("infonce", ["a", "b"], None, "unknown contrastive loss")])
def test_bad_loss_settings_are_clear_errors(name, modalities, anchor, message):
    with pytest.raises(ModalyzeError, match=message):
        ContrastiveLoss(name, modalities, anchor=anchor)


def test_duplicates_are_positives_not_negatives():
    """Two rows with the same caption: InfoNCE spreads the target over both, SigLIP labels both +1."""
    from modalyze.losses.contrastive import flat_rows, info_nce, same_rows, sigmoid_pairs

    a, b = _normalised(3, 4, seed=15), _normalised(3, 4, seed=16)
    ids = torch.tensor([[5, 6], [5, 6], [7, 8]])  # rows 0 and 1 hold the same caption
    same = same_rows(flat_rows({"ids": ids}))
    assert same.tolist() == [[True, True, False], [True, True, False], [False, False, True]]
    s = 10.0
    logits = s * (a @ b.T).numpy()
    target = np.array([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])

    def soft_ce(lg):
        log_p = lg - np.log(np.exp(lg).sum(1, keepdims=True))
        return -(target * log_p).sum(1).mean()

    direct = (soft_ce(logits) + soft_ce(logits.T)) / 2
    assert math.isclose(_item(info_nce(a, b, torch.tensor(s, dtype=torch.float64), same)), direct, rel_tol=1e-9)
    plain = _item(info_nce(a, b, torch.tensor(s, dtype=torch.float64)))
    assert math.isclose(_item(info_nce(a, b, torch.tensor(s, dtype=torch.float64), torch.eye(3, dtype=torch.bool))),
                        plain, rel_tol=1e-12), "without duplicates it is CLIP's loss"
    signs = 2 * same.double().numpy() - 1
    sig = -np.log(1 / (1 + np.exp(-signs * (logits - 10.0)))).sum(1).mean()
    assert math.isclose(_item(sigmoid_pairs(a, b, torch.tensor(s, dtype=torch.float64), torch.tensor(-10.0, dtype=torch.float64), same)),
                        sig, rel_tol=1e-9)
