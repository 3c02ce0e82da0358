"""The Store contract (gateway.ports): every backend passes every test here, or the feature
does not exist (ARCHITECTURE principle 4)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.store.rejections import MAX_DETAIL_CHARS, MAX_FIELD_CHARS, prune_every
from gateway.domain.journal import ItemState, JournalEntry, MessageRecord, RecordRow
from gateway.domain.messages import ItemFunction
from gateway.errors import AckBeyondJournal, DuplicateMessage, ItemVersionTaken, StoreError
from gateway.ports import Store
from tests.builders import OTHER_PARTNER, make_entries, make_entry, make_message, make_rejection
from tests.contract.conftest import Backend, MakeBackend, StoreOptions


async def _all_entries(store: Store) -> list[JournalEntry]:
    return [row.entry for row in await store.read_journal(0, 1_000_000)]


async def test_commit_returns_positions_and_reads_back_in_order(store: Store) -> None:
    message = make_message()
    entries = make_entries(message, 5)

    positions = await store.commit_message(message, entries)

    rows = await store.read_journal(0, 100)
    assert [row.position for row in rows] == positions
    assert [row.entry for row in rows] == entries
    assert await store.last_position() == positions[-1]


async def test_positions_strictly_increase_and_are_contiguous_per_commit(store: Store) -> None:
    first, second = make_message("M1"), make_message("M2")

    p1 = await store.commit_message(first, make_entries(first, 3))
    p2 = await store.commit_message(second, make_entries(second, 4, first=10))

    assert p1 == list(range(p1[0], p1[0] + 3))
    assert p2 == list(range(p2[0], p2[0] + 4))
    assert p1[0] >= 1
    assert p2[0] > p1[-1]


async def test_concurrent_commits_get_distinct_ordered_positions(store: Store) -> None:
    messages = [make_message(f"M{n}") for n in range(20)]
    batches = [make_entries(m, 3, first=10 * n) for n, m in enumerate(messages)]

    results = await asyncio.gather(
        *(store.commit_message(m, b) for m, b in zip(messages, batches, strict=True))
    )

    for positions in results:
        assert positions == list(range(positions[0], positions[0] + 3))
    flat = sorted(p for positions in results for p in positions)
    assert len(set(flat)) == 60
    rows = await store.read_journal(0, 100)
    assert [row.position for row in rows] == flat


async def _settle_all(
    store: Store, messages: list[MessageRecord], batches: list[list[JournalEntry]]
) -> list[list[int] | BaseException]:
    """Commit every message concurrently (one gather: the writer sees them all at once)."""
    return await asyncio.gather(
        *(store.commit_message(m, b) for m, b in zip(messages, batches, strict=True)),
        return_exceptions=True,
    )


async def test_many_concurrent_commits_all_land_each_contiguous_in_journal_order(
    store: Store,
) -> None:
    messages = [make_message(f"M{n:03d}") for n in range(200)]
    batches = [make_entries(m, 1 + n % 4, first=10 * n) for n, m in enumerate(messages)]

    results = await _settle_all(store, messages, batches)

    by_position: dict[int, JournalEntry] = {}
    for positions, entries in zip(results, batches, strict=True):
        assert isinstance(positions, list)
        assert positions == list(range(positions[0], positions[0] + len(entries)))
        by_position.update(zip(positions, entries, strict=True))
    rows = await store.read_journal(0, 10_000)
    assert [row.position for row in rows] == sorted(by_position)
    assert [row.entry for row in rows] == [by_position[row.position] for row in rows]
    firsts = [positions[0] for positions in results if isinstance(positions, list)]
    assert firsts == sorted(firsts)  # positions follow the order the commits were made in
    for message in messages:
        assert await store.find_message(message.partner, message.message_id) is not None


async def test_a_duplicate_message_id_among_concurrent_commits_fails_only_its_loser(
    store: Store,
) -> None:
    first = make_message("M-TWICE", content_digest="sha-256=:first:")
    second = make_message("M-TWICE", content_digest="sha-256=:second:", status="REJECTED")
    messages = [make_message(f"M{n}") for n in range(10)]
    messages[3:3] = [first]
    messages[7:7] = [second]
    batches = [make_entries(m, 2, first=10 * n) for n, m in enumerate(messages)]

    results = await _settle_all(store, messages, batches)

    twice = {messages.index(first), messages.index(second)}
    (winner,) = [i for i in twice if isinstance(results[i], list)]
    (loser,) = twice - {winner}
    failure = results[loser]
    assert isinstance(failure, DuplicateMessage)
    assert failure.existing.receipt == messages[winner].receipt
    assert failure.existing.content_digest == messages[winner].content_digest
    stored = await store.find_message(first.partner, "M-TWICE")
    assert stored is not None
    assert stored.receipt == messages[winner].receipt
    landed = [e for i, b in enumerate(batches) if i != loser for e in b]
    assert sorted(await _all_entries(store), key=lambda e: e.item_id) == sorted(
        landed, key=lambda e: e.item_id
    )
    assert all(isinstance(r, list) for i, r in enumerate(results) if i != loser)


async def test_a_failing_message_among_concurrent_commits_fails_only_its_caller(
    store: Store,
) -> None:
    messages = [make_message(f"M{n}") for n in range(12)]
    batches = [make_entries(m, 3, first=10 * n) for n, m in enumerate(messages)]
    bad = messages[5]
    batches[5] = [make_entry("X1", message=bad, record_id="r"), make_entry("X2", message=bad)]
    batches[5].append(make_entry("X3", message=bad, record_id="r"))

    results = await _settle_all(store, messages, batches)

    failure = results[5]
    assert isinstance(failure, StoreError)
    assert not isinstance(failure, DuplicateMessage)
    assert await store.find_message(bad.partner, bad.message_id) is None
    assert await store.item_states(bad.partner, ["X1", "X2", "X3"]) == {}
    good = [r for i, r in enumerate(results) if i != 5]
    assert all(isinstance(r, list) for r in good)
    flat = [p for r in good if isinstance(r, list) for p in r]
    assert [row.position for row in await store.read_journal(0, 1000)] == sorted(flat)
    assert len(flat) == 33
    # Nothing of the failed message was kept: corrected, it commits.
    assert len(await store.commit_message(bad, make_entries(bad, 2, first=500))) == 2


async def test_acks_and_rejections_interleave_with_concurrent_commits(store: Store) -> None:
    first = make_message("M-FIRST")
    (start,) = await store.commit_message(first, make_entries(first, 1, first=9000))
    messages = [make_message(f"M{n}") for n in range(30)]
    commits = [
        store.commit_message(m, make_entries(m, 2, first=10 * n)) for n, m in enumerate(messages)
    ]
    others = [store.ack("customs-risk", start), store.record_rejection(make_rejection("R1"))]

    results = await asyncio.gather(*commits, *others)

    assert all(isinstance(r, list) for r in results[:30])
    assert await store.get_cursor("customs-risk") == start
    assert await store.rejections() == [make_rejection("R1")]
    assert await store.last_position() == start + 60


async def test_duplicate_message_raises_with_the_original_and_stores_nothing(
    store: Store,
) -> None:
    original = make_message("M1", status="PARTIALLY_ACCEPTED")
    await store.commit_message(original, make_entries(original, 2))
    resend = make_message("M1", content_digest="sha-256=:other:", status="ACCEPTED")

    with pytest.raises(DuplicateMessage) as caught:
        await store.commit_message(resend, make_entries(resend, 3, first=100))

    existing = caught.value.existing
    assert existing.content_digest == original.content_digest
    assert existing.receipt == original.receipt
    assert existing.http_status == original.http_status
    assert (existing.partner, existing.message_id) == (original.partner, "M1")
    assert not caught.value.retriable
    assert await store.last_position() == 2
    assert await store.find_message(original.partner, "M1") == existing


async def test_a_large_receipt_is_kept_byte_for_byte_and_still_refuses_a_duplicate(
    store: Store,
) -> None:
    """A 40,000-item message's receipt runs to megabytes (SQLite writes it in pieces)."""
    original = make_message("M-LARGE")
    receipt = bytes(range(256)) * (3 * 1024 * 1024 // 256 + 7)  # 3 MiB and a bit, every byte
    large = replace(original, receipt=receipt)
    await store.commit_message(large, make_entries(large, 2))

    found = await store.find_message(large.partner, "M-LARGE")
    assert found is not None
    assert found.receipt == receipt
    with pytest.raises(DuplicateMessage) as caught:
        await store.commit_message(replace(large, content_digest="sha-256=:b:"), [])
    assert caught.value.existing.receipt == receipt
    assert await store.last_position() == 2


async def test_same_message_id_from_another_partner_is_another_message(store: Store) -> None:
    ours, theirs = make_message("M1"), make_message("M1", partner=OTHER_PARTNER)

    await store.commit_message(ours, make_entries(ours, 1))
    await store.commit_message(theirs, make_entries(theirs, 1))

    found = await store.find_message(OTHER_PARTNER, "M1")
    assert found is not None
    assert found.receipt == theirs.receipt
    assert await store.last_position() == 2


async def test_find_message_returns_none_when_unknown(store: Store) -> None:
    assert await store.find_message("gb-royal-mail", "never-sent") is None


async def test_item_states_give_the_latest_version_and_function(store: Store) -> None:
    m1, m2, m3 = make_message("M1"), make_message("M2"), make_message("M3")
    foreign = make_message("F1", partner=OTHER_PARTNER)
    await store.commit_message(m1, [make_entry("A", 1, message=m1), make_entry("B", 1, message=m1)])
    await store.commit_message(
        m2, [make_entry("A", 2, message=m2, function=ItemFunction.AMENDMENT)]
    )
    cancel = make_entry("A", 3, message=m3, function=ItemFunction.CANCELLATION)
    await store.commit_message(m3, [cancel])
    await store.commit_message(foreign, [make_entry("C", 7, message=foreign)])

    states = await store.item_states("gb-royal-mail", ["A", "B", "C", "unknown"])

    assert states == {
        "A": ItemState(3, ItemFunction.CANCELLATION),
        "B": ItemState(1, ItemFunction.ORIGINAL),
    }
    assert await store.item_states(OTHER_PARTNER, iter(["C"])) == {
        "C": ItemState(7, ItemFunction.ORIGINAL)
    }
    assert await store.item_states("gb-royal-mail", []) == {}


async def test_item_states_answer_for_more_ids_than_one_query_binds(store: Store) -> None:
    message = make_message()
    entries = make_entries(message, 1500)
    await store.commit_message(message, entries)

    states = await store.item_states(message.partner, [e.item_id for e in entries] + ["nope"])

    assert len(states) == 1500
    assert states["ITEM001500"] == ItemState(1, ItemFunction.ORIGINAL)


async def test_item_history_is_oldest_first_and_filtered_by_partner(store: Store) -> None:
    m1, m2 = make_message("M1"), make_message("M2")
    foreign = make_message("F1", partner=OTHER_PARTNER)
    await store.commit_message(m1, [make_entry("A", 1, message=m1), make_entry("B", 1, message=m1)])
    await store.commit_message(foreign, [make_entry("A", 1, message=foreign)])
    await store.commit_message(
        m2, [make_entry("A", 2, message=m2, function=ItemFunction.AMENDMENT)]
    )

    ours = await store.item_history("A", "gb-royal-mail")
    everyone = await store.item_history("A")

    assert [(r.entry.partner, r.entry.version) for r in ours] == [
        ("gb-royal-mail", 1),
        ("gb-royal-mail", 2),
    ]
    assert [r.entry.partner for r in everyone] == ["gb-royal-mail", OTHER_PARTNER, "gb-royal-mail"]
    assert [r.position for r in everyone] == sorted(r.position for r in everyone)
    assert await store.item_history("nobody") == []


async def test_cursor_is_zero_until_acknowledged_then_only_moves_forward(store: Store) -> None:
    message = make_message()
    await store.commit_message(message, make_entries(message, 10))
    assert await store.get_cursor("customs-risk") == 0

    await store.ack("customs-risk", 7)
    await store.ack("customs-risk", 3)

    assert await store.get_cursor("customs-risk") == 7
    assert await store.get_cursor("statistics") == 0
    await store.ack("customs-risk", 10)
    assert await store.get_cursor("customs-risk") == 10


async def test_ack_beyond_the_last_position_is_refused(store: Store) -> None:
    message = make_message()
    await store.commit_message(message, make_entries(message, 2))
    await store.ack("customs-risk", 1)

    with pytest.raises(AckBeyondJournal) as caught:
        await store.ack("customs-risk", 3)

    assert isinstance(caught.value, ValueError)
    assert (caught.value.position, caught.value.last_position) == (3, 2)
    assert await store.get_cursor("customs-risk") == 1


async def test_ack_on_an_empty_journal_is_refused(store: Store) -> None:
    with pytest.raises(AckBeyondJournal):
        await store.ack("customs-risk", 1)
    await store.ack("customs-risk", 0)
    assert await store.get_cursor("customs-risk") == 0


async def test_read_journal_honours_after_and_limit(store: Store) -> None:
    message = make_message()
    positions = await store.commit_message(message, make_entries(message, 10))

    page = await store.read_journal(positions[2], 4)

    assert [row.position for row in page] == positions[3:7]
    assert await store.read_journal(positions[-1], 10) == []
    assert await store.read_journal(0, 0) == []
    assert len(await store.read_journal(0, 1000)) == 10


async def test_message_without_entries_keeps_message_and_receipt(store: Store) -> None:
    rejected = make_message("M-REJ", status="REJECTED", http_status=422)

    positions = await store.commit_message(rejected, [])

    assert positions == []
    found = await store.find_message(rejected.partner, "M-REJ")
    assert found is not None
    assert (found.http_status, found.receipt) == (422, rejected.receipt)
    assert await store.last_position() == 0


async def test_data_and_cursors_survive_close_and_reopen(backend: Backend, store: Store) -> None:
    message = make_message()
    entries = make_entries(message, 3)
    await store.commit_message(message, entries)
    await store.ack("customs-risk", 2)

    reopened = await backend.reopen(store)

    assert await _all_entries(reopened) == entries
    assert await reopened.get_cursor("customs-risk") == 2
    found = await reopened.find_message(message.partner, message.message_id)
    assert found is not None
    assert found.receipt == message.receipt
    with pytest.raises(DuplicateMessage):
        await reopened.commit_message(message, [])


async def test_positions_continue_after_reopen(backend: Backend, store: Store) -> None:
    m1, m2 = make_message("M1"), make_message("M2")
    first = await store.commit_message(m1, make_entries(m1, 2))

    reopened = await backend.reopen(store)
    second = await reopened.commit_message(m2, make_entries(m2, 2, first=5))

    assert second[0] > first[-1]


@pytest.mark.parametrize(
    "amount",
    ["0.10", "0", "0.00", "12.5", "1E+2", "-3.000", "123456789012345678901234567890.000000001"],
)
async def test_decimal_values_round_trip_exactly(store: Store, amount: str) -> None:
    message = make_message()
    await store.commit_message(message, [make_entry(message=message, value=Decimal(amount))])

    (row,) = await store.read_journal(0, 1)

    assert str(row.entry.value_amount) == amount
    assert isinstance(row.entry.value_amount, Decimal)


@pytest.mark.parametrize(
    "codes", [(), ("GB",), ("61", "95"), ("",), ("", ""), ("a,b",), ("[x", "y"), ('"q"', "]")]
)
async def test_code_lists_round_trip_exactly(store: Store, codes: tuple[str, ...]) -> None:
    message = make_message()
    await store.commit_message(message, [make_entry(message=message, hs_chapters=codes)])

    (row,) = await store.read_journal(0, 1)

    assert row.entry.hs_chapters == codes


async def test_failed_commit_with_a_repeated_record_id_leaves_nothing(store: Store) -> None:
    message = make_message("M1")
    clash = [make_entry("A", message=message), make_entry("B", message=message, record_id="x")]
    clash.append(make_entry("C", message=message, record_id="x"))

    with pytest.raises(StoreError) as caught:
        await store.commit_message(message, clash)

    assert not isinstance(caught.value, DuplicateMessage | ItemVersionTaken)  # the caller's bug
    assert await store.find_message(message.partner, "M1") is None
    assert await store.last_position() == 0
    assert await store.item_states(message.partner, ["A", "B"]) == {}


async def test_failed_commit_with_a_journaled_item_version_leaves_nothing(store: Store) -> None:
    m1, m2 = make_message("M1"), make_message("M2")
    await store.commit_message(m1, [make_entry("A", 1, message=m1)])
    again = [make_entry("B", 1, message=m2), make_entry("A", 1, message=m2, record_id="other")]

    with pytest.raises(ItemVersionTaken):  # the caller re-reads the history and decides again
        await store.commit_message(m2, again)

    assert await store.find_message(m2.partner, "M2") is None
    assert await store.last_position() == 1
    # Nothing of M2 was kept, so it can be committed once its items are right.
    positions = await store.commit_message(m2, [make_entry("B", 1, message=m2)])
    assert positions[0] > 1


async def test_a_record_id_already_journaled_is_an_item_version_taken(store: Store) -> None:
    m1, m2 = make_message("M1"), make_message("M2")
    await store.commit_message(m1, [make_entry("A", 1, message=m1)])
    again = [make_entry("B", 1, message=m2), make_entry("A", 1, message=m2)]  # same record id

    with pytest.raises(ItemVersionTaken):
        await store.commit_message(m2, again)

    assert await store.find_message(m2.partner, "M2") is None
    assert await store.last_position() == 1


async def test_ping_succeeds_when_open_and_fails_when_closed(store: Store) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(StoreError):
        await store.ping()
    with pytest.raises(StoreError):
        await store.commit_message(make_message(), [])


async def test_close_is_idempotent(store: Store) -> None:
    await store.close()
    await store.close()


# Rejection records: refused requests, kept for operators, bounded in number and size.


async def test_a_rejection_round_trips_every_field(store: Store) -> None:
    full = make_rejection(at=datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC))
    offset = timezone(timedelta(hours=5, minutes=30))
    anonymous = make_rejection(
        "no such key",
        at=datetime(2026, 11, 27, 10, 0, 1, tzinfo=offset),
        http_status=401,
        reason="unknown-key",
        partner=None,
        keyid=None,
        message_id=None,
        content_digest=None,
        peer=None,
    )

    await store.record_rejection(full)
    await store.record_rejection(anonymous)

    newest, oldest = await store.rejections()
    assert (newest, oldest) == (anonymous, full)
    assert newest.at.utcoffset() == timedelta(hours=5, minutes=30)
    assert oldest.at.tzinfo is not None


