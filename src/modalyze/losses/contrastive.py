"""Contrastive losses over L2-normalised embeddings of paired rows (row i of every modality is one
example): CLIP's symmetric InfoNCE, SigLIP's pairwise sigmoid loss, Symile's multilinear InfoNCE for
three or more modalities, and anchor / pairwise sums of InfoNCE (ImageBind-style).

Temperatures are learnable parameters of :class:`ContrastiveLoss`: CLIP starts at τ = 0.07 with the
logit scale 1/τ clamped at 100; SigLIP starts at scale 10 and bias −10.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Callable

import torch
import torch.distributed as dist
import torch.distributed.nn as dist_nn
import torch.nn.functional as F
from torch import nn

from modalyze.errors import ModalyzeError
from modalyze.registry import Registry

MAX_LOGIT_SCALE = 100.0
Embeddings = dict[str, torch.Tensor]  # modality -> [B, D], L2-normalised


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor,
             positives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE: cross-entropy of a→b and b→a over the batch, the diagonal being the match.

    ``positives`` (bool [B, B], the diagonal included) marks further true pairs, e.g. two rows with
    the same caption: the target then spreads evenly over a row's positives instead of treating its
    duplicates as negatives. Without duplicates it is the identity and the loss is CLIP's.
    """
    logits = scale * a @ b.T  # [B, B]
    target = torch.arange(len(a), device=a.device) if positives is None else \
        positives.float() / positives.sum(1, keepdim=True)  # [B, B], rows sum to 1 (symmetric mask)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def sigmoid_pairs(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                  positives: torch.Tensor | None = None) -> torch.Tensor:
    """SigLIP: every pair (i, j) is a binary problem, positive on the diagonal (or where ``positives``);
    summed over j, mean over i."""
    logits = scale * a @ b.T + bias  # [B, B]
    same = positives.float() if positives is not None else torch.eye(len(a), device=a.device)
    return -F.logsigmoid((2 * same - 1) * logits).sum(1).mean()


def flat_rows(x: dict[str, torch.Tensor]) -> torch.Tensor:
    """One modality's batch tensors as one row of numbers per example [B, F] (to find duplicates)."""
    return torch.cat([v.reshape(len(v), -1).float() for v in x.values()], 1)


def same_rows(flat: torch.Tensor) -> torch.Tensor:
    """bool [B, B]: rows whose inputs (``flat_rows``) are identical (duplicates of one item)."""
    _, group = torch.unique(flat, dim=0, return_inverse=True)  # [B]
    return group[:, None] == group[None, :]


