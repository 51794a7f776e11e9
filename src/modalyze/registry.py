"""A name -> object registry (timm style): ``register`` as a decorator, ``get`` with a clear error."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from modalyze.errors import ModalyzeError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one family (encoders, fusion blocks, ...); unknown names list the known ones."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def wrap(entry: T) -> T:
            self._entries[name] = entry
            return entry
        return wrap

    def get(self, name: str) -> T:
        if name not in self._entries:
            from modalyze.options import suggest

            raise ModalyzeError(f"unknown {self.family} '{name}'{suggest(str(name), self.names())} "
                                f"(registered: {', '.join(self._entries)})")
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
