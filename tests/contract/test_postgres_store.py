"""What only the PostgreSQL store promises beyond the shared contract: several replicas (store
handles, each with its own pool, as in separate processes) on ONE schema stay correct together.

The shared contract suite (test_store.py, test_store_b5.py) runs on PostgreSQL too; here two or
more `PostgresStore` handles play the replicas.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gateway.adapters.store import PostgresStore, open_store_from_url
from gateway.adapters.store.migrations import POSTGRES_MIGRATIONS
from gateway.adapters.store.postgres import _ITEM_STATES as ITEM_STATES_SQL
from gateway.domain.cells import CellCounts
from gateway.errors import DuplicateMessage, ItemVersionTaken, StoreError
from tests import pg
from tests.builders import make_cell, make_entries, make_message, make_report

Replicas = Callable[[int], Awaitable[list[PostgresStore]]]


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    pg.require_postgres()
    name = pg.new_schema()
    yield name
    await pg.drop_schema(name)


@pytest.fixture
async def replicas(schema: str) -> AsyncIterator[Replicas]:
    """Open `n` store handles on one schema, all at once (as replicas starting together)."""
    opened: list[PostgresStore] = []

    async def make(n: int) -> list[PostgresStore]:
        stores = [PostgresStore(pg.DSN, schema=schema, pool_size=4) for _ in range(n)]
        opened.extend(stores)
        await asyncio.gather(*(s.open() for s in stores))
        return stores

    yield make
    for store in opened:
        await store.close()


async def _fetch(schema: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg.DSN, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


# -- query plans -------------------------------------------------------------------------------


async def test_the_item_state_lookup_probes_each_id_whatever_the_journal_looked_like(
    replicas: Replicas, schema: str
) -> None:
    """A pooled connection keeps one plan per statement (PostgreSQL's generic plan, fixed after
    five runs, often while the journal is young). The item-state lookup's plan, made on an empty
    journal, must still look each asked id up by (partner, item_id), never read all of the
    partner's rows and filter them: that read grows with the journal (measured: 100-item
    messages fell from ~5,700 to ~2,800 items/s over 200,000 rows)."""
    await replicas(1)  # the migrated, empty journal
    conn = await asyncpg.connect(
        pg.DSN,
        server_settings={"search_path": schema, "plan_cache_mode": "force_generic_plan"},
    )
    try:
        await conn.execute(f"PREPARE item_states (text, text[]) AS {ITEM_STATES_SQL}")
        rows = await conn.fetch("EXPLAIN EXECUTE item_states ('gb-royal-mail', '{A,B}')")
    finally:
        await conn.close()
    plan = "\n".join(row[0] for row in rows)

    assert "Index Cond: ((partner = $1) AND (item_id = ids.item_id))" in plan, plan
    assert "Filter" not in plan, plan
    assert "Seq Scan on journal" not in plan, plan


# -- URLs and opening --------------------------------------------------------------------------


def test_a_postgresql_url_names_pool_size_and_schema_and_keeps_the_rest_for_asyncpg() -> None:
    store = open_store_from_url(
        "postgresql://gw:secret@db.internal:5433/aedgw?pool_size=20&schema=aedgw&sslmode=require"
    )

    assert isinstance(store, PostgresStore)
    assert store.schema == "aedgw"
    assert store._pool_size == 20
    assert store._dsn == "postgresql://gw:secret@db.internal:5433/aedgw?sslmode=require"


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    store = PostgresStore("postgresql://gw:hunter2@127.0.0.1:1/aedgw", connect_timeout=2)

    with pytest.raises(StoreError, match="cannot open the PostgreSQL store") as caught:
        await store.open()

    assert "hunter2" not in str(caught.value)


async def test_replicas_starting_at_once_apply_each_migration_once(
    replicas: Replicas, schema: str
) -> None:
    await replicas(4)

    rows = await _fetch(schema, "SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in POSTGRES_MIGRATIONS]


async def test_a_database_newer_than_the_code_is_refused(replicas: Replicas, schema: str) -> None:
    (store,) = await replicas(1)
    await store.close()
    conn = await asyncpg.connect(pg.DSN, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "INSERT INTO schema_version VALUES ($1, 'from the future', now())",
            POSTGRES_MIGRATIONS[-1].version + 1,
        )
    finally:
        await conn.close()

    with pytest.raises(StoreError, match="newer than"):
        await PostgresStore(pg.DSN, schema=schema).open()


# -- the journal across replicas ---------------------------------------------------------------


async def test_the_same_message_id_at_two_replicas_at_once_is_stored_once(
    replicas: Replicas,
) -> None:
    a, b = await replicas(2)
    for n in range(10):
        message = make_message(f"RACE-{n}")
        entries = make_entries(message, 3, first=10 * n)

        outcomes = await asyncio.gather(
            a.commit_message(message, entries),
            b.commit_message(message, entries),
            return_exceptions=True,
        )

        won = [o for o in outcomes if isinstance(o, list)]
        lost = [o for o in outcomes if isinstance(o, DuplicateMessage)]
        assert len(won) == 1, outcomes
        assert len(lost) == 1, outcomes
        assert lost[0].existing.receipt == message.receipt
        assert lost[0].existing.content_digest == message.content_digest
    for store in (a, b):
        assert len(await store.read_journal(0, 1000)) == 30


async def test_a_reader_following_the_journal_never_misses_a_row_committed_by_any_replica(
    replicas: Replicas,
) -> None:
    """Appends from three replicas race while a consumer reads incrementally from a fourth:
    what it reads, position after position, is exactly every committed row (no row ever
    appears below a position it has already passed)."""
    *writers, reader = await replicas(4)
    committed: list[int] = []
    stop = asyncio.Event()

    async def write(w: int, store: PostgresStore) -> None:
        for n in range(40):
            message = make_message(f"W{w}-{n}")
            entries = make_entries(message, random.randint(1, 5), first=1000 * w + 10 * n)
            committed.extend(await store.commit_message(message, entries))
            await asyncio.sleep(random.random() / 1000)

    async def follow() -> list[int]:
        seen: list[int] = []
        while True:
            done = stop.is_set()
            rows = await reader.read_journal(seen[-1] if seen else 0, 7)
            seen.extend(r.position for r in rows)
            if done and not rows:
                return seen

    follower = asyncio.create_task(follow())
    await asyncio.gather(*(write(w, s) for w, s in enumerate(writers)))
    stop.set()
    seen = await follower

    assert len(committed) >= 3 * 40
    assert seen == sorted(committed)


async def test_a_batch_with_a_failing_message_commits_the_others(replicas: Replicas) -> None:
    """One replica's group commit holds a message whose item version another replica already
    journaled: only that message fails."""
    a, b = await replicas(2)
    stored = make_message("FIRST")
    await b.commit_message(stored, make_entries(stored, 1))
    clash = make_message("CLASH")
    clashing = make_entries(clash, 1)  # the same item ids and versions as FIRST's
    others = [make_message(f"OK-{n}") for n in range(5)]

    outcomes = await asyncio.gather(
        *(
            a.commit_message(m, make_entries(m, 2, first=100 + 10 * n))
            for n, m in enumerate(others)
        ),
        a.commit_message(clash, clashing),
        return_exceptions=True,
    )

    assert all(isinstance(o, list) for o in outcomes[:-1]), outcomes
    assert isinstance(outcomes[-1], ItemVersionTaken)
    assert await a.find_message(clash.partner, clash.message_id) is None
    assert len(await b.read_journal(0, 100)) == 1 + 10


async def test_a_commit_on_one_replica_wakes_the_watchers_of_another(replicas: Replicas) -> None:
    a, b = await replicas(2)
    woken: asyncio.Queue[int] = asyncio.Queue()
    await b.watch_journal(woken.put_nowait)
    message = make_message("WAKE")

    positions = await a.commit_message(message, make_entries(message, 2))

    assert await asyncio.wait_for(woken.get(), 5) == positions[-1]


async def test_cursors_are_shared_by_every_replica(replicas: Replicas) -> None:
    a, b = await replicas(2)
    message = make_message()
    positions = await a.commit_message(message, make_entries(message, 3))

    await a.ack("analytics", positions[1])
    await b.ack("analytics", positions[0])  # late and behind: never moves the cursor back

    assert await b.get_cursor("analytics") == positions[1]


# -- aggregation and the outbox across replicas ------------------------------------------------


async def test_replicas_applying_the_same_aggregation_count_it_once(replicas: Replicas) -> None:
    stores = await replicas(3)
    message = make_message()
    upto = (await stores[0].commit_message(message, make_entries(message, 1)))[-1]
    cell = make_cell()

    outcomes = await asyncio.gather(
        *(s.apply_aggregation(0, upto, {cell: CellCounts(items=1)}) for s in stores),
        return_exceptions=True,
    )

    assert sum(1 for o in outcomes if o is None) == 1, outcomes
    assert (await stores[1].cells([cell.week]))[cell].items == 1


async def test_replicas_claiming_at_once_never_hold_the_same_report(replicas: Replicas) -> None:
    stores = await replicas(3)
    created = datetime(2026, 11, 30, tzinfo=UTC)
    pushed = [
        await stores[0].add_report(make_report(f"r-{n}", created_at=created), push=True)
        for n in range(30)
    ]
    now = created + timedelta(seconds=1)

    claims = await asyncio.gather(
        *(
            s.claim_deliveries(f"replica-{n}-{k}", now, timedelta(minutes=1), 4)
            for k in range(4)
            for n, s in enumerate(stores)
        )
    )

    held = [d.position for claim in claims for d in claim]
    assert len(held) == len(set(held)) == min(30, 12 * 4)
    assert set(held) <= set(pushed)


async def test_a_dead_replicas_lease_is_taken_over_after_it_expires(replicas: Replicas) -> None:
    dead, alive = await replicas(2)
    created = datetime(2026, 11, 30, tzinfo=UTC)
    position = await dead.add_report(make_report("r-1", created_at=created), push=True)
    assert len(await dead.claim_deliveries("dead", created, timedelta(seconds=30), 10)) == 1
    await dead.close()  # it dies holding the lease

    before_expiry = created + timedelta(seconds=29)
    assert await alive.claim_deliveries("alive", before_expiry, timedelta(seconds=30), 10) == []
    (taken,) = await alive.claim_deliveries(
        "alive", created + timedelta(seconds=30), timedelta(seconds=30), 10
    )
    assert (taken.position, taken.owner) == (position, "alive")


async def test_report_positions_from_replicas_are_one_increasing_pull_cursor(
    replicas: Replicas,
) -> None:
    stores = await replicas(3)
    created = datetime(2026, 11, 30, tzinfo=UTC)

    positions = await asyncio.gather(
        *(
            stores[n % 3].add_report(make_report(f"r-{n}", created_at=created), push=False)
            for n in range(30)
        )
    )

    assert len(set(positions)) == 30
    listed = await stores[0].reports_after(make_report("x").partner, 0, 100)
    assert [r.position for r in listed] == sorted(positions)


async def test_every_decimal_value_is_text_never_floating_point(
    replicas: Replicas, schema: str
) -> None:
    (store,) = await replicas(1)
    message = make_message()
    await store.commit_message(message, make_entries(message, 1))

    rows = await _fetch(
        schema,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type IN ('real', 'double precision')",
    )
    assert rows == []


async def test_a_watcher_whose_connection_is_cut_listens_again(
    replicas: Replicas, schema: str
) -> None:
    a, b = await replicas(2)
    woken: asyncio.Queue[int] = asyncio.Queue()
    await b.watch_journal(woken.put_nowait)
    listener = b._listener
    assert listener is not None
    await _fetch(schema, f"SELECT pg_terminate_backend({listener.get_server_pid()})")
    assert await asyncio.wait_for(woken.get(), 10) == 0  # listening again: the last position
    message = make_message("AFTER-CUT")

    positions = await a.commit_message(message, make_entries(message, 1))

    assert await asyncio.wait_for(woken.get(), 10) == positions[-1]
