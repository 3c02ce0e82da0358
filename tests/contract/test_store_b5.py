"""The Store contract for B5 trend sharing (gateway.ports): feeds and their observations, the
aggregation cells with their position, share reports and their push outbox, frozen weeks. Every
backend passes every test here. The semantics the contract leaves open are written down in
gateway/adapters/store/cells.py, outbox.py and frozen.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.keys import SigningKey, generate_private_key
from gateway.domain.cells import CellCounts, FrozenRow
from gateway.domain.partners import Partner, PartnerKind, ShareAgreement
from gateway.domain.reports import Delivery
from gateway.errors import DuplicateMessage, FreezeMoved, NotInOutbox, StoreError
from gateway.ports import Store
from gateway.services.b5_reports import ShareService
from tests.builders import (
    OTHER_PARTNER,
    PARTNER,
    RECEIVED_AT,
    make_cell,
    make_counts,
    make_entries,
    make_feed_message,
    make_message,
    make_observation,
    make_report,
)
from tests.contract.conftest import Backend
from tests.fakes import FixedClock

W47, W48, W49 = "2026-W47", "2026-W48", "2026-W49"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)


async def _journal(store: Store, entries: int) -> list[int]:
    """Commit one message of `entries` items: journal positions to aggregate up to."""
    message = make_message(f"M-{await store.last_position()}")
    first = await store.last_position() + 1
    return await store.commit_message(message, make_entries(message, entries, first=first))


async def _pushed(store: Store, count: int, *, created_at: datetime = RECEIVED_AT) -> list[int]:
    """`count` reports added with push: their positions."""
    return [
        await store.add_report(make_report(f"report-{n:03d}", created_at=created_at), push=True)
        for n in range(count)
    ]


def _positions(deliveries: list[Delivery]) -> list[int]:
    return [d.position for d in deliveries]


# -- feeds -------------------------------------------------------------------------------------


async def test_a_feed_stores_its_message_and_observations_in_order(store: Store) -> None:
    feed = make_feed_message("feed-A")
    observations = [make_observation(f"obs-{n}", items=n) for n in range(5)]

    await store.commit_feed(feed, observations)

    found = await store.find_message(feed.partner, "feed-A")
    assert found is not None
    assert (found.content_digest, found.http_status, found.receipt) == (
        feed.content_digest, feed.http_status, feed.receipt,
    )  # fmt: skip
    assert await store.observations([W47]) == observations


async def test_a_duplicate_feed_raises_with_the_stored_one_and_writes_nothing(
    store: Store,
) -> None:
    feed = make_feed_message("feed-A")
    await store.commit_feed(feed, [make_observation("obs-1")])
    again = make_message("feed-A", content_digest="sha-256=:other:", status="REJECTED")

    with pytest.raises(DuplicateMessage) as caught:
        await store.commit_feed(again, [make_observation("obs-2")])

    assert caught.value.existing.receipt == feed.receipt
    assert [o.observation_id for o in await store.observations([W47])] == ["obs-1"]


async def test_a_feed_id_is_a_message_id_of_its_partner(store: Store) -> None:
    """Feeds and messages share one (partner, message_id) space: the journal's messages."""
    await store.commit_message(make_message("SAME-ID"), [])

    with pytest.raises(DuplicateMessage):
        await store.commit_feed(make_feed_message("SAME-ID"), [make_observation()])
    await store.commit_feed(make_feed_message("SAME-ID", partner=OTHER_PARTNER), [])

    assert await store.observations([W47]) == []


async def test_a_feed_with_a_stored_observation_id_fails_and_leaves_nothing(
    store: Store,
) -> None:
    await store.commit_feed(make_feed_message("feed-A"), [make_observation("obs-1")])

    with pytest.raises(StoreError) as caught:
        await store.commit_feed(
            make_feed_message("feed-B"), [make_observation("obs-2"), make_observation("obs-1")]
        )

    assert not isinstance(caught.value, DuplicateMessage)
    assert await store.find_message("gb-royal-mail", "feed-B") is None
    assert [o.observation_id for o in await store.observations([W47])] == ["obs-1"]