def gather(t: torch.Tensor, grad: bool) -> torch.Tensor:
    """The rows of ``t`` from every rank of a multi-process run, in rank order [ΣB, ...] (ranks may
    hold different numbers of rows); with ``grad`` the gradient flows back to each rank's own rows.
    In one process: ``t`` itself. Gathering the embeddings gives every pair the negatives of the
    whole global batch, as large-batch contrastive training needs."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    size = torch.tensor([len(t)], device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    most = int(max(sizes))
    padded = F.pad(t, (0, 0) * (t.ndim - 1) + (0, most - len(t)))  # rows padded to the largest rank's
    if grad:
        parts = dist_nn.all_gather(padded)
    else:
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
    return torch.cat([part[:int(n)] for part, n in zip(parts, sizes)])


def symile(xs: list[torch.Tensor], scale: torch.Tensor) -> torch.Tensor:
    """Symile: for each modality as the target, logits[i, j] = scale · MIP(x_target[j], others[i]) where
    MIP is the multilinear inner product Σ_d Π_m x_m[d]; cross-entropy over j, averaged over targets."""
    losses = []
    target = torch.arange(len(xs[0]), device=xs[0].device)
    for k in range(len(xs)):
        others = torch.stack([x for m, x in enumerate(xs) if m != k]).prod(0)  # [B, D]: elementwise product
        logits = scale * others @ xs[k].T  # [B, B]
        losses.append(F.cross_entropy(logits, target))
    return torch.stack(losses).mean()


Same = dict[str, torch.Tensor]  # modality -> bool [B, B]: rows with identical inputs
LossFn = Callable[["ContrastiveLoss", Embeddings, Same], torch.Tensor]


def _positives(same: Same, a: str, b: str) -> torch.Tensor | None:
    return same[a] | same[b] if a in same and b in same else None


LOSSES: Registry[LossFn] = Registry("contrastive loss")


class ContrastiveLoss(nn.Module):
    """A registered contrastive loss with its learnable temperature (and SigLIP's bias)."""

    def __init__(self, name: str, modalities: list[str], anchor: str | None = None):
        super().__init__()
        self.fn = LOSSES.get(name)
        self.name, self.modalities, self.anchor = name, list(modalities), anchor
        if name == "symile" and len(modalities) < 3:
            raise ModalyzeError(f"loss symile needs 3 or more modalities (found {len(modalities)}); use clip or siglip")
        if name == "anchor" and anchor not in modalities:
            raise ModalyzeError(f"loss anchor: option anchor={anchor!r} must name a modality ({', '.join(modalities)})")
        if name in ("clip", "siglip") and len(modalities) != 2:
            raise ModalyzeError(f"loss {name} aligns exactly 2 modalities (found {len(modalities)}); "
                                "use anchor, pairwise or symile")
        init = math.log(10.0) if name == "siglip" else math.log(1 / 0.07)
        self.log_scale = nn.Parameter(torch.tensor(init))
        self.bias = nn.Parameter(torch.tensor(-10.0)) if name == "siglip" else None

    @property
    def scale(self) -> torch.Tensor:
        """exp(log_scale); for the InfoNCE family clamped at 100 (CLIP's guard against collapse)."""
        scale = self.log_scale.exp()
        return scale if self.name == "siglip" else scale.clamp(max=MAX_LOGIT_SCALE)

    def forward(self, embeddings: Embeddings, rows: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The loss over the global batch (every rank's rows, :func:`gather`). ``rows`` (modality -> its
        inputs as :func:`flat_rows` [B, F]) makes duplicates positives of each other: rows i and j are
        a true pair for modalities a and b when their a or their b inputs match."""
        z = {m: gather(e, grad=True) for m, e in embeddings.items()}
        same = {m: same_rows(gather(r, grad=False)) for m, r in (rows or {}).items()}
        return self.fn(self, z, same)


@LOSSES.register("clip")
def _clip(loss: ContrastiveLoss, z: Embeddings, same: Same) -> torch.Tensor:
    a, b = loss.modalities
    return info_nce(z[a], z[b], loss.scale, _positives(same, a, b))


@LOSSES.register("siglip")
def _siglip(loss: ContrastiveLoss, z: Embeddings, same: Same) -> torch.Tensor:
    a, b = loss.modalities
    return sigmoid_pairs(z[a], z[b], loss.scale, loss.bias, _positives(same, a, b))


@LOSSES.register("symile")
def _symile(loss: ContrastiveLoss, z: Embeddings, same: Same) -> torch.Tensor:
    return symile([z[m] for m in loss.modalities], loss.scale)


@LOSSES.register("anchor")
def _anchor(loss: ContrastiveLoss, z: Embeddings, same: Same) -> torch.Tensor:
    others = [m for m in loss.modalities if m != loss.anchor]
    return torch.stack([info_nce(z[loss.anchor], z[m], loss.scale, _positives(same, loss.anchor, m))
                        for m in others]).mean()


@LOSSES.register("pairwise")
def _pairwise(loss: ContrastiveLoss, z: Embeddings, same: Same) -> torch.Tensor:
    return torch.stack([info_nce(z[a], z[b], loss.scale, _positives(same, a, b))
                        for a, b in combinations(loss.modalities, 2)]).sum()
