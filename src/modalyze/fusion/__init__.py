"""Fusion blocks for the inter expert, one module per family, behind a registry."""

# importing a block registers it; the order is the order `modalyze compare` trains them in
from modalyze.fusion import late  # noqa: F401, I001
from modalyze.fusion import early  # noqa: F401
from modalyze.fusion import cross_attention  # noqa: F401
from modalyze.fusion import tensor  # noqa: F401
from modalyze.fusion import low_rank  # noqa: F401
from modalyze.fusion.base import FUSIONS, create_fusion, list_fusions, register_fusion

__all__ = ["FUSIONS", "create_fusion", "list_fusions", "register_fusion"]
