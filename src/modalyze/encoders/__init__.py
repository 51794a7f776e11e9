"""Per-modality encoders, one module per kind, behind a registry.

Every module of this package is imported, and so registered: a new kind's encoder is one new file.
"""

from modalyze.encoders.base import ENCODERS, EncoderOutput, create_encoder, list_encoders, register_encoder
from modalyze.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["ENCODERS", "EncoderOutput", "create_encoder", "list_encoders", "register_encoder"]