async def test_observations_are_selected_by_week_in_storage_order(store: Store) -> None:
    weeks = [W47, W48, W47, W49, W48, W47]
    first = [make_observation(f"a{n}", week=w) for n, w in enumerate(weeks[:3])]
    second = [make_observation(f"b{n}", week=w) for n, w in enumerate(weeks[3:])]
    await store.commit_feed(make_feed_message("feed-A"), first)
    await store.commit_feed(make_feed_message("feed-B", partner=OTHER_PARTNER), [])
    await store.commit_feed(make_feed_message("feed-C"), second)
    stored = first + second

    assert await store.observations([W47]) == [o for o in stored if o.week == W47]
    assert await store.observations([W49, W47]) == [o for o in stored if o.week in {W47, W49}]
    assert await store.observations(iter([W48])) == [o for o in stored if o.week == W48]
    assert await store.observations(["2026-W01"]) == []
    assert await store.observations([]) == []


@pytest.mark.parametrize(
    "value", ["0", "0.01", "1834.27", "1E+3", "123456789012345678.123456789", "-5.10", None]
)
async def test_observation_values_round_trip_exactly(store: Store, value: str | None) -> None:
    amount = None if value is None else Decimal(value)
    observation = make_observation(declared_value_usd=amount, value_band="" if amount else "x")

    await store.commit_feed(make_feed_message(), [observation])

    (back,) = await store.observations([W47])
    assert back == observation
    assert str(back.declared_value_usd) == str(amount)  # the exponent too, not only the value


async def test_feeds_survive_reopen(backend: Backend, store: Store) -> None:
    observations = [make_observation(f"obs-{n}") for n in range(3)]
    await store.commit_feed(make_feed_message("feed-A"), observations)

    store = await backend.reopen(store)

    assert await store.observations([W47]) == observations
    assert await store.find_message("gb-royal-mail", "feed-A") is not None
    with pytest.raises(DuplicateMessage):
        await store.commit_feed(make_feed_message("feed-A"), [])


# -- aggregation -------------------------------------------------------------------------------


async def test_aggregation_starts_at_zero_with_no_cells(store: Store) -> None:
    assert await store.aggregation_position() == 0
    assert await store.cells([W47]) == {}


async def test_apply_adds_increments_and_moves_the_position(store: Store) -> None:
    positions = await _journal(store, 4)
    a, b = make_cell(W47), make_cell(W47, origin_country="US")

    await store.apply_aggregation(0, positions[1], {a: make_counts(1, "0.10"), b: make_counts()})
    await store.apply_aggregation(
        positions[1], positions[3], {a: make_counts(2, "0.20", detections=1, rate_missing=1)}
    )

    assert await store.aggregation_position() == positions[3]
    assert await store.cells([W47]) == {
        a: CellCounts(3, Decimal("0.30"), detections=1, rate_missing=1),
        b: make_counts(),
    }
    assert str((await store.cells([W47]))[a].declared_value_usd) == "0.30"  # never a float


async def test_a_stale_after_is_refused_and_nothing_is_applied(store: Store) -> None:
    positions = await _journal(store, 3)
    cell = make_cell()
    await store.apply_aggregation(0, positions[0], {cell: make_counts(1)})

    with pytest.raises(StoreError, match="aggregation position"):
        await store.apply_aggregation(0, positions[2], {cell: make_counts(5)})
    with pytest.raises(StoreError):
        await store.apply_aggregation(positions[1], positions[2], {cell: make_counts(5)})

    assert await store.aggregation_position() == positions[0]
    assert await store.cells([W47]) == {cell: make_counts(1)}


async def test_concurrent_applies_from_one_position_count_once(store: Store) -> None:
    positions = await _journal(store, 2)
    cell = make_cell()

    results = await asyncio.gather(
        *(store.apply_aggregation(0, positions[-1], {cell: make_counts(1)}) for _ in range(5)),
        return_exceptions=True,
    )

    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, StoreError) for r in results if r is not None)
    assert await store.cells([W47]) == {cell: make_counts(1)}


