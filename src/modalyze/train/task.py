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
    nothing from a row that lacks its modality).
    """

    def __init__(self, expert: nn.Module, lr: float = 2e-3, weight_decay: float = 1e-4,
                 only_present: str | None = None):
        super().__init__()
        self.expert = expert
        self.lr, self.weight_decay, self.only_present = lr, weight_decay, only_present

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.expert(batch)

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = self.expert(batch)  # [B, C]
        losses = F.nll_loss(log_probs, batch["y"], reduction="none")  # [B]
        if self.only_present is not None:
            weight = batch["present"][self.only_present].float()
            return (losses * weight).sum() / weight.sum().clamp(min=1), log_probs
        return losses.mean(), log_probs

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
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