async def test_rejections_come_newest_first_and_honour_the_limit(store: Store) -> None:
    for n in range(7):
        await store.record_rejection(make_rejection(f"R{n}"))

    assert [r.detail for r in await store.rejections()] == [f"R{n}" for n in range(6, -1, -1)]
    assert [r.detail for r in await store.rejections(limit=3)] == ["R6", "R5", "R4"]
    assert await store.rejections(limit=0) == []
    assert [r.detail for r in await store.rejections(1)] == ["R6"]


async def test_rejections_are_empty_until_one_is_recorded(store: Store) -> None:
    assert await store.rejections() == []


@pytest.mark.parametrize("bound", [1, 3, 25])
async def test_pruning_keeps_the_newest_rejections_within_the_bound(
    make_backend: MakeBackend, bound: int
) -> None:
    store = await make_backend(StoreOptions(max_rejections=bound)).open()
    least = bound - prune_every(bound) + 1  # a backend may prune in batches, down to this

    for n in range(4 * bound + 3):
        await store.record_rejection(make_rejection(f"R{n}"))
        kept = [r.detail for r in await store.rejections(limit=10 * bound)]
        assert min(n + 1, least) <= len(kept) <= bound
        assert kept == [f"R{m}" for m in range(n, n - len(kept), -1)]


