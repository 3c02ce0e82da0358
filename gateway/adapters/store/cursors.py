"""The consumer-cursor rule every store backend applies the same way."""

from __future__ import annotations

from gateway.errors import AckBeyondJournal


def advance(consumer: str, current: int, acked: int, last_position: int) -> int:
    """The cursor after `consumer` acknowledges `acked`: never backward, never past the journal.

    Raises AckBeyondJournal when `acked` > `last_position`.
    """
    if acked > last_position:
        raise AckBeyondJournal(consumer, acked, last_position)
    return max(current, acked)
