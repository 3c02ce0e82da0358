"""The consumer-cursor rule every store backend applies the same way."""

from __future__ import annotations

from gateway.errors import InputError


class AckBeyondJournal(InputError):
    """A consumer acknowledged a position the journal does not hold yet; the cursor is unchanged."""

    def __init__(self, consumer: str, position: int, last_position: int) -> None:
        self.consumer, self.position, self.last_position = consumer, position, last_position
        super().__init__(
            f"consumer {consumer!r} acknowledged position {position}, "
            f"but the journal ends at {last_position}"
        )


def advance(consumer: str, current: int, acked: int, last_position: int) -> int:
    """The cursor after `consumer` acknowledges `acked`: never backward, never past the journal.

    Raises AckBeyondJournal when `acked` > `last_position`.
    """
    if acked > last_position:
        raise AckBeyondJournal(consumer, acked, last_position)
    return max(current, acked)