async def test_rejections_survive_reopen_and_stay_bounded(make_backend: MakeBackend) -> None:
    backend = make_backend(StoreOptions(max_rejections=10))
    store = await backend.open()
    for n in range(15):
        await store.record_rejection(make_rejection(f"R{n}"))

    least = 10 - prune_every(10) + 1  # a backend may prune in batches, down to this
    before = [r.detail for r in await store.rejections(limit=100)]
    reopened = await backend.reopen(store)
    survived = [r.detail for r in await reopened.rejections(limit=100)]
    assert survived == before
    assert survived[:least] == [f"R{n}" for n in range(14, 14 - least, -1)]
    for n in range(15, 30):
        await reopened.record_rejection(make_rejection(f"R{n}"))

    kept = [r.detail for r in await reopened.rejections(limit=100)]
    assert least <= len(kept) <= 10
    assert kept == [f"R{n}" for n in range(29, 29 - len(kept), -1)]


async def test_a_rejection_never_touches_the_journal_or_messages(store: Store) -> None:
    message = make_message("M1")
    await store.commit_message(message, make_entries(message, 2))
    await store.ack("customs-risk", 1)

    await store.record_rejection(make_rejection(message_id="M2", http_status=409))
    await store.record_rejection(make_rejection(message_id="M1", reason="replayed"))

    assert await store.last_position() == 2
    assert await store.find_message(message.partner, "M2") is None
    found = await store.find_message(message.partner, "M1")
    assert found is not None
    assert found.receipt == message.receipt
    assert await store.get_cursor("customs-risk") == 1
    # A rejection does not make its message id a duplicate: the resend may still be accepted.
    retry = make_message("M2")
    assert await store.commit_message(retry, make_entries(retry, 1, first=10)) == [3]


