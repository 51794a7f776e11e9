"""The fusion contract and registry.

A fusion block is built with ``(names, dim, **options)`` and maps each modality's encoder output
(missing rows already replaced by the inter expert) to one joint representation ``[B, out_dim]``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from modalyze.registry import Registry

FUSIONS: Registry[type[nn.Module]] = Registry("fusion")
register_fusion = FUSIONS.register


def create_fusion(name: str, modalities: list[str], dim: int, **options: Any) -> nn.Module:
    return FUSIONS.get(name)(modalities, dim, **options)


def list_fusions() -> list[str]:
    return FUSIONS.names()
