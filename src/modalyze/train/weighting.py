"""A product's member weights, chosen on validation rows for each pattern of present modalities.

The members of a product are trained with (mostly) every modality present. Without one, a member can be
confidently wrong — the inter expert sees its learned "missing" embedding — and outvote the members that
are right, so adding a modality makes the answer worse. For each presence pattern, the validation rows
that have every modality of the pattern are scored with the others hidden, and three kinds of weights
are compared on them: the plain product (every weight 1); weights w_e ≥ 0 that minimise the product's
log-loss, softmax(Σ_e w_e log p_e), found by L-BFGS from 1 (a temperature per member); and each present
member alone. The best validation accuracy wins (then the lower log-loss), so on validation rows the
product is never below its best present member.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from modalyze.data.batching import FeaturizedDataset, make_loader

MIN_ROWS = 20  # a pattern with fewer validation rows keeps the plain product


def fit_member_weights(product: nn.Module, val: FeaturizedDataset) -> dict[str, dict[str, Any]]:
    """Fit ``product.member_weights`` in place; returns, per pattern ('a+b'), the choice and its weights."""
    weighting = product.member_weights
    members, y = weighting.members, val.targets
    intra, inter = _member_log_probs(product, val)  # intra: [M, N, C] (do not depend on the pattern)
    chosen = {}
    for i, kept in enumerate(weighting.patterns):
        rows = torch.stack([val.features[m].present for m in kept]).all(0)  # [N]
        if int(rows.sum()) < MIN_ROWS:
            continue
        active = [n for n in members if n == "inter" or n.split(":", 1)[1] in kept]
        parts = torch.stack([inter(kept) if n == "inter" else intra[members.index(n)] for n in active])[:, rows]
        name, weights = _best(parts, y[rows], active)
        weighting.weights[i] = torch.tensor([weights.get(n, 0.0) for n in members])
        chosen["+".join(kept)] = {"choice": name, "weights": {n: round(w, 4) for n, w in weights.items()}}
    return chosen


@torch.no_grad()
def _member_log_probs(product: nn.Module, val: FeaturizedDataset) -> tuple[torch.Tensor, Callable[[tuple[str, ...]], torch.Tensor]]:
    """The intra members' log-probabilities [M, N, C], and a function kept -> the inter member's [N, C]
    with every modality outside ``kept`` hidden (the intra members read only their own modality)."""
    product.eval()
    batches = list(make_loader(val, 512, shuffle=False))
    intra = torch.cat([torch.stack(list(product.expert_log_probs_intra(b).values())) for b in batches], dim=1)

    @torch.no_grad()
    def inter(kept: tuple[str, ...]) -> torch.Tensor:
        hidden = [{**b, "present": {m: p & (m in kept) for m, p in b["present"].items()}} for b in batches]
        return torch.cat([product.inter(b) for b in hidden])

    return intra, inter


def _best(parts: torch.Tensor, y: torch.Tensor, names: list[str]) -> tuple[str, dict[str, float]]:
    """Among the plain product, fitted weights and each member alone, the best on these rows.

    parts: [E, N, C] member log-probabilities, y: [N] -> (choice, weight per member)."""
    candidates = {"product": torch.ones(len(names)), "weighted": _fit(parts, y),
                  **{n: F.one_hot(torch.tensor(e), len(names)).float() for e, n in enumerate(names)}}

    def key(w: torch.Tensor) -> tuple[float, float]:
        logits = (w[:, None, None] * parts).sum(0)  # [N, C]
        return float((logits.argmax(1) == y).float().mean()), -float(F.cross_entropy(logits, y))

    name = max(candidates, key=lambda n: key(candidates[n]))
    return name, dict(zip(names, candidates[name].tolist()))


def _fit(parts: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Weights [E] ≥ 0 minimising the log-loss of softmax(Σ_e w_e parts_e), from w = 1."""
    theta = torch.full((len(parts),), math.log(math.e - 1), requires_grad=True)  # softplus(theta) = 1
    optimizer = torch.optim.LBFGS([theta], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy((F.softplus(theta)[:, None, None] * parts).sum(0), y)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return F.softplus(theta).detach()
