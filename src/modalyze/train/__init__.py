"""Training: the Lightning task and the engine adapter."""

from modalyze.settings import TrainSettings
from modalyze.train.engine import fit_expert, predict_log_probs

__all__ = ["TrainSettings", "fit_expert", "predict_log_probs"]
