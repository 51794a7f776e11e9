"""The engine adapter: fit an expert with a Lightning Trainer and return its history."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, RichProgressBar
from torch import nn

from modalyze.data.batching import FeaturizedDataset, make_loader
from modalyze.errors import ModalyzeError
from modalyze.log import duration, info
from modalyze.settings import Settings, TrainSettings
from modalyze.train.loggers import create_logger
from modalyze.train.task import ExpertTask


# Lightning's start-up banners (accelerator availability, tips) are noise for a CLI user: quiet while
# modalyze trains, and left as they were otherwise (importing modalyze changes no library's logger).
QUIET = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda")


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIET]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# A classifier's training set smaller than this is repeated within an epoch (successive permutations),
# so a small table gets several optimizer steps per validation instead of paying an epoch's overhead per step.
MIN_EPOCH_ROWS = 2048
# The early-stopping floor scales with the data: ``min_steps`` optimizer steps, or this many passes over
# the training rows if that is fewer (never under FLOOR_STEPS): a 100-row table does not need 500 steps.
FLOOR_PASSES = 32
FLOOR_STEPS = 100
MIN_DELTA = 1e-3  # nats per row: a smaller drop of the validation loss is not an improvement


class BestWeights(Callback):
    """Keeps the weights of the best validation epoch in memory, restores them at the end, and
    records one history row per epoch (no checkpoint files, so nothing is ever unpickled)."""

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best = float("inf")
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self._start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        self.history.append({"epoch": trainer.current_epoch, "time_s": time.perf_counter() - self._start, **metrics})
        if metrics[self.monitor] < self.best:
            self.best = metrics[self.monitor]
            self.state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


class BestMembers(Callback):
    """For a model whose members share parameters (i2m2-shared): a copy of each member's weights at
    the epoch of its own lowest validation loss, as a separately trained expert would be kept."""

    def __init__(self) -> None:
        self.best: dict[str, float] = {}
        self.states: dict[str, dict[str, torch.Tensor]] = {}

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for key, value in trainer.callback_metrics.items():
            name = key.removeprefix("val_loss[").removesuffix("]")  # logged by ExpertTask per member
            if name != key and float(value) < self.best.get(name, float("inf")):
                self.best[name] = float(value)
                self.states[name] = {k: v.detach().cpu().clone() for k, v in module.expert.member(name).state_dict().items()}


class ProgressLines(Callback):
    """Plain progress lines when output is not a terminal (a log file, a notebook, CI): the expert,
    epoch, losses, elapsed time and an upper bound on the time left — after the first epoch (the
    first estimate), then whenever ``every`` seconds have passed (``$MODALYZE_LOG_EVERY``, default 15)."""

    def __init__(self, label: str, every: float | None = None):
        self.label = label
        self.every = float(os.environ.get("MODALYZE_LOG_EVERY", 15)) if every is None else every
        self._start = self._last = time.perf_counter()
        self._epoch_ends: list[float] = []  # elapsed seconds at the end of each finished epoch

    def _line(self, trainer: L.Trainer, where: str) -> None:
        now = time.perf_counter()
        elapsed = now - self._start
        if where == "end":
            self._epoch_ends.append(elapsed)
        first = where == "end" and len(self._epoch_ends) == 1
        if now - self._last < self.every and not first:
            return
        self._last = now
        metrics = " · ".join(f"{k} {float(v):.4f}" for k, v in sorted(trainer.callback_metrics.items()))
        left = ""
        if self._epoch_ends:  # epochs still allowed × the mean epoch, less the part of this one already run
            done = len(self._epoch_ends)
            mean = self._epoch_ends[-1] / done
            remaining = mean * (trainer.max_epochs - done) - (elapsed - self._epoch_ends[-1])
            left = f" · at most {duration(remaining)} left"
        step = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} · step {trainer.global_step}"
        info(f"[{self.label}] {step}{' · ' + metrics if metrics else ''} · {duration(elapsed)} elapsed{left}")

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._line(trainer, "batch")

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._line(trainer, "end")


def step_floor(rows: int, settings: Settings) -> int:
    """Optimizer steps before early stopping may act: ``min_steps``, capped at FLOOR_PASSES passes over
    ``rows`` training rows but not below FLOOR_STEPS (nor above ``min_steps``)."""
    passes = math.ceil(FLOOR_PASSES * rows / settings.batch_size)
    return min(settings.min_steps, max(FLOOR_STEPS, passes))


def fit_expert(expert: nn.Module, train: FeaturizedDataset, val: FeaturizedDataset, settings: TrainSettings,
               only_present: str | None = None, dropout_rates: dict[str, float] | None = None,
               label: str = "expert", callbacks: list[Callback] | None = None) -> dict[str, Any]:
    """Train ``expert`` in place with early stopping on validation loss; returns the history.

    ``dropout_rates`` (modality -> rate) overrides ``settings.modality_dropout`` per modality.
    """
    rates = {m: settings.modality_dropout for m in train.features} | (dropout_rates or {})
    task = ExpertTask(expert, settings.lr, settings.weight_decay, only_present, settings.aux_weight, rates)
    history = fit_task(task, train, val, settings, label, epoch_rows=MIN_EPOCH_ROWS, callbacks=callbacks)
    expert.cpu()
    return history


def fit_task(task: L.LightningModule, train: FeaturizedDataset, val: FeaturizedDataset, settings: Settings,
             label: str = "training", epoch_rows: int = 0, callbacks: list[Callback] | None = None) -> dict[str, Any]:
    """Fit any task logging ``val_loss`` with early stopping; the best epoch's weights are restored.

    ``epoch_rows``: a smaller training set is repeated within an epoch (classifiers; contrastive
    tasks keep 0, since a repeated row in a batch would be its own negative).

    With ``settings.progress``: a progress bar on a terminal, plain periodic lines elsewhere. With
    ``settings.logger``: the curves also go to that experiment tracker (:mod:`modalyze.train.loggers`).
    """
    with _quiet_lightning():
        return _fit(task, train, val, settings, label, epoch_rows, callbacks)


def _fit(task: L.LightningModule, train: FeaturizedDataset, val: FeaturizedDataset, settings: Settings, label: str,
         epoch_rows: int, callbacks: list[Callback] | None) -> dict[str, Any]:
    L.seed_everything(settings.seed, workers=True, verbose=False)
    best = BestWeights()
    bar = settings.progress and sys.stdout.isatty()
    progress = [RichProgressBar(leave=False)] if bar else [ProgressLines(label)] if settings.progress else []
    trainer = _trainer(
        settings, max_epochs=settings.max_epochs, min_steps=step_floor(len(train), settings),
        accelerator=settings.accelerator, devices=settings.devices,
        callbacks=[EarlyStopping("val_loss", min_delta=MIN_DELTA, patience=settings.patience), best, *progress,
                   *(callbacks or [])],
        logger=create_logger(settings.logger, settings.log_dir, label), enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=bar, num_sanity_val_steps=0,
        deterministic=True if settings.accelerator == "cpu" else "warn",  # some CUDA kernels have no deterministic form
    )
    batch = max(1, settings.batch_size // trainer.world_size)  # --batch-size is the global batch: N devices share it
    start = time.perf_counter()
    trainer.fit(task, make_loader(train, batch, shuffle=True, seed=settings.seed, epoch_rows=epoch_rows),
                make_loader(val, 4 * batch, shuffle=False))
    seconds = time.perf_counter() - start
    task.cpu()
    return {"epochs": best.history, "train_time_s": seconds, "best_val_loss": best.best,
            "samples_per_s": max(len(train), epoch_rows) * len(best.history) / seconds if seconds else 0.0}


def several_devices(devices: int | str | list[int]) -> bool:
    """Whether Lightning's ``devices`` value asks for more than one device."""
    if isinstance(devices, int):
        return devices > 1 or devices == -1
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    return devices.strip() == "-1" or "," in devices.strip(",")


def _trainer(settings: Settings, **options: Any) -> L.Trainer:
    """A Lightning Trainer; several devices mean DDP in which a step may leave parameters without a
    gradient (an absent modality's embedding, a member's head). A bad strategy or precision is one line."""
    strategy = settings.strategy
    if strategy == "auto" and several_devices(settings.devices):
        strategy = "ddp_find_unused_parameters_true"
    try:
        return L.Trainer(strategy=strategy, precision=settings.precision, **options)
    except (ValueError, TypeError, RuntimeError) as exc:  # Lightning's MisconfigurationException is a ValueError
        raise ModalyzeError(f"option strategy={settings.strategy!r} / precision={settings.precision!r} / "
                            f"devices={settings.devices!r}: {str(exc).splitlines()[0]}") from None


@torch.no_grad()
def predict_log_probs(expert: nn.Module, data: FeaturizedDataset, batch_size: int = 512) -> torch.Tensor:
    """Log-probabilities [N, C] for every row, in order, in eval mode."""
    expert.eval()
    parts = [expert(batch) for batch in make_loader(data, batch_size, shuffle=False)]
    return torch.cat(parts) if parts else torch.zeros(0)
