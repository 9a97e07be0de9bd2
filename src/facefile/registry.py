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
        self._prefixes: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> None:
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._factories[name] = factory

    def register_prefix(self, prefix: str, factory: Callable[..., T]) -> None:
        """Register names of the form ``prefix:ARG``; ``factory(ARG, **kwargs)`` builds them."""
        if prefix in self._prefixes:
            raise ValueError(f"{self.kind} prefix {prefix!r} is registered twice")
        self._prefixes[prefix] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a registered name or of a registered ``prefix:ARG`` form."""
        prefix, sep, _ = name.partition(":")
        return name in self._factories or bool(sep and prefix in self._prefixes)

    def create(self, name: str, **kwargs: object) -> T:
        prefix, sep, arg = name.partition(":")
        if sep and prefix in self._prefixes and name not in self._factories:
            return self._prefixes[prefix](arg, **kwargs)
        try:
            factory = self._factories[name]
        except KeyError:
            forms = self.names() + [f"{p}:PATH" for p in sorted(self._prefixes)]
            raise UnknownBackendError(
                f"Unknown {self.kind} {name!r}; available: {', '.join(forms)} (set {self.flag})."
            ) from None
        return factory(**kwargs)
