"""Per-modality encoders, one module per kind, behind a registry."""

from modalyze.encoders import audio, image, tabular, text, timeseries, vector  # noqa: F401  (registers the encoders)
from modalyze.encoders.base import ENCODERS, EncoderOutput, create_encoder, list_encoders, register_encoder

__all__ = ["ENCODERS", "EncoderOutput", "create_encoder", "list_encoders", "register_encoder"]
