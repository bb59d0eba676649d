"""Plain name → class tables filled by a decorator (editors, inference backends)."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class UnknownName(ConfigError):
    """A name no plug-in registered; the message lists the known ones."""


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._table: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if name in self._table:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._table[name] = cls
            cls.name = name  # type: ignore[attr-defined]
            return cls

        return deco

    def get(self, name: str) -> type[T]:
        try:
            return self._table[name]
        except KeyError:
            raise UnknownName(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._table))}"
            ) from None

    def create(self, spec: str, **kwargs) -> T:
        """Build from 'name' or 'name:argument' (e.g. 'neural:engines/alice')."""
        name, _, arg = spec.partition(":")
        cls = self.get(name)
        return cls(arg, **kwargs) if arg else cls(**kwargs)  # type: ignore[call-arg]

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: str) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)
