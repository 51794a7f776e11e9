"""A name -> object registry (timm style): ``register`` as a decorator, ``get`` with a clear error."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Iterable, TypeVar

from modalyze.errors import ModalyzeError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one family (encoders, fusion blocks, ...); unknown names list the known ones."""

    def __init__(self, family: str, load: Callable[[], None] | None = None):
        self.family = family
        self._entries: dict[str, T] = {}
        self._load = load  # called once, before the first lookup: imports the modules that register entries

    @property
    def entries(self) -> dict[str, T]:
        if self._load is not None:
            load, self._load = self._load, None
            load()
        return self._entries

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(entry: T) -> T:
            self._entries[name] = entry
            return entry
        return wrap

    def get(self, name: str) -> T:
        if name not in self.entries:
            from modalyze.options import suggest

            raise ModalyzeError(f"unknown {self.family} '{name}'{suggest(str(name), self.names())} "
                                f"(registered: {', '.join(self.entries)})")
        return self.entries[name]

    def names(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries


def import_submodules(package: str, path: Iterable[str], skip: tuple[str, ...] = ("base",),
                      first: tuple[str, ...] = ()) -> None:
    """Import every module of a package (``first`` ones first, then by name), so a new entry that
    registers itself where it is defined needs no other file changed."""
    names = sorted((m.name for m in pkgutil.iter_modules(path) if m.name not in skip),
                   key=lambda n: (n not in first, first.index(n) if n in first else 0, n))
    for name in names:
        importlib.import_module(f"{package}.{name}")
