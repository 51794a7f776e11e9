"""Contrastive alignment: one embedding space for several modalities, learned from paired rows.

``Aligner(loss="clip").fit("easy-vqa-captions")`` trains one encoder per modality (the same encoders,
featurizers and specs as the classifiers, pretrained ones included) with a projection head to a
shared width and L2-normalised outputs, under a loss from :mod:`modalyze.losses`. ``lock`` freezes a
tower (LiT). Only rows with every modality present are pairs; the others are left out of training.
``word_dropout`` (0.2) deletes each word of the text modalities with that probability in training
(random deletion), so the text tower also learns partial descriptions, such as a zero-shot prompt
that names only the label ("a triangle" after "a red triangle" captions), and does not memorise a
small set of captions. ``patience`` is 10 epochs: the contrastive validation loss is noisy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from modalyze.data.batching import Batch, FeaturizedDataset, make_loader
from modalyze.data.prepare import Prepared, encoder_configs, featurize_new_rows, prepare
from modalyze.encoders import create_encoder
from modalyze.errors import ModalyzeError, reading
from modalyze.estimator import Estimator
from modalyze.losses import ContrastiveLoss
from modalyze.losses.contrastive import flat_rows
from modalyze.options import check_options
from modalyze.run import check_run_dir, read_json
from modalyze.settings import ALIGNMENT, MODEL, AlignSettings
from modalyze.spec import Spec
from modalyze.train.engine import fit_task
from modalyze.train.task import drop_words

ALIGNER_SCHEMA = "modalyze.aligner/1"


@dataclass
class AlignConfig:
    modalities: dict[str, dict[str, Any]]  # name -> {"kind", "info", "encoder"}, as in ModelConfig
    loss: str = ALIGNMENT.loss
    anchor: str | None = None
    lock: list[str] = field(default_factory=list)
    dim: int = MODEL.dim  # encoder width
    embed_dim: int = ALIGNMENT.embed_dim  # shared embedding width


class AlignerModel(nn.Module):
    """Per modality: encoder -> linear projection -> L2 normalisation; plus the loss and its temperature."""

    def __init__(self, cfg: AlignConfig):
        super().__init__()
        self.encoders = nn.ModuleDict({m: create_encoder(s["kind"], s["info"], dim=cfg.dim, **s.get("encoder", {}))
                                       for m, s in cfg.modalities.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(cfg.dim, cfg.embed_dim) for m in cfg.modalities})
        self.loss = ContrastiveLoss(cfg.loss, list(cfg.modalities), cfg.anchor)
        self.kinds = {m: s["kind"] for m, s in cfg.modalities.items()}
        for m in cfg.lock:
            for p in [*self.encoders[m].parameters(), *self.heads[m].parameters()]:
                p.requires_grad_(False)

    def embed(self, batch: Batch, modalities: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Normalised embeddings [B, E] per modality."""
        return {m: F.normalize(self.heads[m](self.encoders[m](batch["x"][m]).pooled), dim=-1)
                for m in (modalities or list(self.encoders))}


def complete_rows(batch: Batch) -> Batch:
    """The rows of a batch where every modality is present (the pairs)."""
    keep = torch.stack(list(batch["present"].values())).all(0)  # [B]
    return {"x": {m: {k: v[keep] for k, v in x.items()} for m, x in batch["x"].items()},
            "present": {m: p[keep] for m, p in batch["present"].items()}}


