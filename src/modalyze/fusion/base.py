"""The fusion contract and registry.

A fusion block is built with ``(names, dim, **options)`` (plus ``kinds``, modality -> kind, when its
constructor takes them) and maps each modality's encoder output
(missing rows already replaced by the inter expert) to one joint representation ``[B, out_dim]``.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from modalyze.registry import Registry

FUSIONS: Registry[type[nn.Module]] = Registry("fusion")
register_fusion = FUSIONS.register


def create_fusion(name: str, modalities: list[str], dim: int, kinds: dict[str, str] | None = None,
                  **options: Any) -> nn.Module:
    """The block ``name``; a block whose constructor takes ``kinds`` (modality -> kind) is given them."""
    block = FUSIONS.get(name)
    if kinds is not None and "kinds" in inspect.signature(block).parameters:
        options = {**options, "kinds": kinds}
    return block(modalities, dim, **options)


def list_fusions() -> list[str]:
    return FUSIONS.names()
