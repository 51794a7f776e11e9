"""Training: the Lightning task and the engine adapter."""

from modalyze.train.engine import TrainSettings, fit_expert, predict_log_probs

__all__ = ["TrainSettings", "fit_expert", "predict_log_probs"]
