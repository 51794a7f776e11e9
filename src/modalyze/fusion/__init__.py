"""Fusion blocks for the inter expert, one module per family, behind a registry."""

from modalyze.fusion import late  # noqa: F401  (registers the blocks)
from modalyze.fusion.base import FUSIONS, create_fusion, list_fusions, register_fusion

__all__ = ["FUSIONS", "create_fusion", "list_fusions", "register_fusion"]
