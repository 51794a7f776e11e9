"""The Lightning task: negative log-likelihood of an expert's log-probabilities."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from modalyze.data.batching import Batch


class ExpertTask(L.LightningModule):
    """Trains any expert (it returns log-probabilities [B, C]) with AdamW.

    ``only_present`` names a modality whose absent rows carry no loss (an intra expert learns
    nothing from a row that lacks its modality). For a product of experts, ``aux_weight`` adds the
    mean of every member's own NLL to the product's NLL (deep supervision): trained jointly from
    scratch, the product otherwise lets the intra experts explain the easy part of the label and
    the inter expert never learns the rest.
    """

    def __init__(self, expert: nn.Module, lr: float = 2e-3, weight_decay: float = 1e-4,
                 only_present: str | None = None, aux_weight: float = 0.0):
        super().__init__()
        self.expert = expert
        self.lr, self.weight_decay, self.only_present = lr, weight_decay, only_present
        self.aux_weight = aux_weight

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.expert(batch)

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = self.expert(batch)  # [B, C]
        losses = F.nll_loss(log_probs, batch["y"], reduction="none")  # [B]
        if self.only_present is not None:
            weight = batch["present"][self.only_present].float()
            return (losses * weight).sum() / weight.sum().clamp(min=1), log_probs
        return losses.mean(), log_probs

    def _aux_loss(self, batch: Batch) -> torch.Tensor:
        """Mean NLL of the product's members, each on the rows where it takes part."""
        losses = []
        for name, log_probs in self.expert.expert_log_probs(batch).items():
            nll = F.nll_loss(log_probs, batch["y"], reduction="none")  # [B]
            if name.startswith("intra:"):
                weight = batch["present"][name.split(":", 1)[1]].float()
                nll = (nll * weight).sum() / weight.sum().clamp(min=1)
            losses.append(nll.mean())
        return torch.stack(losses).mean()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        if self.aux_weight and hasattr(self.expert, "expert_log_probs"):
            loss = loss + self.aux_weight * self._aux_loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["y"]))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, log_probs = self._loss(batch)
        acc = (log_probs.argmax(-1) == batch["y"]).float().mean()
        n = len(batch["y"])
        self.log("val_loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_acc", acc, prog_bar=True, batch_size=n, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
