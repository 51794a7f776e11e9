"""Experiment trackers: ``--logger csv|tensorboard|mlflow`` sends training curves to a Lightning logger.

Each tracker is registered here under its name; tensorboard and mlflow are optional extras, and a
missing one is a one-line error naming the extra to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

from modalyze.errors import ModalyzeError
from modalyze.registry import Registry

LoggerFactory = Callable[[Path, str], Any]  # (save_dir, run name) -> a Lightning logger
LOGGERS: Registry[LoggerFactory] = Registry("logger")


def _needs(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModalyzeError(f"option logger: the {extra} logger needs the package '{module}': "
                            f"pip install 'modalyze[{extra}]'")


@LOGGERS.register("csv")
def _csv(save_dir: Path, name: str) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir, name=name)  # save_dir/name/version_N/metrics.csv


@LOGGERS.register("tensorboard")
def _tensorboard(save_dir: Path, name: str) -> Any:
    _needs("tensorboard", "tensorboard")
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir, name=name, default_hp_metric=False)  # event files under save_dir/name/


@LOGGERS.register("mlflow")
def _mlflow(save_dir: Path, name: str) -> Any:
    _needs("mlflow", "mlflow")
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(experiment_name=name, tracking_uri=(Path(save_dir).resolve() / "mlruns").as_uri())


def create_logger(kind: str | None, save_dir: str | Path | None, name: str) -> Any:
    """The Lightning logger for ``kind`` (None: no logger), writing under ``save_dir`` (default ./logs)."""
    if kind is None:
        return False
    return LOGGERS.get(kind)(Path(save_dir or "logs"), name.replace(":", "-").replace("/", "-"))