async def test_negative_increments_subtract_and_an_all_zero_cell_is_gone(store: Store) -> None:
    positions = await _journal(store, 3)
    amended, cancelled = make_cell(value_band="0-150"), make_cell(value_band="150-1000")
    await store.apply_aggregation(
        0, positions[0], {amended: make_counts(2, "30.00"), cancelled: make_counts(1, "200")}
    )

    await store.apply_aggregation(
        positions[0],
        positions[2],
        {amended: make_counts(-1, "-12.50"), cancelled: make_counts(-1, "-200.00")},
    )

    assert await store.cells([W47]) == {amended: make_counts(1, "17.50")}


async def test_a_cell_can_be_counted_again_after_it_went_to_zero(store: Store) -> None:
    positions = await _journal(store, 3)
    cell = make_cell()
    await store.apply_aggregation(0, positions[0], {cell: make_counts(1)})
    await store.apply_aggregation(positions[0], positions[1], {cell: make_counts(-1, "-12.50")})
    await store.apply_aggregation(positions[1], positions[2], {cell: make_counts(1, "3")})

    assert await store.cells([W47]) == {cell: make_counts(1, "3")}


async def test_cells_are_selected_by_week(store: Store) -> None:
    positions = await _journal(store, 1)
    by_week = {make_cell(w): make_counts(n) for n, w in enumerate([W47, W48, W49], 1)}
    await store.apply_aggregation(0, positions[0], by_week)

    assert await store.cells([W48]) == {make_cell(W48): make_counts(2)}
    assert await store.cells([W49, W47]) == {
        make_cell(W47): make_counts(1), make_cell(W49): make_counts(3)
    }  # fmt: skip
    assert await store.cells(["2026-W01"]) == {}
    assert await store.cells([]) == {}


async def test_an_unknown_value_band_is_a_cell_of_its_own(store: Store) -> None:
    positions = await _journal(store, 1)
    unknown = make_cell(value_band="")
    await store.apply_aggregation(
        0, positions[0], {unknown: CellCounts(items=1, rate_missing=1), make_cell(): make_counts()}
    )

    assert (await store.cells([W47]))[unknown] == CellCounts(items=1, rate_missing=1)


async def test_an_aggregation_span_must_be_well_formed(store: Store) -> None:
    positions = await _journal(store, 2)
    cell = make_cell()
    await store.apply_aggregation(0, positions[0], {cell: make_counts()})

    with pytest.raises(ValueError, match="backward"):
        await store.apply_aggregation(positions[0], 0, {})
    with pytest.raises(ValueError, match="journal ends"):
        await store.apply_aggregation(positions[0], positions[-1] + 1, {cell: make_counts()})
    with pytest.raises(ValueError, match="past"):
        await store.apply_aggregation(positions[0], positions[0], {cell: make_counts()})
    await store.apply_aggregation(positions[0], positions[0], {})  # nothing to fold: allowed

    assert await store.aggregation_position() == positions[0]
    assert await store.cells([W47]) == {cell: make_counts()}


async def test_aggregation_survives_reopen(backend: Backend, store: Store) -> None:
    positions = await _journal(store, 2)
    cell = make_cell()
    await store.apply_aggregation(0, positions[1], {cell: make_counts(2, "25.00")})

    store = await backend.reopen(store)

    assert await store.aggregation_position() == positions[1]
    assert await store.cells([W47]) == {cell: make_counts(2, "25.00")}


# -- reports -----------------------------------------------------------------------------------


async def test_report_positions_strictly_increase(store: Store) -> None:
    positions = [
        await store.add_report(make_report(f"r{n}", partner=p), push=n % 2 == 0)
        for n, p in enumerate(["gb-royal-mail", OTHER_PARTNER] * 3)
    ]

    assert positions == sorted(set(positions))
    assert positions[0] >= 1


