"""The arrival roles of the Store contract (gateway/adapters/store/arrivals.py): every backend
passes every test here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from gateway.domain.arrivals import (
    ArrivalCommit,
    ArrivalResult,
    Coverage,
    arrival_week,
    origin_country,
)
from gateway.domain.decisions import EventEntry, EventKind, EventRow, no_aed_event_id
from gateway.domain.journal import JournalRow
from gateway.domain.messages import ItemFunction
from gateway.ports import Store
from tests.builders import PARTNER, RECEIVED_AT, make_entry, make_message

ITEM = "RB123456785GB"  # journaled by _journaled, its AED received at RECEIVED_AT
UNKNOWN = "RR000000000FR"  # never declared


def _commit(
    item_id: str = ITEM, arrived_at: datetime | None = None, *, partner: str = PARTNER
) -> ArrivalCommit:
    when = arrived_at or RECEIVED_AT + timedelta(hours=1)
    country = origin_country(item_id)
    event_id = no_aed_event_id(item_id, when.astimezone(UTC))
    event = EventEntry(
        event_id=event_id, kind=EventKind.NO_AED, partner=partner, item_id=item_id, version=0,
        category="", hs_chapters=(), origin_countries=(country,), value_amount=Decimal(0),
        value_currency="", envelope=f"env:{event_id}".encode(),
    )  # fmt: skip
    return ArrivalCommit(
        item_id=item_id, arrived_at=when, office="USJFKA", reported_by="domestic-post",
        week=arrival_week(when), partner=partner, origin_country=country, event=event,
    )  # fmt: skip


async def _journaled(store: Store, item_id: str = ITEM) -> int:
    message = make_message()
    [position] = await store.commit_message(message, [make_entry(item_id, message=message)])
    return position


async def test_an_arrival_after_its_aed_is_counted_with_its_lead_time(store: Store) -> None:
    journaled = await _journaled(store)
    lead = timedelta(hours=30, milliseconds=250, microseconds=999)  # stored in whole ms

    [result] = await store.commit_arrivals([_commit(arrived_at=RECEIVED_AT + lead)])

    exact = timedelta(hours=30, milliseconds=250)
    assert result == ArrivalResult(ITEM, with_aed=True, replayed=False, position=0, lead=exact)
    assert await store.read_events(0, 10) == []
    assert await store.last_position() == journaled
    assert await store.arrival_coverage() == [
        Coverage(arrival_week(RECEIVED_AT + lead), PARTNER, "GB", 1, 1, exact)
    ]


async def test_an_arrival_without_aed_before_it_journals_its_no_aed_event(store: Store) -> None:
    journaled = await _journaled(store)
    before = _commit(arrived_at=RECEIVED_AT - timedelta(minutes=5))
    at_once = _commit(arrived_at=RECEIVED_AT)  # AED must come strictly before the arrival
    never = _commit(UNKNOWN, partner="")

    results = await store.commit_arrivals([before, at_once, never])

    assert [(r.with_aed, r.replayed, r.lead) for r in results] == [(False, False, None)] * 3
    positions = [r.position for r in results]
    assert positions[0] > journaled
    assert positions == sorted(set(positions))
    assert await store.last_position() == positions[-1]
    feed = await store.read_feed(0, 10)
    assert [type(r) for r in feed] == [JournalRow, EventRow, EventRow, EventRow]
    assert feed[1:] == [
        EventRow(p, c.event) for p, c in zip(positions, [before, at_once, never], strict=True)
    ]
    coverage = await store.arrival_coverage()
    assert [(c.partner, c.origin_country, c.arrivals, c.with_aed) for c in coverage] == [
        ("", "FR", 1, 0),
        (PARTNER, "GB", 2, 0),
    ]
    assert all(c.median_lead is None for c in coverage)


async def test_a_repeated_arrival_is_replayed_never_stored_twice(store: Store) -> None:
    await _journaled(store)
    late = _commit(arrived_at=RECEIVED_AT - timedelta(days=1))
    timely = _commit(arrived_at=RECEIVED_AT + timedelta(seconds=90))
    first = await store.commit_arrivals([late, timely, late])  # a repeat within the batch too

    assert [r.replayed for r in first] == [False, False, True]
    assert first[2] == ArrivalResult(ITEM, False, True, first[0].position)
    # The same instant in another offset is the same arrival.
    paris = timezone(timedelta(hours=1))
    again = _commit(arrived_at=(RECEIVED_AT + timedelta(seconds=90)).astimezone(paris))
    second = await store.commit_arrivals([late, again])

    assert second == [
        ArrivalResult(ITEM, False, True, first[0].position),
        ArrivalResult(ITEM, True, True, 0, timedelta(seconds=90)),
    ]
    assert len(await store.read_events(0, 10)) == 1
    [coverage] = await store.arrival_coverage()
    assert (coverage.arrivals, coverage.with_aed) == (2, 1)


async def test_the_first_accepted_version_gives_the_aed_time(store: Store) -> None:
    await _journaled(store)
    amended = replace(make_message("GBA-AMEND"), received_at=RECEIVED_AT + timedelta(days=1))
    entry = make_entry(version=2, message=amended, function=ItemFunction.AMENDMENT)
    await store.commit_message(amended, [entry])

    [result] = await store.commit_arrivals([_commit(arrived_at=RECEIVED_AT + timedelta(hours=2))])

    assert (result.with_aed, result.lead) == (True, timedelta(hours=2))


async def test_journal_positions_after_a_no_aed_event_stay_above_it(store: Store) -> None:
    await _journaled(store)
    [result] = await store.commit_arrivals([_commit(UNKNOWN, partner="")])
    message = make_message("GBA-NEXT")
    [later] = await store.commit_message(message, [make_entry(UNKNOWN, message=message)])
    assert later > result.position
    assert [r.position for r in await store.read_feed(0, 10)] == sorted(
        r.position for r in await store.read_feed(0, 10)
    )
    # The arrival stays as decided: its AED came after it.
    [replayed] = await store.commit_arrivals([_commit(UNKNOWN, partner="")])
    assert (replayed.with_aed, replayed.position) == (False, result.position)


async def test_coverage_per_week_and_post_with_exact_medians(store: Store) -> None:
    await _journaled(store)
    for n in range(1, 5):
        m = make_message(f"GBA-{n}")
        await store.commit_message(m, [make_entry(f"RB00000000{n}GB", message=m)])
    week_1 = RECEIVED_AT + timedelta(hours=1)  # Friday 2026-11-27: 2026-W48
    week_2 = RECEIVED_AT + timedelta(days=4)  # Tuesday 2026-12-01: 2026-W49
    commits = [
        _commit(ITEM, week_1),
        _commit("RB000000001GB", week_1 + timedelta(milliseconds=1)),
        _commit("RB000000002GB", week_2),
        _commit("RB000000003GB", week_2 + timedelta(hours=2)),
        _commit("RB000000004GB", RECEIVED_AT - timedelta(seconds=1)),  # before its AED: W48
        _commit(UNKNOWN, week_2, partner=""),
    ]
    await store.commit_arrivals(commits)

    everything = await store.arrival_coverage()
    assert everything == [
        # two leads, 1 h and 1 h + 1 ms: the median is their mean, to the microsecond
        Coverage("2026-W48", PARTNER, "GB", 3, 2, timedelta(hours=1, microseconds=500)),
        Coverage("2026-W49", "", "FR", 1, 0, None),
        Coverage("2026-W49", PARTNER, "GB", 2, 2, timedelta(days=4, hours=1)),
    ]
    assert await store.arrival_coverage(week="2026-W49") == everything[1:]
    assert await store.arrival_coverage(partner=PARTNER) == [everything[0], everything[2]]
    assert await store.arrival_coverage("2026-W49", "") == [everything[1]]
    assert await store.arrival_coverage("2026-W50") == []
