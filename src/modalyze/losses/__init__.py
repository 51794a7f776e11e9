"""Training losses beyond classification: the contrastive family for alignment."""

from modalyze.losses.contrastive import LOSSES, ContrastiveLoss, info_nce, sigmoid_pairs, symile

__all__ = ["LOSSES", "ContrastiveLoss", "info_nce", "sigmoid_pairs", "symile"]
