"""Sequences that do not hold their elements as objects: packed (arrays, bytes end to end,
each element made on access) or lazy (made anew on each pass, e.g. read from a file)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class Packed(Sequence[T]):
    """Indexing (negative indexes too) and slicing for a packed sequence: a subclass gives
    `__len__` and `_at`, the element at a position in range."""

    __slots__ = ()

    @abstractmethod
    def _at(self, position: int) -> T: ...

    @overload
    def __getitem__(self, at: int) -> T: ...

    @overload
    def __getitem__(self, at: slice) -> list[T]: ...

    def __getitem__(self, at: int | slice) -> T | list[T]:
        if isinstance(at, slice):
            return [self._at(n) for n in range(*at.indices(len(self)))]
        size = len(self)
        if not -size <= at < size:
            raise IndexError(at)
        return self._at(at % size)

    def __iter__(self) -> Iterator[T]:
        return map(self._at, range(len(self)))


class Lazy(Sequence[T]):
    """A sequence made anew on each pass (read from a file, mapped over another): a subclass
    gives `__len__` and `__iter__`. Indexing reads it through, for tests and tools; the hot
    paths only iterate."""

    __slots__ = ()

    @overload
    def __getitem__(self, at: int) -> T: ...

    @overload
    def __getitem__(self, at: slice) -> list[T]: ...

    def __getitem__(self, at: int | slice) -> T | list[T]:
        return list(self)[at]
