"""The response roles of the Store contract: `responses_after` (what a post pulls) and the
outbox rows of responses written with their decisions (gateway/adapters/store/decisions.py,
outbox.py). Every backend passes every test here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.decisions import (
    Decision,
    DecisionCode,
    DecisionCommit,
    Detection,
    EventEntry,
    EventKind,
    Question,
)
from gateway.domain.reports import OutboxKind
from gateway.domain.responses import Response, response_id
from gateway.errors import NotInOutbox
from gateway.ports import Store
from tests.builders import OTHER_PARTNER, PARTNER, make_entry, make_message, make_report
from tests.contract.conftest import Backend

DECIDED_AT = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
LEASE = timedelta(minutes=1)


async def _items(store: Store, partner: str, *item_ids: str) -> None:
    message = make_message(f"{partner}-M", partner=partner)
    await store.commit_message(message, [make_entry(i, message=message) for i in item_ids])


def _commit(
    partner: str,
    item_id: str,
    decision_id: str,
    code: DecisionCode = DecisionCode.ASSESSMENT_COMPLETE,
    *,
    push: bool = False,
    after: int = 0,
    **more: object,
) -> DecisionCommit:
    decision = Decision(decision_id, "targeting", partner, item_id, 1, code, **more)  # type: ignore[arg-type]
    event = EventEntry(
        event_id=f"event-{partner}-{decision_id}", kind=EventKind.DECISION, partner=partner,
        item_id=item_id, version=1, category="SALE_OF_GOODS", hs_chapters=("61",),
        origin_countries=("CN",), value_amount=make_entry().value_amount, value_currency="GBP",
        envelope=b"env",
    )  # fmt: skip
    return DecisionCommit(decision, f"{partner}-M", DECIDED_AT, event, after, push)


async def _decide(store: Store, *commits: DecisionCommit) -> list[int]:
    outcomes = await store.commit_decisions(commits)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    return [o for o in outcomes if isinstance(o, int)]


async def test_responses_are_the_posts_own_decisions_oldest_first_and_only_what_it_may_see(
    store: Store,
) -> None:
    await _items(store, PARTNER, "RB000000001GB", "RB000000002GB")
    await _items(store, OTHER_PARTNER, "RB000000003FR")
    asked = (Question("HS_CODE_MISSING", "/item[1]/content[1]"), Question("DOCUMENT_MISSING"))
    p1, p2, p3 = await _decide(
        store,
        _commit(PARTNER, "RB000000001GB", "d1", DecisionCode.REQUEST_INFORMATION,
                questions=asked, note="a private note"),
        _commit(OTHER_PARTNER, "RB000000003FR", "d2", DecisionCode.HOLD_FOR_INSPECTION),
        _commit(PARTNER, "RB000000002GB", "d3", DecisionCode.REFUSED,
                detection=Detection.NARCOTICS),
    )  # fmt: skip

    mine = await store.responses_after(PARTNER, 0, 10)

    assert mine == [
        Response(p1, PARTNER, "RB000000001GB", 1, f"{PARTNER}-M",
                 DecisionCode.REQUEST_INFORMATION, DECIDED_AT, asked),
        Response(p3, PARTNER, "RB000000002GB", 1, f"{PARTNER}-M", DecisionCode.REFUSED,
                 DECIDED_AT),
    ]  # fmt: skip
    assert mine[0].issued_at.utcoffset() == timedelta(0)
    assert mine[0].response_id == response_id(PARTNER, "RB000000001GB", p1)
    assert [r.position for r in await store.responses_after(OTHER_PARTNER, 0, 10)] == [p2]
    assert [r.position for r in await store.responses_after(PARTNER, p1, 10)] == [p3]
    assert [r.position for r in await store.responses_after(PARTNER, 0, 1)] == [p1]
    assert await store.responses_after(PARTNER, p3, 10) == []
    assert await store.responses_after(PARTNER, 0, 0) == []
    assert await store.responses_after("nobody", 0, 10) == []


async def test_a_pushed_decision_queues_its_response_with_it_due_at_once(store: Store) -> None:
    await _items(store, PARTNER, "RB000000001GB", "RB000000002GB")
    pushed, pulled = await _decide(
        store,
        _commit(PARTNER, "RB000000001GB", "d1", push=True),
        _commit(PARTNER, "RB000000002GB", "d2"),
    )

    (row,) = await store.outbox()

    assert (row.kind, row.position, row.attempts, row.owner) == (
        OutboxKind.RESPONSE, pushed, 0, ""
    )  # fmt: skip
    assert row.lease_until == DECIDED_AT
    assert row.response == (await store.responses_after(PARTNER, 0, 1))[0]
    with pytest.raises(TypeError):
        _ = row.report
    with pytest.raises(NotInOutbox):
        await store.delivery_succeeded(pulled, "gw-a", OutboxKind.RESPONSE)


async def test_a_refused_decision_queues_nothing(store: Store) -> None:
    await _items(store, PARTNER, "RB000000001GB")
    [first] = await _decide(store, _commit(PARTNER, "RB000000001GB", "d1", push=True))

    moved = await store.commit_decisions([_commit(PARTNER, "RB000000001GB", "d2", push=True)])

    assert not isinstance(moved[0], int)
    assert [d.position for d in await store.outbox()] == [first]


async def test_reports_and_responses_share_the_outbox_in_the_order_they_were_written(
    store: Store,
) -> None:
    await _items(store, PARTNER, "RB000000001GB", "RB000000002GB")
    report = await store.add_report(make_report("r1", created_at=DECIDED_AT), push=True)
    [decided] = await _decide(store, _commit(PARTNER, "RB000000001GB", "d1", push=True))
    later = await store.add_report(make_report("r2", created_at=DECIDED_AT), push=True)

    claimed = await store.claim_deliveries("gw-a", DECIDED_AT, LEASE, 10)

    assert [(d.kind, d.position) for d in claimed] == [
        (OutboxKind.REPORT, report), (OutboxKind.RESPONSE, decided), (OutboxKind.REPORT, later)
    ]  # fmt: skip
    assert claimed[1].response.item_id == "RB000000001GB"
    assert claimed[0].report.report_id == "r1"


async def test_a_response_delivery_is_confirmed_or_failed_by_its_kind(store: Store) -> None:
    await _items(store, PARTNER, "RB000000001GB", "RB000000002GB")
    first, second = await _decide(
        store,
        _commit(PARTNER, "RB000000001GB", "d1", push=True),
        _commit(PARTNER, "RB000000002GB", "d2", push=True),
    )
    report = await store.add_report(make_report("r1", created_at=DECIDED_AT), push=True)
    await store.claim_deliveries("gw-a", DECIDED_AT, LEASE, 10)
    retry_at = DECIDED_AT + timedelta(minutes=5)

    await store.delivery_succeeded(first, "gw-a", OutboxKind.RESPONSE)
    await store.delivery_failed(second, "gw-a", retry_at, "HTTP 503", OutboxKind.RESPONSE)

    rows = await store.outbox()
    assert [(d.kind, d.position, d.attempts, d.owner) for d in rows] == [
        (OutboxKind.RESPONSE, second, 1, ""), (OutboxKind.REPORT, report, 0, "gw-a")
    ]  # fmt: skip
    assert rows[0].lease_until == retry_at
    retried = await store.claim_deliveries("gw-b", retry_at, LEASE, 10)  # gw-a's lease expired
    assert [(d.kind, d.position, d.attempts) for d in retried] == [
        (OutboxKind.RESPONSE, second, 1), (OutboxKind.REPORT, report, 0)
    ]  # fmt: skip
    if report != first:  # positions of two sequences: a report's is not a decision's
        with pytest.raises(NotInOutbox):
            await store.delivery_succeeded(report, "gw-a", OutboxKind.RESPONSE)


async def test_queued_responses_survive_a_restart(backend: Backend, store: Store) -> None:
    await _items(store, PARTNER, "RB000000001GB")
    [position] = await _decide(store, _commit(PARTNER, "RB000000001GB", "d1", push=True))
    [before] = await store.outbox()

    store = await backend.reopen(store)

    assert await store.outbox() == [before]
    (claim,) = await store.claim_deliveries("gw-b", DECIDED_AT, LEASE, 10)
    assert claim == replace(before, owner="gw-b", lease_until=DECIDED_AT + LEASE)
    assert claim.position == position
