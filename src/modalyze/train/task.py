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

    def _loss(self, batch: Batch, aux: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean NLL of the expert's output; with ``aux`` (a product of experts) plus the members' NLL."""
        if aux:
            parts = self.expert.expert_log_probs(batch)
            log_probs = self.expert.combine(parts, batch)  # [B, C]
        else:
            log_probs = self.expert(batch)  # [B, C]
        loss = self._nll(log_probs, batch, self.only_present)
        if aux:
            members = [self._nll(lp, batch, name.split(":", 1)[1] if name.startswith("intra:") else None)
                       for name, lp in parts.items()]
            loss = loss + self.aux_weight * torch.stack(members).mean()
        return loss, log_probs

    @staticmethod
    def _nll(log_probs: torch.Tensor, batch: Batch, only_present: str | None) -> torch.Tensor:
        losses = F.nll_loss(log_probs, batch["y"], reduction="none")  # [B]
        if only_present is None:
            return losses.mean()
        weight = batch["present"][only_present].float()
        return (losses * weight).sum() / weight.sum().clamp(min=1)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch, aux=bool(self.aux_weight) and hasattr(self.expert, "combine"))
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
