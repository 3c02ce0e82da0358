"""The domain's sequence bases: a Packed sequence indexes and slices like a list; a Lazy one
is made anew on each pass and indexes by reading through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.domain.sequences import Lazy, Packed


class Squares(Packed[int]):
    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    def _at(self, position: int) -> int:
        return position * position


class Counted(Lazy[int]):
    def __init__(self, n: int) -> None:
        self._n, self.passes = n, 0

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        self.passes += 1
        return iter(range(self._n))


def test_a_packed_sequence_indexes_and_slices_like_a_list() -> None:
    squares, plain = Squares(6), [n * n for n in range(6)]
    assert list(squares) == plain
    for at in (0, 5, -1, -6):
        assert squares[at] == plain[at]
    for part in (slice(1, 4), slice(None, None, -2), slice(10, 20)):
        assert squares[part] == plain[part]
    for at in (6, -7):
        with pytest.raises(IndexError):
            squares[at]
    assert 16 in squares
    assert squares.index(9) == 3


def test_a_lazy_sequence_is_read_through_on_each_index() -> None:
    counted = Counted(4)
    assert (counted[2], counted[-1], counted[1:3]) == (2, 3, [1, 2])
    assert counted.passes == 3
    with pytest.raises(IndexError):
        counted[4]
