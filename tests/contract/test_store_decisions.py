"""The decision roles of the Store contract (gateway/adapters/store/decisions.py): every backend
passes every test here."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from gateway.domain.decisions import (
    AnswerCommit,
    Decision,
    DecisionCode,
    DecisionCommit,
    Detection,
    EventEntry,
    EventKind,
    EventRow,
    Question,
)
from gateway.domain.journal import JournalRow
from gateway.domain.messages import ItemFunction
from gateway.errors import AggregationMoved, DecisionMoved, DecisionTaken, StaleVersion
from gateway.ports import Store
from tests.builders import PARTNER, make_entry, make_message

DECIDED_AT = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)


def _decision(
    decision_id: str = "d-1",
    *,
    item_id: str = "RB123456785GB",
    version: int = 1,
    code: DecisionCode = DecisionCode.HOLD_FOR_INSPECTION,
    consumer: str = "targeting",
    **more: object,
) -> Decision:
    return Decision(decision_id, consumer, PARTNER, item_id, version, code, **more)  # type: ignore[arg-type]


def _event(event_id: str, kind: EventKind = EventKind.DECISION, addressee: str = "") -> EventEntry:
    return EventEntry(
        event_id=event_id, kind=kind, partner=PARTNER, item_id="RB123456785GB", version=1,
        category="SALE_OF_GOODS", hs_chapters=("61",), origin_countries=("GB", "CN"),
        value_amount=Decimal("12.50"), value_currency="GBP", envelope=f"env:{event_id}".encode(),
        addressee=addressee,
    )  # fmt: skip


def _commit(decision: Decision, after: int = 0) -> DecisionCommit:
    return DecisionCommit(
        decision, "GBA-20261127-0001", DECIDED_AT, _event(decision.decision_id), after
    )


async def _stored(store: Store, *commits: DecisionCommit) -> list[int]:
    """Commit decisions that must all be stored: their positions."""
    positions = await store.commit_decisions(commits)
    assert all(isinstance(p, int) for p in positions), positions
    return [p for p in positions if isinstance(p, int)]


async def _journaled(store: Store, versions: int = 1) -> list[int]:
    message = make_message()
    positions = await store.commit_message(message, [make_entry(message=message)])
    for version in range(2, versions + 1):
        m = make_message(f"GBA-V{version}")
        entry = make_entry(version=version, message=m, function=ItemFunction.AMENDMENT)
        positions += await store.commit_message(m, [entry])
    return positions


async def test_a_decision_is_stored_with_its_event_in_the_journals_order(store: Store) -> None:
    [p1] = await _journaled(store)
    decision = _decision(
        code=DecisionCode.REQUEST_INFORMATION,
        questions=(Question("HS_CODE_MISSING", "/item[1]/content[1]"),),
        note="ask about the toy",
    )

    [position] = await _stored(store, _commit(decision))

    assert position > p1
    assert await store.last_position() == position
    [stored] = await store.item_decisions(PARTNER, "RB123456785GB")
    assert (stored.position, stored.decision, stored.message_id) == (
        position,
        decision,
        "GBA-20261127-0001",
    )
    assert stored.decided_at == DECIDED_AT
    assert await store.find_decision("targeting", "d-1") == stored
    assert await store.find_decision("targeting", "d-2") is None
    feed = await store.read_feed(0, 10)
    assert [type(r) for r in feed] == [JournalRow, EventRow]
    assert [r.position for r in feed] == [p1, position]
    assert feed[1] == EventRow(position, _event("d-1"))
    assert await store.read_events(0, 10) == [feed[1]]
    assert await store.read_journal(0, 10) == feed[:1]  # the journal itself holds items only


async def test_journal_positions_after_an_event_stay_above_it(store: Store) -> None:
    await _journaled(store)
    [event_position] = await _stored(store, _commit(_decision()))
    message = make_message("GBA-NEXT")
    [later] = await store.commit_message(message, [make_entry("RB000000001GB", message=message)])
    assert later > event_position
    positions = [row.position for row in await store.read_feed(0, 10)]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    assert [row.position for row in await store.read_feed(positions[0], 1)] == [event_position]


async def test_a_stale_version_a_taken_id_and_a_moved_item_are_refused(store: Store) -> None:
    await _journaled(store, versions=2)
    stale, fresh = _decision("old", version=1), _decision("new", version=2)
    outcomes = await store.commit_decisions([_commit(stale), _commit(fresh)])
    assert isinstance(outcomes[0], StaleVersion)
    assert (outcomes[0].version, outcomes[0].latest) == (1, 2)
    assert isinstance(outcomes[1], int)
    again = await store.commit_decisions([_commit(_decision("new", version=2), after=outcomes[1])])
    assert isinstance(again[0], DecisionTaken)
    moved = await store.commit_decisions([_commit(_decision("other", version=2), after=0)])
    assert isinstance(moved[0], DecisionMoved)
    assert len(await store.item_decisions(PARTNER, "RB123456785GB")) == 1
    assert len(await store.read_events(0, 10)) == 1


async def test_a_detection_and_an_empty_note_read_back_exactly(store: Store) -> None:
    await _journaled(store)
    refused = _decision(code=DecisionCode.REFUSED, detection=Detection.NARCOTICS)
    await store.commit_decisions([_commit(refused)])
    [stored] = await store.item_decisions(PARTNER, "RB123456785GB")
    assert stored.decision == refused
    assert stored.decision.detection is Detection.NARCOTICS


async def test_answers_mark_requests_once_and_move_their_position(store: Store) -> None:
    await _journaled(store)
    request = _decision(
        "ri", code=DecisionCode.REQUEST_INFORMATION, questions=(Question("HS_CODE_MISSING"),)
    )
    [asked] = await _stored(store, _commit(request))
    last = await store.last_position()
    answer = AnswerCommit(
        asked, "amendment-record", _event("answer-1", EventKind.ANSWER, "targeting")
    )

    await store.commit_answers(0, last, [answer])

    assert await store.fold_position("answers") == last
    [stored] = await store.item_decisions(PARTNER, "RB123456785GB")
    assert stored.answered_by == "amendment-record"
    events = await store.read_events(asked, 10)
    assert [(e.event.kind, e.event.addressee) for e in events] == [(EventKind.ANSWER, "targeting")]
    try:
        await store.commit_answers(0, last, [answer])
    except AggregationMoved:
        pass
    else:
        raise AssertionError("a second fold from the same position must be refused")
    await store.commit_answers(last, last, [answer])  # answered already: nothing new
    assert len(await store.read_events(0, 10)) == 2


async def test_an_ack_may_name_an_event_position(store: Store) -> None:
    await _journaled(store)
    [position] = await _stored(store, _commit(_decision()))
    await store.ack("analytics", position)
    assert await store.get_cursor("analytics") == position
