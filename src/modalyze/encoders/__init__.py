"""Per-modality encoders, one module per kind, behind a registry."""

from modalyze.encoders import audio, image, pretrained, tabular, text, timeseries, vector  # noqa: F401  (registers)
from modalyze.encoders.base import ENCODERS, EncoderOutput, create_encoder, list_encoders, register_encoder

__all__ = ["ENCODERS", "EncoderOutput", "create_encoder", "list_encoders", "register_encoder"]
