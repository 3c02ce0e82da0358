"""The journal rule every store backend applies the same way when an append violates a key.

A journal row's `record_id` is stable for (partner, item_id, version), and both are unique. When
a message's own entries are unique among themselves, a violation of either key can only be a
clash with a row already journaled, committed by a concurrent commit (another replica) after
the caller read the items' history: that is `ItemVersionTaken`, which the pipeline answers by
reading the history again. Entries repeating a key among themselves are the caller's bug: a
plain StoreError.
"""

from __future__ import annotations

from collections.abc import Sequence


def clash_is_a_race(record_ids: Sequence[str], versions: Sequence[tuple[str, str, int]]) -> bool:
    """True when a message's entries (their record ids and (partner, item_id, version) keys)
    repeat no journal key among themselves."""
    return len(set(record_ids)) == len(record_ids) and len(set(versions)) == len(versions)