class AlignTask(L.LightningModule):
    def __init__(self, model: AlignerModel, lr: float, weight_decay: float, word_dropout: float = 0.0):
        super().__init__()
        self.model, self.lr, self.weight_decay, self.word_dropout = model, lr, weight_decay, word_dropout

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        pairs = complete_rows(batch)
        if stage == "train" and self.word_dropout:
            pairs["x"] = {m: {**x, "ids": drop_words(x["ids"], self.word_dropout)}
                          if self.model.kinds[m] == "text" and "ids" in x else x for m, x in pairs["x"].items()}
        rows = {m: flat_rows(x) for m, x in pairs["x"].items()}  # duplicates (e.g. one caption twice) are positives
        loss = self.model.loss(self.model.embed(pairs), rows)
        n = len(next(iter(pairs["present"].values())))
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        if stage == "val":
            self.log("logit_scale", self.model.loss.scale, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW([p for p in self.parameters() if p.requires_grad], lr=self.lr,
                                 weight_decay=self.weight_decay)


class Aligner(Estimator):
    """Contrastive alignment of a spec's modalities, in the scikit-learn contract (:mod:`modalyze.estimator`):
    options here, data in ``fit``. Parameter defaults come from :mod:`modalyze.settings`."""

    settings_class = AlignSettings
    schema = ALIGNER_SCHEMA

    def __init__(self, loss: str = ALIGNMENT.loss, *, anchor: str | None = None, lock: list[str] | None = None,
                 dim: int = MODEL.dim, embed_dim: int = ALIGNMENT.embed_dim, word_dropout: float = ALIGNMENT.word_dropout,
                 unreadable: str = MODEL.unreadable, modalities: list[str] | None = None,
                 **settings: Any):  # settings: AlignSettings' fields
        self._store_params(locals())

    def check_params(self) -> None:
        """Validate the constructor's options (at fit time, as scikit-learn does)."""
        check_options(loss=self.loss, dim=self.dim, embed_dim=self.embed_dim, word_dropout=self.word_dropout,
                      unreadable=self.unreadable, **self.settings().to_dict())

    def fit(self, X: Any, y: Any = None, *, target: str | None = None, frame: pd.DataFrame | None = None,
            **dataset_options: Any) -> Aligner:
        """Train on paired rows: a DataFrame (``y``: labels kept for zero-shot), a table with ``target``,
        a spec, or a built-in name (``dataset_options``)."""
        self.check_params()
        spec, table = self._dataset(X, y, target, frame, dataset_options)
        return self.fit_prepared(spec, prepare(spec, table, self.unreadable))

    def fit_prepared(self, spec: Spec, prepared: Prepared) -> Aligner:
        self.check_params()
        lock = list(self.lock or [])
        unknown = [m for m in lock + ([self.anchor] if self.anchor else []) if m not in spec.modalities]
        if unknown:
            raise ModalyzeError(f"option lock/anchor: '{unknown[0]}' is not a modality of {spec.name} "
                                f"({', '.join(spec.modalities)})")
        if "val" not in prepared.splits:
            raise ModalyzeError(f"{spec.name}: the val split has no rows (early stopping needs validation rows)")
        self.spec_, self.featurizers_, self.classes_ = spec, prepared.featurizers, prepared.classes
        self.config_ = AlignConfig(
            modalities=encoder_configs(spec, prepared.featurizers),
            loss=self.loss, anchor=self.anchor, lock=lock, dim=self.dim, embed_dim=self.embed_dim)
        L.seed_everything(self.seed, verbose=False)
        self.model_ = AlignerModel(self.config_)
        task = AlignTask(self.model_, self.lr, self.weight_decay, self.word_dropout)
        self.history_ = fit_task(task, prepared.splits["train"], prepared.splits["val"], self.settings(),
                                 f"align {self.loss}")
        self.model_.eval()
        return self

    # --- embedding --------------------------------------------------------------------------------

    @torch.no_grad()
    def embed(self, data: FeaturizedDataset, batch_size: int = 512) -> dict[str, np.ndarray]:
        """Normalised embeddings [N, E] per modality; rows where a modality is absent get NaN there."""
        self.model_.eval()
        parts: dict[str, list[torch.Tensor]] = {}
        for batch in make_loader(data, batch_size, shuffle=False):
            for m, z in self.model_.embed(batch).items():
                parts.setdefault(m, []).append(torch.where(batch["present"][m].unsqueeze(-1), z, torch.nan))
        return {m: torch.cat(v).numpy() for m, v in parts.items()}

    def featurize(self, frame: pd.DataFrame, base_dir: str | Path | None = None,
                  unreadable: str | None = None) -> FeaturizedDataset:
        """New rows as tensors (their labels, if any, are not the aligner's concern)."""
        self._check_fitted()
        return featurize_new_rows(self.featurizers_, frame, base_dir, unreadable)

    @torch.no_grad()
    def embed_values(self, modality: str, values: list[Any]) -> np.ndarray:
        """Embeddings [len(values), E] of raw values of one modality (e.g. label prompts for the text tower)."""
        featurizer = self.featurizers_[modality]
        if len(featurizer.columns) != 1:
            raise ModalyzeError(f"modality '{modality}' reads several columns; embed rows instead")
        feats = featurizer.transform(pd.DataFrame({featurizer.columns[0]: values}))
        batch = {"x": {modality: feats.take(torch.arange(len(values)))}}
        return self.model_.eval().embed(batch, [modality])[modality].numpy()

    # --- persistence --------------------------------------------------------------------------------

    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        self._check_fitted()
        return self._save(path, self.model_, {"model": asdict(self.config_), "word_dropout": self.word_dropout}, metrics)

    @classmethod
    def load(cls, path: str | Path) -> Aligner:
        path = check_run_dir(path, ALIGNER_SCHEMA)
        with reading(path / "config.json", "run configuration"):
            config = read_json(path / "config.json")
            model = config["model"]
            obj = cls(loss=model["loss"], anchor=model["anchor"], lock=model["lock"], dim=model["dim"],
                      embed_dim=model["embed_dim"], unreadable=config["unreadable"],
                      word_dropout=config.get("word_dropout", 0.0), **cls._train_params(config))
            obj.check_params()
            obj.config_ = AlignConfig(**model)
            obj.model_ = AlignerModel(obj.config_)
        obj._restore(path, config, obj.model_)
        return obj