async def test_a_first_report_is_stored_only_while_its_week_has_none(store: Store) -> None:
    first = await store.add_first_report(make_report("r1", week=W47), push=True)
    again = await store.add_first_report(make_report("r2", week=W47), push=True)
    other_week = await store.add_first_report(make_report("r3", week=W48), push=False)
    other_partner = await store.add_first_report(
        make_report("r4", week=W47, partner=OTHER_PARTNER), push=False
    )

    assert again is None
    assert first is not None
    assert other_week is not None
    assert other_partner is not None
    stored = await store.reports_after(PARTNER, 0, 10)
    assert [r.report.report_id for r in stored] == ["r1", "r3"]
    assert [d.report.report_id for d in await store.outbox()] == ["r1"]


async def test_builders_racing_for_a_week_store_one_report(store: Store) -> None:
    outcomes = await asyncio.gather(
        *(store.add_first_report(make_report(f"r{n}", week=W49), push=True) for n in range(8))
    )

    assert sum(1 for o in outcomes if o is not None) == 1
    assert len(await store.reports_after(PARTNER, 0, 10)) == 1
    assert len(await store.outbox()) == 1


async def test_an_explicit_report_is_added_even_when_its_week_has_one(store: Store) -> None:
    await store.add_first_report(make_report("auto", week=W47), push=False)

    await store.add_report(make_report("rebuilt", week=W47), push=False)

    assert len(await store.reports_after(PARTNER, 0, 10)) == 2


async def test_reports_after_are_the_partners_own_oldest_first(store: Store) -> None:
    partners = ["gb-royal-mail", OTHER_PARTNER, "gb-royal-mail", "gb-royal-mail", OTHER_PARTNER]
    reports = [make_report(f"r{n}", partner=p) for n, p in enumerate(partners)]
    positions = [await store.add_report(r, push=False) for r in reports]
    mine = [(p, r) for p, r in zip(positions, reports, strict=True) if r.partner == PARTNER]

    got = await store.reports_after(PARTNER, 0, 100)
    assert [(s.position, s.report) for s in got] == mine
    later = await store.reports_after(PARTNER, mine[0][0], 100)
    assert [s.report.report_id for s in later] == ["r2", "r3"]
    assert [s.report.report_id for s in await store.reports_after(PARTNER, 0, 1)] == ["r0"]
    assert await store.reports_after(PARTNER, positions[-1], 100) == []
    assert await store.reports_after(PARTNER, 0, 0) == []
    assert await store.reports_after("nobody", 0, 100) == []


async def test_a_report_round_trips_with_its_time_in_utc(store: Store) -> None:
    created = datetime(2026, 11, 30, 9, 30, 0, tzinfo=timezone(timedelta(hours=1)))
    report = make_report(created_at=created)

    position = await store.add_report(report, push=False)

    (stored,) = await store.reports_after(report.partner, 0, 10)
    assert stored.position == position
    assert stored.report == report
    assert stored.report.created_at.utcoffset() == timedelta(0)


async def test_a_repeated_report_id_is_refused(store: Store) -> None:
    await store.add_report(make_report("r1"), push=True)

    with pytest.raises(StoreError):
        await store.add_report(make_report("r1", week=W48), push=True)

    assert len(await store.reports_after(PARTNER, 0, 10)) == 1
    assert len(await store.outbox()) == 1


async def test_a_naive_report_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.add_report(make_report(created_at=datetime(2026, 11, 30)), push=True)  # noqa: DTZ001

    assert await store.reports_after(PARTNER, 0, 10) == []


async def test_reports_survive_reopen_and_positions_continue(
    backend: Backend, store: Store
) -> None:
    first = await store.add_report(make_report("r1"), push=False)

    store = await backend.reopen(store)

    assert [s.position for s in await store.reports_after(PARTNER, 0, 10)] == [first]
    assert await store.add_report(make_report("r2"), push=False) > first


# -- the outbox --------------------------------------------------------------------------------


async def test_only_pushed_reports_enter_the_outbox_due_at_once(store: Store) -> None:
    pushed = await store.add_report(make_report("r1"), push=True)
    await store.add_report(make_report("r2"), push=False)

    (row,) = await store.outbox()
    assert (row.position, row.report, row.attempts, row.owner) == (
        pushed, make_report("r1"), 0, ""
    )  # fmt: skip
    assert row.lease_until == RECEIVED_AT  # unleased: when it becomes claimable


