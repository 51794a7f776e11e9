"""The product of experts against a direct computation, and the experts built from a config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hypothesis import given, settings
from hypothesis import strategies as st

from modalyze.errors import ModalyzeError
from modalyze.experts import ModelConfig, build_expert, list_models, product_of_experts
from modalyze.fusion import list_fusions


def _direct(log_probs: np.ndarray, active: np.ndarray) -> np.ndarray:
    """p(y) ∝ Π over active experts of p_e(y), row by row, in plain NumPy."""
    out = np.empty(log_probs.shape[1:])
    for b in range(log_probs.shape[1]):
        prod = np.ones(log_probs.shape[2])
        for e in range(log_probs.shape[0]):
            if active[e, b]:
                prod *= np.exp(log_probs[e, b])
        out[b] = np.log(prod / prod.sum())
    return out


@settings(max_examples=40, deadline=None)
@given(experts=st.integers(1, 5), rows=st.integers(1, 6), classes=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_product_of_experts_matches_direct_computation(experts, rows, classes, seed):
    gen = torch.Generator().manual_seed(seed)
    log_probs = torch.log_softmax(torch.randn(experts, rows, classes, generator=gen, dtype=torch.float64) * 3, -1)
    active = torch.rand(experts, rows, generator=gen) > 0.3
    got = product_of_experts(log_probs, active).numpy()
    np.testing.assert_allclose(got, _direct(log_probs.numpy(), active.numpy()), atol=1e-10)
    np.testing.assert_allclose(np.exp(got).sum(-1), 1.0, atol=1e-10)


def test_product_with_no_active_expert_is_uniform():
    log_probs = torch.log_softmax(torch.randn(2, 1, 4), -1)
    out = product_of_experts(log_probs, torch.zeros(2, 1, dtype=torch.bool))
    torch.testing.assert_close(out.exp(), torch.full((1, 4), 0.25))


def _config(model: str, fusion: str = "late") -> ModelConfig:
    return ModelConfig(model=model, n_classes=3, dim=8, fusion=fusion, modalities={
        "a": {"kind": "vector", "info": {"dim": 4}, "encoder": {}},
        "b": {"kind": "vector", "info": {"dim": 5}, "encoder": {}},
    })


def _batch(present_b: list[bool]) -> dict:
    n = len(present_b)
    return {"x": {"a": {"x": torch.randn(n, 4)}, "b": {"x": torch.randn(n, 5)}},
            "present": {"a": torch.ones(n, dtype=torch.bool), "b": torch.tensor(present_b)}}


@pytest.mark.parametrize("model", list_models(["a", "b"]))
def test_every_expert_returns_normalised_log_probs(model):
    expert = build_expert(_config(model)).eval()
    out = expert(_batch([True, False, True]))
    assert out.shape == (3, 3)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3))


@pytest.mark.parametrize("name", ["i2m2", "i2m2-shared"])
def test_i2m2_is_the_product_of_its_experts_and_drops_absent_intra_experts(name):
    torch.manual_seed(0)
    model = build_expert(_config(name)).eval()
    batch = _batch([True, False])
    with torch.no_grad():
        parts = model.expert_log_probs(batch)
        out = model(batch)
    full = parts["intra:a"] + parts["intra:b"] + parts["inter"]
    expected_row0 = torch.log_softmax(full[0], -1)
    expected_row1 = torch.log_softmax(parts["intra:a"][1] + parts["inter"][1], -1)  # b absent
    torch.testing.assert_close(out[0], expected_row0)
    torch.testing.assert_close(out[1], expected_row1)


def test_shared_i2m2_heads_read_their_own_modality_through_the_inter_encoders():
    torch.manual_seed(0)
    shared, separate, inter = (build_expert(_config(m)) for m in ("i2m2-shared", "i2m2", "inter"))
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(inter) < count(shared) < count(separate)  # one set of encoders plus a head per modality
    shared.eval()
    batch = _batch([True, True])
    with torch.no_grad():
        before = shared.expert_log_probs(batch)
        batch["x"]["b"]["x"] = torch.randn(2, 5) * 10
        after = shared.expert_log_probs(batch)
    torch.testing.assert_close(before["intra:a"], after["intra:a"])  # a's expert ignores b
    assert not torch.allclose(before["intra:b"], after["intra:b"]) and not torch.allclose(before["inter"], after["inter"])
    shared.train()
    y = torch.tensor([0, 2])
    torch.nn.functional.nll_loss(shared.expert_log_probs(_batch([True, True]))["intra:a"], y).backward()
    assert all(p.grad is not None for p in shared.inter.encoders["a"].parameters())  # the encoder is shared


@pytest.mark.parametrize("fusion", list_fusions())
def test_every_fusion_inside_i2m2_gives_normalised_log_probs_and_learns(fusion):
    torch.manual_seed(0)
    model = build_expert(_config("i2m2", fusion))
    batch = {**_batch([True, False, True, True]), "y": torch.tensor([0, 1, 2, 1])}
    out = model(batch)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(4))
    torch.nn.functional.nll_loss(out, batch["y"]).backward()
    assert all(p.grad is not None for p in model.inter.fusion.parameters()), "every fusion parameter gets a gradient"


@pytest.mark.parametrize("fusion", list_fusions())
def test_inter_expert_uses_learned_missing_embedding(fusion):
    torch.manual_seed(0)
    model = build_expert(_config("inter", fusion)).eval()
    batch = _batch([False, False])
    with torch.no_grad():
        first = model(batch)
        batch["x"]["b"]["x"] = torch.randn(2, 5) * 100  # values of an absent modality must not matter
        second = model(batch)
    torch.testing.assert_close(first, second)


@pytest.mark.parametrize("name", ["intra:c", "late", "inter:a", "intra"])
def test_unknown_model_names_are_clear_errors(name):
    with pytest.raises(ModalyzeError, match="model"):
        build_expert(_config(name))


@pytest.mark.parametrize("name", ["i2m2", "i2m2-shared", "additive"])
def test_member_weights_apply_per_presence_pattern_and_load_as_ones_when_absent(name):
    torch.manual_seed(0)
    model = build_expert(_config(name)).eval()
    members = model.member_weights.members
    b_missing = model.member_weights.patterns.index(("a",))
    model.member_weights.weights[b_missing] = torch.tensor([2.0 if m == "intra:a" else 0.0 for m in members])
    batch = _batch([True, False])
    with torch.no_grad():
        parts, out = model.expert_log_probs(batch), model(batch)
    torch.testing.assert_close(out[1], torch.log_softmax(2 * parts["intra:a"][1], -1))  # b absent: a's weights
    torch.testing.assert_close(out[0], torch.log_softmax(sum(parts.values())[0], -1))  # both present: plain product
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("member_weights.weights")}
    fresh = build_expert(_config(name))
    fresh.member_weights.weights.fill_(5.0)
    assert not fresh.load_state_dict(state, strict=True).missing_keys  # a run saved before the weights existed
    assert bool((fresh.member_weights.weights == 1).all())


def test_chosen_weights_are_never_below_the_best_member_on_the_rows_they_were_chosen_on():
    from modalyze.train.weighting import _best

    y = torch.zeros(100, dtype=torch.long)
    right = torch.log(torch.tensor([0.6, 0.4])).expand(100, 2)  # mildly right everywhere
    wrong = torch.log(torch.tensor([0.01, 0.99])).expand(100, 2).clone()
    wrong[:30] = torch.log(torch.tensor([0.9, 0.1]))  # confidently wrong on 70 rows
    parts = torch.stack([right, wrong])
    assert ((parts.sum(0)).argmax(1) == y).float().mean() == 0.3  # the plain product follows the wrong member
    name, weights = _best(parts, y, ["intra:a", "inter"])
    chosen = (torch.tensor([weights["intra:a"], weights["inter"]])[:, None, None] * parts).sum(0)
    assert name != "product" and bool((chosen.argmax(1) == y).all())