async def test_oversized_rejection_fields_are_cut_to_their_bounds(store: Store) -> None:
    huge = "x" * 100_000

    await store.record_rejection(make_rejection(huge, keyid=huge, peer=huge, route=huge))

    (kept,) = await store.rejections()
    assert len(kept.detail) == MAX_DETAIL_CHARS
    assert kept.detail.endswith("…")
    assert kept.keyid is not None
    assert kept.peer is not None
    assert len(kept.keyid) == len(kept.peer) == len(kept.route) == MAX_FIELD_CHARS
    assert kept.partner == make_rejection().partner  # short fields are kept as they are


async def test_a_naive_rejection_time_is_refused(store: Store) -> None:
    naive = make_rejection(at=datetime(2026, 11, 27, 10, 0))  # noqa: DTZ001 (the point)

    with pytest.raises(ValueError, match="timezone-aware"):
        await store.record_rejection(naive)

    assert await store.rejections() == []


async def test_recording_a_rejection_on_a_closed_store_fails(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreError):
        await store.record_rejection(make_rejection())
    with pytest.raises(StoreError):
        await store.rejections()


class OnDemand(Sequence[JournalEntry]):
    """Entries given as a lazy sequence (as a streamed message's, read from a file each time it
    is iterated): counts the iterations, holds no list the store could lean on."""

    def __init__(self, entries: list[JournalEntry]) -> None:
        self._entries, self.iterations = tuple(entries), 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        self.iterations += 1
        yield from self._entries

    def __getitem__(self, at: Any) -> Any:
        return self._entries[at]