async def test_a_claim_gives_the_due_rows_in_position_order_with_a_lease(store: Store) -> None:
    positions = await _pushed(store, 3)

    claimed = await store.claim_deliveries("gw-a", NOW, LEASE, 10)

    assert _positions(claimed) == positions
    assert {(d.owner, d.lease_until, d.attempts) for d in claimed} == {("gw-a", NOW + LEASE, 0)}
    assert [d.report.report_id for d in claimed] == ["report-000", "report-001", "report-002"]
    assert [(d.position, d.owner, d.lease_until) for d in await store.outbox()] == [
        (p, "gw-a", NOW + LEASE) for p in positions
    ]


async def test_a_claim_honours_its_limit(store: Store) -> None:
    positions = await _pushed(store, 5)

    first = await store.claim_deliveries("gw-a", NOW, LEASE, 2)
    second = await store.claim_deliveries("gw-b", NOW, LEASE, 10)

    assert _positions(first) == positions[:2]
    assert _positions(second) == positions[2:]
    assert await store.claim_deliveries("gw-c", NOW, LEASE, 0) == []


async def test_another_owner_cannot_claim_a_leased_row(store: Store) -> None:
    await _pushed(store, 2)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)

    assert await store.claim_deliveries("gw-b", NOW, LEASE, 10) == []
    assert (
        await store.claim_deliveries("gw-b", NOW + LEASE - timedelta(microseconds=1), LEASE, 10)
        == []
    )


async def test_an_owner_reclaiming_its_rows_renews_its_lease(store: Store) -> None:
    positions = await _pushed(store, 2)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)

    again = await store.claim_deliveries("gw-a", NOW + timedelta(seconds=30), LEASE, 10)

    assert _positions(again) == positions
    assert {d.lease_until for d in again} == {NOW + timedelta(seconds=30) + LEASE}


async def test_an_expired_lease_is_taken_over_by_another_owner(store: Store) -> None:
    positions = await _pushed(store, 2)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)

    taken = await store.claim_deliveries("gw-b", NOW + LEASE, LEASE, 10)

    assert _positions(taken) == positions
    assert {(d.owner, d.lease_until) for d in taken} == {("gw-b", NOW + 2 * LEASE)}
    assert await store.claim_deliveries("gw-a", NOW + LEASE, LEASE, 10) == []


async def test_a_report_not_yet_due_is_not_claimed(store: Store) -> None:
    (position,) = await _pushed(store, 1, created_at=NOW + timedelta(minutes=5))

    assert await store.claim_deliveries("gw-a", NOW, LEASE, 10) == []
    claimed = await store.claim_deliveries("gw-a", NOW + timedelta(minutes=5), LEASE, 10)
    assert _positions(claimed) == [position]


async def test_a_failed_delivery_is_retried_at_its_next_attempt_only(store: Store) -> None:
    (position,) = await _pushed(store, 1)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)
    retry_at = NOW + timedelta(minutes=10)

    await store.delivery_failed(position, "gw-a", retry_at, "HTTP 503")

    (row,) = await store.outbox()
    assert (row.attempts, row.owner, row.lease_until) == (1, "", retry_at)
    assert await store.claim_deliveries("gw-a", NOW, LEASE, 10) == []  # the lease was released
    assert await store.claim_deliveries("gw-b", retry_at - timedelta(seconds=1), LEASE, 10) == []
    (retry,) = await store.claim_deliveries("gw-b", retry_at, LEASE, 10)
    assert (retry.position, retry.attempts, retry.owner) == (position, 1, "gw-b")


async def test_attempts_count_every_failure(store: Store) -> None:
    (position,) = await _pushed(store, 1)
    now = NOW
    for attempt in range(3):
        (claim,) = await store.claim_deliveries("gw-a", now, LEASE, 10)
        assert claim.attempts == attempt
        now += timedelta(minutes=1)
        await store.delivery_failed(position, "gw-a", now, f"failure {attempt}")

    (row,) = await store.outbox()
    assert row.attempts == 3


