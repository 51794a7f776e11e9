"""Fusion blocks for the inter expert, one module per family, behind a registry.

Every module of this package is imported, and so registered: a new block is one new file.
"""

from modalyze.fusion.base import FUSIONS, create_fusion, list_fusions, register_fusion
from modalyze.registry import import_submodules

# late first: the reference block (effective robustness, the first row of `modalyze compare`)
import_submodules(__name__, __path__, first=("late", "early"))

__all__ = ["FUSIONS", "create_fusion", "list_fusions", "register_fusion"]
