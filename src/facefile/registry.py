"""Name -> factory registries for swappable stages.

Built-in backends register exactly like outside ones. Looking up an unknown
name raises; nothing silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from facefile.errors import UnknownBackendError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories of one kind of stage, by name."""

    def __init__(self, kind: str, flag: str) -> None:
        self.kind = kind
        self.flag = flag
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> None:
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, **kwargs: object) -> T:
        try:
            factory = self._factories[name]
        except KeyError:
            raise UnknownBackendError(
                f"Unknown {self.kind} {name!r}; available: {', '.join(self.names())} (set {self.flag})."
            ) from None
        return factory(**kwargs)
