"""Builders for B5 detections in the cells: journal entries carrying real declarations (so the
aggregation can place them), decisions on them, the brute-force recount the incremental fold
must always equal, and what a partner can compute of the detections a report hides."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import highspy
import numpy as np

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


# -- what a partner can compute of a report's hidden detections --------------------------------

_DIMENSIONS = ("week", "channel", "originCountry", "hsChapter", "category", "valueBand")


def hidden_detection_bounds(doc: Mapping[str, Any]) -> dict[tuple[str, ...], tuple[int, int]]:
    """Per suppressed cell of a report's own week, the least and greatest number of detections
    a partner can compute it has from the numbers the report publishes (cells and totals),
    knowing what any reader knows: counts are integers, a listed cell has at least one item and
    no more detections than items. An attacker's model of its own, items and detections solved
    together (the gateway's audit solves each measure alone), by integer programmes (HiGHS)."""
    cells = list(doc["cells"])
    hidden = [c for c in cells if c["suppressed"]]
    n = len(hidden)
    if not n:
        return {}
    totals = doc["totals"]
    groups: list[Mapping[str, Any]] = [totals["grand"], *totals["byOriginAndChapter"]]
    for entries in totals["byDimension"].values():
        groups += entries
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.silent()
    # One thread, as the gateway's audit runs HiGHS: the process shares one HiGHS scheduler,
    # made by the first model run, and a model asking for another thread count fails to run.
    highs.setOptionValue("threads", 1)
    # columns: items of each hidden cell (0..n-1), then its detections (n..2n-1)
    highs.addVars(2 * n, np.array([1.0] * n + [0.0] * n), np.full(2 * n, highspy.kHighsInf))
    highs.changeColsIntegrality(2 * n, np.arange(2 * n, dtype=np.int32), np.ones(2 * n, np.uint8))
    for i in range(n):  # detections <= items
        highs.addRow(
            -highspy.kHighsInf, 0.0, 2, np.array([n + i, i], np.int32), np.array([1.0, -1.0])
        )
    for total in groups:
        if total["suppressed"]:
            continue
        dims = {d: v for d, v in total.items() if d in _DIMENSIONS}
        inside = [i for i, c in enumerate(hidden) if all(c[d] == v for d, v in dims.items())]
        shown = [
            c for c in cells if not c["suppressed"] and all(c[d] == v for d, v in dims.items())
        ]
        if not inside:
            continue
        for offset, measure in ((0, "items"), (n, "detections")):
            rest = float(total[measure] - sum(c[measure] for c in shown))
            index = np.array([offset + i for i in inside], np.int32)
            highs.addRow(rest, rest, len(index), index, np.ones(len(index)))
    out: dict[tuple[str, ...], tuple[int, int]] = {}
    for i, cell in enumerate(hidden):
        bounds = []
        for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
            cost = np.zeros(2 * n)
            cost[n + i] = 1.0
            highs.changeColsCost(2 * n, np.arange(2 * n, dtype=np.int32), cost)
            highs.changeObjectiveSense(sense)
            highs.run()
            status = highs.getModelStatus()
            if status == highspy.HighsModelStatus.kUnbounded:
                bounds.append(2**62)
                continue
            assert status == highspy.HighsModelStatus.kOptimal, highs.modelStatusToString(status)
            bounds.append(round(highs.getInfo().objective_function_value))
        out[tuple(cell[d] for d in _DIMENSIONS)] = (bounds[0], bounds[1])
    return out
