"""The fusion contract and registry.

A fusion block is built with ``(names, dim, **options)`` and maps each modality's encoder output
(missing rows already replaced by the inter expert) to one joint representation ``[B, out_dim]``.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from modalyze.errors import ModalyzeError

FUSIONS: dict[str, type[nn.Module]] = {}


def register_fusion(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        FUSIONS[name] = cls
        return cls
    return wrap


def create_fusion(name: str, modalities: list[str], dim: int, **options: Any) -> nn.Module:
    if name not in FUSIONS:
        raise ModalyzeError(f"unknown fusion '{name}' (registered: {', '.join(FUSIONS)})")
    return FUSIONS[name](modalities, dim, **options)


def list_fusions() -> list[str]:
    return list(FUSIONS)