async def test_a_delivered_report_leaves_the_outbox(store: Store) -> None:
    first, second = await _pushed(store, 2)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)

    await store.delivery_succeeded(first, "gw-a")

    assert _positions(await store.outbox()) == [second]
    later = NOW + timedelta(days=1)
    assert _positions(await store.claim_deliveries("gw-b", later, LEASE, 10)) == [second]
    assert [s.position for s in await store.reports_after(PARTNER, 0, 10)] == [first, second]


async def test_a_late_success_from_a_replaced_owner_still_counts(store: Store) -> None:
    """The partner did receive it: marking it delivered saves a second push."""
    (position,) = await _pushed(store, 1)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)
    await store.claim_deliveries("gw-b", NOW + LEASE, LEASE, 10)

    await store.delivery_succeeded(position, "gw-a")
    await store.delivery_failed(position, "gw-b", NOW + 2 * LEASE, "HTTP 500")  # too late

    assert await store.outbox() == []
    assert await store.claim_deliveries("gw-c", NOW + timedelta(days=1), LEASE, 10) == []


async def test_a_late_failure_from_a_replaced_owner_changes_nothing(store: Store) -> None:
    (position,) = await _pushed(store, 1)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)
    await store.claim_deliveries("gw-b", NOW + LEASE, LEASE, 10)

    await store.delivery_failed(position, "gw-a", NOW, "timed out")

    (row,) = await store.outbox()
    assert (row.attempts, row.owner, row.lease_until) == (0, "gw-b", NOW + 2 * LEASE)
    assert await store.claim_deliveries("gw-c", NOW + LEASE, LEASE, 10) == []


async def test_a_second_confirmation_changes_nothing(store: Store) -> None:
    (position,) = await _pushed(store, 1)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)
    await store.delivery_succeeded(position, "gw-a")

    await store.delivery_succeeded(position, "gw-a")
    await store.delivery_failed(position, "gw-a", NOW, "late")

    assert await store.outbox() == []


async def test_an_outcome_for_a_row_not_in_the_outbox_is_refused(store: Store) -> None:
    unpushed = await store.add_report(make_report(), push=False)

    with pytest.raises(NotInOutbox):
        await store.delivery_succeeded(unpushed, "gw-a")
    with pytest.raises(NotInOutbox):
        await store.delivery_failed(unpushed + 100, "gw-a", NOW, "x")


