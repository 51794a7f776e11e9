"""The Lightning task: negative log-likelihood of an expert's log-probabilities."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from modalyze.data.batching import Batch
from modalyze.kinds.text import PAD
from modalyze.settings import TRAIN


class ExpertTask(L.LightningModule):
    """Trains any expert (it returns log-probabilities [B, C]) with AdamW.

    ``only_present`` names a modality whose absent rows carry no loss (an intra expert learns
    nothing from a row that lacks its modality). For a product of experts, ``aux_weight`` adds the
    mean of every member's own NLL to the product's NLL (deep supervision): trained jointly from
    scratch, the product otherwise lets the intra experts explain the easy part of the label and
    the inter expert never learns the rest. Validation monitors the same objective: a product's own
    loss reaches its minimum while its members are still learning, and the best epoch must be one
    where the members are good too (on digits, i2m2-shared's intra heads 0.79 -> 0.87).

    ``modality_dropout`` (modality -> rate) hides each modality per training row with its rate, so
    the expert learns the path that genuinely absent modalities take (see :func:`drop_modalities`).
    """

    def __init__(self, expert: nn.Module, lr: float = TRAIN.lr, weight_decay: float = TRAIN.weight_decay,
                 only_present: str | None = None, aux_weight: float = 0.0,
                 modality_dropout: dict[str, float] | None = None):
        super().__init__()
        self.expert = expert
        self.lr, self.weight_decay, self.only_present = lr, weight_decay, only_present
        self.aux_weight = aux_weight
        # a single-modality expert has nothing to fall back on: dropping its modality only wastes rows
        self.modality_dropout = {m: p for m, p in (modality_dropout or {}).items() if p > 0} if only_present is None else {}

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.expert(batch)

    @property
    def deep_supervision(self) -> bool:
        """A product of experts trained with its members' own losses added (``aux_weight`` > 0)."""
        return bool(self.aux_weight) and hasattr(self.expert, "combine")

    def compute_loss(self, batch: Batch, aux: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean NLL of the expert's output; with ``aux`` (a product of experts) plus the members' NLL."""
        loss, log_probs, _ = self.losses(batch, aux)
        return loss, log_probs

    def losses(self, batch: Batch, aux: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(objective, log-probabilities [B, C], each member's own NLL when ``aux``)."""
        if not aux:
            log_probs = self.expert(batch)  # [B, C]
            return self._nll(log_probs, batch, self.only_present), log_probs, {}
        parts = self.expert.expert_log_probs(batch)
        log_probs = self.expert.combine(parts, batch)  # [B, C]
        members = {name: self._nll(lp, batch, name.split(":", 1)[1] if name.startswith("intra:") else None)
                   for name, lp in parts.items()}
        loss = self._nll(log_probs, batch, self.only_present) + self.aux_weight * torch.stack(list(members.values())).mean()
        return loss, log_probs, members

    @staticmethod
    def _nll(log_probs: torch.Tensor, batch: Batch, only_present: str | None) -> torch.Tensor:
        losses = F.nll_loss(log_probs, batch["y"], reduction="none")  # [B]
        if only_present is None:
            return losses.mean()
        weight = batch["present"][only_present].float()
        return (losses * weight).sum() / weight.sum().clamp(min=1)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        if self.modality_dropout:
            batch = {**batch, "present": drop_modalities(batch["present"], self.modality_dropout)}
        loss, _ = self.compute_loss(batch, aux=self.deep_supervision)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["y"]),
                 sync_dist=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, log_probs, members = self.losses(batch, aux=self.deep_supervision)
        acc = (log_probs.argmax(-1) == batch["y"]).float().mean()
        n = len(batch["y"])
        for name, member_loss in members.items():  # each member's own validation loss (see BestMembers)
            self.log(f"val_loss[{name}]", member_loss, batch_size=n, sync_dist=True)
        self.log("val_loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_acc", acc, prog_bar=True, batch_size=n, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def drop_modalities(present: dict[str, torch.Tensor], rates: dict[str, float]) -> dict[str, torch.Tensor]:
    """Presence masks with modality m hidden per row with probability ``rates[m]``.

    present: modality -> bool [B]. A row never loses all of its present modalities: where the draw
    would hide every one, the row keeps them all (it is then an ordinary, complete row).
    """
    kept = {m: p & (torch.rand(p.shape, device=p.device) >= rates[m]) if m in rates else p
            for m, p in present.items()}
    emptied = ~torch.stack(list(kept.values())).any(0) & torch.stack(list(present.values())).any(0)  # [B]
    return {m: torch.where(emptied, present[m], k) for m, k in kept.items()}


def drop_words(ids: torch.Tensor, rate: float) -> torch.Tensor:
    """Token ids [B, T] with each word deleted with probability ``rate`` and the rest moved left, in order
    (random deletion). A text that would lose every word keeps them all; padding stays padding."""
    real = ids != PAD  # [B, T]
    keep = real & (torch.rand(ids.shape, device=ids.device) >= rate)
    keep = torch.where((real.any(1) & ~keep.any(1))[:, None], real, keep)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept tokens first, order preserved
    return torch.gather(ids * keep, 1, order)