async def test_entries_given_as_a_lazy_sequence_commit_like_a_list(store: Store) -> None:
    message = make_message()
    entries = make_entries(message, 40)
    lazy = OnDemand(entries)

    positions = await store.commit_message(message, lazy)

    rows = await store.read_journal(0, 100)
    assert [row.position for row in rows] == positions
    assert [row.entry for row in rows] == entries
    assert lazy.iterations >= 1


async def test_a_lazy_sequence_with_a_journaled_item_version_is_an_item_version_taken(
    store: Store,
) -> None:
    m1, m2 = make_message("M1"), make_message("M2")
    await store.commit_message(m1, [make_entry("A", 1, message=m1)])
    again = OnDemand([make_entry("B", 1, message=m2), make_entry("A", 1, message=m2)])

    with pytest.raises(ItemVersionTaken):
        await store.commit_message(m2, again)

    assert await store.find_message(m2.partner, "M2") is None
    assert await store.last_position() == 1


async def test_a_large_lazy_message_among_others_gets_its_positions_in_order(
    store: Store,
) -> None:
    """A streamed message's thousands of entries, read once, in the same group commit as small
    messages (PostgreSQL sends them in chunks of INSERT_CHUNK)."""
    big = make_message("BIG")
    lazy = OnDemand(make_entries(big, 4_500, first=10_000))
    small = [make_message(f"S{n}") for n in range(3)]
    batches: list[Sequence[JournalEntry]] = [
        make_entries(m, 2, first=10 * n) for n, m in enumerate(small)
    ]

    results = await asyncio.gather(
        store.commit_message(small[0], batches[0]),
        store.commit_message(big, lazy),
        *(store.commit_message(m, b) for m, b in zip(small[1:], batches[1:], strict=True)),
    )

    by_position = {row.position: row.entry for row in await store.read_journal(0, 10_000)}
    given = [batches[0], lazy, *batches[1:]]
    for positions, entries in zip(results, given, strict=True):
        assert positions == sorted(positions)
        assert [by_position[p] for p in positions] == list(entries)


async def test_records_read_for_the_fold_are_the_journal_rows_reduced(store: Store) -> None:
    message = make_message()
    entries = [
        make_entry("A", 1, message=message),
        make_entry("A", 2, message=message, function=ItemFunction.AMENDMENT),
        make_entry("B", 1, message=message),
    ]
    await store.commit_message(message, entries)

    for after, limit in [(0, 10), (1, 1), (3, 5), (0, 0)]:
        rows = await store.read_journal(after, limit)
        records = await store.read_records(after, limit)
        assert records == [
            RecordRow(r.position, r.entry.partner, r.entry.item_id, r.entry.function,
                      r.entry.envelope)
            for r in rows
        ]  # fmt: skip
        assert len(records) == min(limit, max(3 - after, 0))