async def test_outbox_times_must_be_aware_and_leases_positive(store: Store) -> None:
    (position,) = await _pushed(store, 1)
    naive = datetime(2026, 11, 30, 8, 0)  # noqa: DTZ001

    with pytest.raises(ValueError, match="timezone-aware"):
        await store.claim_deliveries("gw-a", naive, LEASE, 10)
    with pytest.raises(ValueError, match="positive"):
        await store.claim_deliveries("gw-a", NOW, timedelta(0), 10)
    await store.claim_deliveries("gw-a", NOW, LEASE, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.delivery_failed(position, "gw-a", naive, "x")

    (row,) = await store.outbox()
    assert (row.owner, row.attempts) == ("gw-a", 0)


async def test_a_claim_reads_times_in_any_offset(store: Store) -> None:
    await _pushed(store, 1)
    paris = timezone(timedelta(hours=1))

    (claim,) = await store.claim_deliveries("gw-a", NOW.astimezone(paris), LEASE, 10)

    assert claim.lease_until == NOW + LEASE
    assert claim.lease_until.utcoffset() == timedelta(0)
    assert await store.claim_deliveries("gw-b", (NOW + LEASE).astimezone(paris), LEASE, 10)


async def test_a_restarted_gateway_finds_its_undelivered_reports(
    backend: Backend, store: Store
) -> None:
    delivered, failed, leased, fresh = await _pushed(store, 4)
    await store.claim_deliveries("gw-a", NOW, LEASE, 3)
    await store.delivery_succeeded(delivered, "gw-a")
    await store.delivery_failed(failed, "gw-a", NOW + timedelta(minutes=5), "HTTP 503")

    store = await backend.reopen(store)

    rows = await store.outbox()
    assert [(d.position, d.attempts, d.owner) for d in rows] == [
        (failed, 1, ""), (leased, 0, "gw-a"), (fresh, 0, "")
    ]  # fmt: skip
    assert _positions(await store.claim_deliveries("gw-b", NOW, LEASE, 10)) == [fresh]
    later = NOW + timedelta(minutes=5)
    assert _positions(await store.claim_deliveries("gw-b", later, LEASE, 10)) == [
        failed, leased, fresh  # its own lease on `fresh` renewed
    ]  # fmt: skip


async def test_owners_claiming_at_once_never_get_the_same_row(store: Store) -> None:
    positions = await _pushed(store, 40)
    owners = [f"gw-{n}" for n in range(12)]  # 12 claims of up to 7: more than there are rows

    rounds = await asyncio.gather(*(store.claim_deliveries(o, NOW, LEASE, 7) for o in owners))

    claimed = [d.position for deliveries in rounds for d in deliveries]
    assert len(claimed) == len(set(claimed))
    assert sorted(claimed) == positions
    holders = {(d.position, d.owner) for deliveries in rounds for d in deliveries}
    assert {(d.position, d.owner) for d in await store.outbox()} == holders


# -- frozen share weeks (semantics: gateway/adapters/store/frozen.py) -------------------------


def _row(report_week: str, week: str, items: int, value: str, **key: str) -> FrozenRow:
    return FrozenRow(report_week, make_cell(week, **key), make_counts(items, value))


async def test_a_report_of_a_week_is_the_partners_first_of_it(store: Store) -> None:
    first = await store.add_report(make_report("r1", week=W47), push=False)
    await store.add_report(make_report("r2", week=W48), push=False)
    await store.add_report(make_report("r3", week=W47), push=False)  # a version stored long ago

    found = await store.report_of(PARTNER, W47)

    assert found is not None
    assert (found.position, found.report) == (first, make_report("r1", week=W47))
    assert await store.report_of(PARTNER, W49) is None
    assert await store.report_of(OTHER_PARTNER, W47) is None


async def test_a_frozen_week_keeps_its_rows_exactly_and_is_numbered(store: Store) -> None:
    own = [_row(W47, W47, 12, "150.25"), _row(W47, W47, 30, "9.99", origin_country="VN")]
    late = [
        _row(W48, W47, -1, "-12.50"),  # a cancellation
        _row(W48, W47, 1, "0.01", hs_chapter="95"),
    ]

    assert await store.freeze_week(W47, own, generation=0)
    assert await store.freeze_week(W48, [_row(W48, W48, 3, "7.00"), *late], generation=1)
    assert await store.freeze_week(W49, [], generation=2)  # a week of no items is frozen too

    frozen = await store.frozen([W47])
    assert frozen.numbers == {W47: 1, W48: 2, W49: 3}
    assert frozen.generation == 3
    assert sorted(frozen.rows, key=repr) == sorted([*own, *late], key=repr)
    assert {r.counts.declared_value_usd for r in frozen.rows} >= {Decimal("-12.50")}
    assert [r.report_week for r in (await store.frozen([W48])).rows] == [W48]
    assert (await store.frozen([])).rows == ()


async def test_the_first_freeze_of_a_week_wins_and_a_second_writes_nothing(store: Store) -> None:
    winner = [_row(W47, W47, 12, "150.00")]

    assert await store.freeze_week(W47, winner, generation=0)
    assert not await store.freeze_week(W47, [_row(W47, W47, 13, "151.00")], generation=1)
    assert not await store.freeze_week(W47, [_row(W47, W47, 14, "1.00")], generation=0)

    frozen = await store.frozen([W47])
    assert (frozen.numbers, frozen.rows) == ({W47: 1}, tuple(winner))


async def test_a_freeze_read_before_another_week_froze_writes_nothing(store: Store) -> None:
    await store.freeze_week(W47, [_row(W47, W47, 12, "150.00")], generation=0)

    with pytest.raises(FreezeMoved):  # a StoreError: re-read, recompute, retry
        await store.freeze_week(W48, [_row(W48, W47, 1, "1.00")], generation=0)

    frozen = await store.frozen([W47, W48])
    assert frozen.numbers == {W47: 1}
    assert [r.report_week for r in frozen.rows] == [W47]
    assert await store.freeze_week(W48, [_row(W48, W47, 1, "1.00")], generation=1)


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (_row(W48, W48, 1, "1.00"), "cannot be frozen as"),  # another report week's
        (_row(W47, W48, 1, "1.00"), "later"),  # a cell of a later week
        (FrozenRow(W47, make_cell(W47), CellCounts()), "all-zero"),
    ],
)
async def test_a_row_that_is_not_the_report_weeks_is_refused(
    store: Store, row: FrozenRow, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        await store.freeze_week(W47, [row], generation=0)

    assert (await store.frozen([W47, W48])).numbers == {}


async def test_a_cell_frozen_twice_in_one_week_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="twice"):
        await store.freeze_week(W47, [_row(W47, W47, 1, "1"), _row(W47, W47, 2, "2")], generation=0)

    assert (await store.frozen([W47])).numbers == {}


