"""Builders for B5 detections in the cells: journal entries carrying real declarations (so the
aggregation can place them), decisions on them, and the brute-force recount the incremental fold
must always equal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.decisions import (
    Decision,
    DecisionCode,
    DecisionCommit,
    Detection,
    EventEntry,
    EventKind,
    StoredDecision,
    decision_event_id,
    detection_of,
)
from gateway.domain.journal import JournalEntry
from gateway.domain.messages import ItemFunction
from gateway.ports import Store
from gateway.rules.bands import value_band
from gateway.services.cell_folding import declaration_in
from gateway.share.aggregate import cell_of, counts_of
from gateway.wire.declaration_pb2 import AMENDMENT, CANCELLATION, ORIGINAL, Declaration, Piece
from gateway.wire.envelope_pb2 import SignedEnvelope
from tests.builders import PARTNER, make_message

DECIDED_AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
_FUNCTIONS = {
    ItemFunction.ORIGINAL: ORIGINAL,
    ItemFunction.AMENDMENT: AMENDMENT,
    ItemFunction.CANCELLATION: CANCELLATION,
}
#: The cells an item may be placed in, by index: (origin country, HS code, valued on, USD value).
PLACES = (
    ("CN", "610910", date(2026, 11, 18), Decimal("12.50")),
    ("CN", "950300", date(2026, 11, 18), Decimal("12.50")),
    ("US", "610910", date(2026, 11, 25), Decimal("45.00")),
)


def declared_entry(
    item_id: str,
    version: int,
    function: ItemFunction,
    place: int = 0,
    *,
    partner: str = PARTNER,
) -> JournalEntry:
    """A journal entry whose envelope carries a valued declaration placed in `PLACES[place]`."""
    origin, hs_code, valued_on, usd = PLACES[place]
    decl = Declaration(item_id=item_id, function=_FUNCTIONS[function], category="SALE_OF_GOODS")
    decl.pieces.append(Piece(description="cotton t-shirt", hs_code=hs_code, origin_country=origin))
    decl.sender.address.country_code = origin
    decl.provenance.received_at.FromDatetime(datetime(2026, 11, 27, 9, 15, tzinfo=UTC))
    decl.valuation.valued_on = valued_on.isoformat()
    decl.valuation.value_usd = str(usd)
    decl.valuation.value_band = value_band(usd)
    envelope = SignedEnvelope(payload=decl.SerializeToString(deterministic=True))
    return JournalEntry(
        record_id=f"{partner}:{item_id}:{version}",
        partner=partner,
        message_id=f"M-{item_id}-{version}",
        item_id=item_id,
        version=version,
        function=function,
        category="SALE_OF_GOODS",
        hs_chapters=(hs_code[:2],),
        origin_countries=(origin,),
        value_amount=usd,
        value_currency="USD",
        envelope=envelope.SerializeToString(),
    )


async def journal(store: Store, entry: JournalEntry) -> int:
    """Commit `entry` in a message of its own; its position."""
    message = make_message(entry.message_id, partner=entry.partner)
    [position] = await store.commit_message(message, [entry])
    return position


async def decide(
    store: Store,
    decision_id: str,
    item_id: str,
    version: int,
    code: DecisionCode,
    *,
    detection: Detection | None = None,
    consumer: str = "targeting",
    partner: str = PARTNER,
) -> int:
    """Store a decision on the item's `version` (its latest); its position."""
    decision = Decision(decision_id, consumer, partner, item_id, version, code, detection=detection)
    event = EventEntry(
        event_id=decision_event_id(consumer, decision_id), kind=EventKind.DECISION,
        partner=partner, item_id=item_id, version=version, category="SALE_OF_GOODS",
        hs_chapters=("61",), origin_countries=("CN",), value_amount=Decimal("12.50"),
        value_currency="USD", envelope=f"env:{decision_id}".encode(),
    )  # fmt: skip
    after = max((d.position for d in await store.item_decisions(partner, item_id)), default=0)
    commit = DecisionCommit(decision, f"M-{item_id}-{version}", DECIDED_AT, event, after)
    [outcome] = await store.commit_decisions([commit])
    assert isinstance(outcome, int), outcome
    return outcome


async def recounted(store: Store, upto: int | None = None) -> dict[CellKey, CellCounts]:
    """Brute force: the cells of every item's latest version at or below `upto` (default: the
    last position), each with one detection when its decisions up to `upto` give one."""
    last = await store.last_position() if upto is None else upto
    latest: dict[tuple[str, str], Declaration] = {}
    for row in await store.read_journal(0, last + 1):
        if row.position <= last:
            latest[row.entry.partner, row.entry.item_id] = declaration_in(row.entry.envelope)
    out: dict[CellKey, CellCounts] = {}
    for (partner, item_id), decl in latest.items():
        if decl.function == CANCELLATION:
            continue
        decisions: list[StoredDecision] = [
            d for d in await store.item_decisions(partner, item_id) if d.position <= last
        ]
        counts = counts_of(decl)
        if detection_of(decisions) is not None:
            counts = counts + CellCounts(detections=1)
        key = cell_of(decl)
        out[key] = out.get(key, CellCounts()) + counts
    return {key: counts for key, counts in out.items() if counts != CellCounts()}
