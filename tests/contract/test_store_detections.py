"""B5 detections in the cells across the Store contract (gateway/adapters/store/cells.py,
`read_fold`), the aggregation folding them on every backend, and the version 7 migration that
folds again the cells of a store that counted them without detections."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

import asyncpg
import pytest

from gateway.adapters.store.postgres import PostgresStore
from gateway.adapters.store.sqlite import SqliteStore
from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.decisions import AnswerCommit, DecisionCode, Detection, EventEntry, EventKind
from gateway.domain.journal import DecisionMark, RecordRow
from gateway.domain.messages import ItemFunction
from gateway.ports import Store
from gateway.services.cell_folding import Aggregator, declaration_in
from gateway.share.aggregate import cell_of
from tests import pg
from tests.builders import PARTNER
from tests.contract.conftest import Backend
from tests.detections import decide, declared_entry, journal, recounted

ITEM, OTHER = "RB000000001GB", "RB000000002GB"
REFUSED, RELEASED = DecisionCode.REFUSED, DecisionCode.RELEASED


def _cell(place: int) -> CellKey:
    return cell_of(declaration_in(declared_entry(ITEM, 1, ItemFunction.ORIGINAL, place).envelope))


def _counts(items: int, detections: int) -> CellCounts:
    return CellCounts(items, Decimal("12.50") * items, 0, 0, detections, 0)


def _answer(request: int) -> AnswerCommit:
    event = EventEntry(
        event_id=f"answer-{request}", kind=EventKind.ANSWER, partner=PARTNER, item_id=ITEM,
        version=2, category="SALE_OF_GOODS", hs_chapters=("61",), origin_countries=("CN",),
        value_amount=Decimal("12.50"), value_currency="USD", envelope=b"answer",
        addressee="targeting",
    )  # fmt: skip
    return AnswerCommit(request, f"{PARTNER}:{ITEM}:2", event)


async def test_read_fold_gives_records_and_decisions_in_one_order_without_answers(
    store: Store,
) -> None:
    p1 = await journal(store, declared_entry(ITEM, 1, ItemFunction.ORIGINAL))
    asked = await decide(store, "ri", ITEM, 1, DecisionCode.REQUEST_SCREENING)
    p2 = await journal(store, declared_entry(ITEM, 2, ItemFunction.AMENDMENT))
    await store.commit_answers(0, p2, [_answer(asked)])  # an ANSWER event after p2
    refused = await decide(store, "no", ITEM, 2, REFUSED, detection=Detection.WEAPONS)
    p3 = await journal(store, declared_entry(OTHER, 1, ItemFunction.ORIGINAL))

    rows = await store.read_fold(0, 100)

    records = {r.position: r for r in await store.read_records(0, 100)}
    assert [r.position for r in rows] == [p1, asked, p2, refused, p3]
    assert rows[1] == DecisionMark(asked, PARTNER, ITEM, may_detect=False)  # no detection yet
    assert rows[3] == DecisionMark(refused, PARTNER, ITEM)
    assert [r for r in rows if isinstance(r, RecordRow)] == [records[p] for p in (p1, p2, p3)]
    assert await store.last_position() == p3
    assert [r.position for r in await store.read_fold(asked, 2)] == [p2, refused]
    assert await store.read_fold(p3, 10) == []
    assert await store.read_fold(0, 0) == []


async def test_a_refusal_a_move_and_a_release_keep_the_cells_equal_to_a_recount(
    backend: Backend,
) -> None:
    store = await backend.open()
    await journal(store, declared_entry(ITEM, 1, ItemFunction.ORIGINAL, 0))
    await journal(store, declared_entry(OTHER, 1, ItemFunction.ORIGINAL, 0))
    await decide(store, "no", ITEM, 1, REFUSED, detection=Detection.NARCOTICS)
    await decide(store, "hold", OTHER, 1, DecisionCode.HOLD_FOR_INSPECTION)
    assert await Aggregator(store).catch_up() == 4
    assert await store.cells(["2026-W47"]) == {_cell(0): _counts(2, 1)}

    await journal(store, declared_entry(ITEM, 2, ItemFunction.AMENDMENT, 1))  # another cell
    store = await backend.reopen(store)  # a restarted gateway resumes from the stored position
    assert await Aggregator(store).catch_up() == 1
    assert await store.cells(["2026-W47"]) == {_cell(0): _counts(1, 0), _cell(1): _counts(1, 1)}

    await decide(store, "ok", ITEM, 2, RELEASED, consumer="targeting")
    await decide(
        store, "out", OTHER, 1, DecisionCode.RETURN_TO_SENDER, detection=Detection.IPR_COUNTERFEIT
    )
    await Aggregator(store).catch_up()
    assert await store.cells(["2026-W47"]) == {_cell(0): _counts(1, 1), _cell(1): _counts(1, 0)}

    await journal(store, declared_entry(OTHER, 2, ItemFunction.CANCELLATION, 0))
    await Aggregator(store).catch_up()
    assert await store.cells(["2026-W47"]) == {_cell(1): _counts(1, 0)}
    assert await store.cells(["2026-W47"]) == await recounted(store)
    assert await store.aggregation_position() == await store.last_position()


async def test_replicas_folding_at_once_count_each_detection_once(store: Store) -> None:
    for n in range(6):
        item = f"RB{n:09d}GB"
        await journal(store, declared_entry(item, 1, ItemFunction.ORIGINAL, n % 3))
        await decide(store, f"no-{n}", item, 1, REFUSED, detection=Detection.PRODUCT_SAFETY)
        if n % 2:
            await decide(store, f"ok-{n}", item, 1, RELEASED)

    await asyncio.gather(*(Aggregator(store, page=2).catch_up() for _ in range(3)))

    weeks = ["2026-W47", "2026-W48"]
    assert await store.cells(weeks) == await recounted(store)
    assert sum(c.detections for c in (await store.cells(weeks)).values()) == 3


# -- the version 7 migration (SQL backends) ----------------------------------------------------


async def _forget_version_7(store: Store) -> None:
    """Make the store's data look like version 6's (the migration of version 7 not applied)."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            with conn:
                conn.execute("DELETE FROM schema_version WHERE version >= 7")
        finally:
            conn.close()
    else:
        assert isinstance(store, PostgresStore)
        pg.require_postgres()
        schema = store._schema_name
        pg_conn = await asyncpg.connect(pg.DSN, server_settings={"search_path": schema})
        try:
            await pg_conn.execute("DELETE FROM schema_version WHERE version >= 7")
        finally:
            await pg_conn.close()


@pytest.mark.parametrize("detecting", [True, False])
async def test_cells_folded_without_detections_are_folded_again_on_upgrade(
    backend: Backend, detecting: bool
) -> None:
    if backend.name == "memory":
        pytest.skip("the in-memory store has no schema")
    store = await backend.open()
    await journal(store, declared_entry(ITEM, 1, ItemFunction.ORIGINAL, 0))
    code = REFUSED if detecting else DecisionCode.HOLD_FOR_INSPECTION
    await decide(store, "d", ITEM, 1, code, detection=Detection.NARCOTICS if detecting else None)
    last = await store.last_position()
    # As a gateway before version 7 folded it: the item, no detection.
    await store.apply_aggregation(0, last, {_cell(0): _counts(1, 0)})
    await store.close()
    await _forget_version_7(store)

    store = await backend.open()

    if detecting:
        assert await store.aggregation_position() == 0
        assert await store.cells(["2026-W47"]) == {}
        await Aggregator(store).catch_up()
        assert await store.cells(["2026-W47"]) == {_cell(0): _counts(1, 1)}
    else:
        assert await store.aggregation_position() == last
        assert await store.cells(["2026-W47"]) == {_cell(0): _counts(1, 0)}