async def test_replicas_freezing_one_week_at_once_keep_one_snapshot(backend: Backend) -> None:
    replicas = [await backend.open() for _ in range(4)]  # handles on one set of data
    rows = [[_row(W49, W49, 10 + n, f"{n}.00")] for n in range(8)]

    outcomes = await asyncio.gather(
        *(replicas[n % 4].freeze_week(W49, rows[n], generation=0) for n in range(8))
    )

    assert sorted(outcomes) == [False] * 7 + [True]
    frozen = await replicas[0].frozen([W49])
    assert frozen.rows == tuple(rows[outcomes.index(True)])
    assert frozen.numbers == {W49: 1}


async def test_frozen_weeks_survive_reopen(backend: Backend, store: Store) -> None:
    await store.freeze_week(W47, [_row(W47, W47, 12, "150.25")], generation=0)

    store = await backend.reopen(store)

    frozen = await store.frozen([W47])
    assert (frozen.numbers, frozen.rows) == ({W47: 1}, (_row(W47, W47, 12, "150.25"),))
    assert not await store.freeze_week(W47, [], generation=1)


async def test_replicas_building_a_weeks_reports_at_once_share_one_snapshot(
    backend: Backend,
) -> None:
    replicas = [await backend.open() for _ in range(3)]
    positions = await _journal(replicas[0], 1)
    cell = make_cell(W47, channel="POST", value_band="0-20")
    await replicas[0].apply_aggregation(0, positions[-1], {cell: make_counts(12, "150.00")})
    key = SigningKey("aedgw-test", "ed25519", generate_private_key("ed25519"))
    partners = {
        pid: Partner(
            id=pid, name=pid, kind=PartnerKind.CUSTOMS, country=pid[:2].upper(),
            operator_code=None, formats=frozenset({"b5-trend-1"}), max_body_bytes=1 << 20,
            key_ids=(), share=ShareAgreement(k=10),
        )
        for pid in ("gb-bf", "ca-cbsa")
    }  # fmt: skip
    services = [
        ShareService(
            store=replica,
            signer=DsseSigner(key),
            clock=FixedClock(NOW + timedelta(seconds=n)),
            partners=partners,
            home_country="US",
        )
        for n, replica in enumerate(replicas)
    ]

    results = await asyncio.gather(*(s.build(W47) for s in services))

    frozen = await replicas[0].frozen([W47])
    assert frozen.numbers == {W47: 1}
    assert frozen.rows == (FrozenRow(W47, cell, make_counts(12, "150.00")),)
    stored = {
        pid: [r.report for r in await replicas[0].reports_after(pid, 0, 10)] for pid in partners
    }
    assert all(len(reports) == 1 for reports in stored.values())
    for built in results:
        assert {b.report.partner: [b.report] for b in built} == stored
    assert sum(b.fresh for built in results for b in built) == len(partners)
