"""What only the SQLite backend has to show: its file, pragmas, migrations, crash durability
and the store URL that names it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.adapters.store import SqliteStore, group_commit, open_store_from_url
from gateway.adapters.store import sqlite as sqlite_module
from gateway.adapters.store.migrations import SCHEMA_VERSION_DDL, SQLITE_MIGRATIONS
from gateway.adapters.store.outbox import MAX_ERROR_CHARS
from gateway.errors import ConfigError, DuplicateMessage, StoreError
from tests.builders import (
    make_cell,
    make_counts,
    make_entries,
    make_feed_message,
    make_message,
    make_observation,
    make_rejection,
    make_report,
)

REPO = Path(__file__).resolve().parents[2]
LEASE = timedelta(minutes=1)

CHILD = """
import asyncio, sys
from pathlib import Path
from gateway.adapters.store import SqliteStore
from tests.builders import make_entries, make_message

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    await store.open()
    message = make_message("M-CRASH")
    positions = await store.commit_message(message, make_entries(message, 50))
    print(",".join(map(str, positions)), flush=True)
    await asyncio.sleep(60)  # killed long before this ends

asyncio.run(main())
"""


async def _opened(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    return store


_VERSION_3_TABLES = ("outbox", "reports", "positions", "cells", "observations")
_VERSION_4_TABLES = ("frozen_cells", "frozen_weeks")
_VERSION_5_TABLES = ("decisions", "events", "arrivals")


def _downgrade_to_version(path: Path, version: int) -> None:
    """Leave exactly what migrations up to `version` (1 or 2) created, with the data it holds."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            dropped = _VERSION_5_TABLES + _VERSION_4_TABLES + _VERSION_3_TABLES
            for table in dropped + (("rejections",) if version < 2 else ()):
                conn.execute(f"DROP TABLE {table}")
            conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('reports', 'outbox')")
            conn.execute("DELETE FROM schema_version WHERE version > ?", (version,))
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    expected = {"schema_version", "messages", "journal", "cursors", "sqlite_sequence"}
    assert {name for (name,) in tables} == expected | ({"rejections"} if version >= 2 else set())


async def _trace_writer(store: SqliteStore) -> list[str]:
    """Every statement the writer connection runs from now on, as SQLite reports it."""
    seen: list[str] = []
    writer = store._writer  # the writer connection is the one that commits
    assert writer is not None
    await writer.run(lambda conn: conn.set_trace_callback(seen.append))
    return seen


async def _commit_concurrently(store: SqliteStore, count: int, items: int = 1) -> list[list[int]]:
    messages = [make_message(f"M{n:04d}") for n in range(count)]
    return await asyncio.gather(
        *(
            store.commit_message(m, make_entries(m, items, first=items * n))
            for n, m in enumerate(messages)
        )
    )


def _deny_commit(action: int, arg1: str | None, *_: object) -> int:
    if action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
async def test_commit_survives_sigkill_right_after_it_returned(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(path), cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL

    store = await _opened(path)
    try:
        rows = await store.read_journal(0, 100)
        found = await store.find_message("gb-royal-mail", "M-CRASH")
    finally:
        await store.close()
    assert [row.position for row in rows] == [int(p) for p in line.decode().strip().split(",")]
    assert found is not None


async def test_open_creates_a_wal_database_at_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    store = await _opened(path)
    await store.close()
    await (await _opened(path)).close()  # a second open applies nothing twice

    assert _query(path, "PRAGMA journal_mode") == [("wal",)]
    versions = _query(path, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(m.version,) for m in SQLITE_MIGRATIONS]


async def test_a_version_1_database_is_migrated_to_the_latest_on_open_keeping_its_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    old = await _opened(path)
    message = make_message("M1", status="PARTIALLY_ACCEPTED")
    entries = make_entries(message, 3)
    positions = await old.commit_message(message, entries)
    await old.ack("customs-risk", positions[1])
    await old.close()
    _downgrade_to_version(path, 1)
    assert _query(path, "SELECT version FROM schema_version") == [(1,)]

    store = await _opened(path)
    try:
        assert [row.entry for row in await store.read_journal(0, 100)] == entries
        assert await store.get_cursor("customs-risk") == positions[1]
        found = await store.find_message(message.partner, "M1")
        assert found is not None
        assert found.receipt == message.receipt
        await store.record_rejection(make_rejection())
        assert await store.rejections() == [make_rejection()]
        next_message = make_message("M2")
        assert await store.commit_message(next_message, make_entries(next_message, 1, first=9)) == [
            positions[-1] + 1
        ]
    finally:
        await store.close()
    versions = _query(path, "SELECT version, description FROM schema_version ORDER BY version")
    assert versions == [(m.version, m.description) for m in SQLITE_MIGRATIONS]
    assert versions[:2] == [(1, "messages, journal, cursors"), (2, "rejections")]


async def test_a_lowered_rejection_bound_takes_effect_on_open(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    store = SqliteStore(path, max_rejections=100)
    await store.open()
    for n in range(50):
        await store.record_rejection(make_rejection(f"R{n}"))
    await store.close()

    store = SqliteStore(path, max_rejections=10)
    await store.open()
    await store.close()

    assert _query(path, "SELECT count(*), min(id), max(id) FROM rejections") == [(10, 41, 50)]


async def test_a_rejection_leaves_the_writer_at_its_synchronous_mode(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "gw.db")
    try:
        await store.record_rejection(make_rejection())
        writer = store._writer  # the pragma lives on the writer connection
        assert writer is not None
        mode = await writer.run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        await store.close()
    assert mode == 2  # FULL


def test_the_rejection_bound_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_rejections"):
        SqliteStore(tmp_path / "gw.db", max_rejections=0)


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    await (await _opened(path)).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'from the future', 'x')")
    conn.close()

    with pytest.raises(StoreError, match="999"):
        await _opened(path)


async def test_positions_are_never_reused_even_when_the_newest_rows_are_gone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    store = await _opened(path)
    m1, m2 = make_message("M1"), make_message("M2")
    first = await store.commit_message(m1, make_entries(m1, 3))
    await store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM journal WHERE position = ?", (first[-1],))
    conn.close()

    store = await _opened(path)
    try:
        second = await store.commit_message(m2, make_entries(m2, 1, first=10))
    finally:
        await store.close()
    assert second == [first[-1] + 1]


async def test_entries_must_belong_to_a_stored_message(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "gw.db")
    try:
        stray = make_entries(make_message("NOT-STORED"), 1)
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            await store.commit_message(make_message("M1"), stray)
        assert await store.last_position() == 0
    finally:
        await store.close()


async def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        await _opened(tmp_path / "missing-dir" / "gw.db")


def test_synchronous_mode_must_be_one_sqlite_knows(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="synchronous"):
        SqliteStore(tmp_path / "gw.db", synchronous="SOMETIMES")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/gw.db", Path("data/gw.db")),
        ("sqlite:////var/lib/gateway/gw.db", Path("/var/lib/gateway/gw.db")),
        ("sqlite:///gw.db?synchronous=NORMAL", Path("gw.db")),
    ],
)
def test_sqlite_urls_name_relative_and_absolute_files(url: str, expected: Path) -> None:
    store = open_store_from_url(url)

    assert isinstance(store, SqliteStore)
    assert store.path == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://gw:secret@db/gateway?pool_size=0", "pool_size must be a whole number"),
        ("postgres://gw:secret@db/gateway?schema=Bad-Name", "not a plain schema name"),
        ("postgresql://gw:secret@db/gateway#main", "has no #fragment"),
        ("mysql://db/gateway", "unknown store scheme 'mysql'"),
        ("gateway.db", "unknown store scheme '(none)'"),
        ("sqlite://host/gw.db", "names no host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///gw.db?journal=off", "unknown sqlite option"),
        ("sqlite:///gw.db?synchronous=maybe", "synchronous"),
    ],
)
def test_other_store_urls_are_refused_with_a_precise_error(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        open_store_from_url(url)

    assert "secret" not in str(caught.value)


async def test_concurrent_commits_share_transactions(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "gw.db")
    try:
        statements = await _trace_writer(store)
        results = await _commit_concurrently(store, 100, items=3)
    finally:
        await store.close()

    commits = statements.count("COMMIT")
    assert 1 <= commits < 100  # one fsync per transaction, not per message
    assert statements.count("BEGIN IMMEDIATE") == commits
    assert sorted(p for r in results for p in r) == list(range(1, 301))


async def test_a_lone_commit_is_one_transaction_of_its_own(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "gw.db")
    try:
        statements = await _trace_writer(store)
        for n in range(3):
            message = make_message(f"M{n}")
            await store.commit_message(message, make_entries(message, 2, first=10 * n))
    finally:
        await store.close()

    assert statements.count("COMMIT") == 3


async def test_a_group_commit_is_bounded_by_messages_and_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _opened(tmp_path / "gw.db")
    try:
        statements = await _trace_writer(store)
        await _commit_concurrently(store, group_commit.BATCH_MESSAGES + 1)
        by_messages = statements.count("COMMIT")
        monkeypatch.setattr(group_commit, "BATCH_ENTRIES", 10)
        statements.clear()
        messages = [make_message(f"E{n}") for n in range(4)]
        await asyncio.gather(
            *(
                store.commit_message(m, make_entries(m, 6, first=1000 + 10 * n))
                for n, m in enumerate(messages)
            ),
            store.commit_message(
                make_message("BIG"), make_entries(make_message("BIG"), 25, first=5000)
            ),
        )
        by_entries = statements.count("COMMIT")
    finally:
        await store.close()

    assert by_messages == 2
    assert by_entries == 5  # 6 + 6 > 10: one message each; a message above the bound goes alone


async def test_a_failed_group_commit_fails_every_caller_and_keeps_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    store = await _opened(path)
    try:
        first = make_message("M-FIRST")
        kept = await store.commit_message(first, make_entries(first, 2, first=9000))
        writer = store._writer
        assert writer is not None
        await writer.run(lambda conn: conn.set_authorizer(_deny_commit))
        messages = [make_message(f"M{n}") for n in range(8)]
        batches = [make_entries(m, 2, first=10 * n) for n, m in enumerate(messages)]
        results = await asyncio.gather(
            *(store.commit_message(m, b) for m, b in zip(messages, batches, strict=True)),
            store.commit_message(make_message("M-FIRST"), []),
            return_exceptions=True,
        )
        await writer.run(lambda conn: conn.set_authorizer(None))

        assert all(isinstance(r, StoreError) for r in results)
        assert not any(isinstance(r, DuplicateMessage) for r in results)
        assert await store.last_position() == kept[-1]
        assert all([await store.find_message(m.partner, m.message_id) is None for m in messages])
        # Nothing was kept, so the same messages commit now, right after the last kept position.
        again = await store.commit_message(messages[0], batches[0])
        assert again == [kept[-1] + 1, kept[-1] + 2]
    finally:
        await store.close()
    assert _query(path, "SELECT count(*) FROM messages") == [(2,)]


async def test_commits_queued_before_close_still_land(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    store = await _opened(path)
    messages = [make_message(f"M{n}") for n in range(20)]
    commits = [
        asyncio.ensure_future(store.commit_message(m, make_entries(m, 1, first=n)))
        for n, m in enumerate(messages)
    ]
    await asyncio.sleep(0)  # every commit is queued; the first batch is on the writer
    await store.close()

    results = [await commit for commit in commits]
    assert sorted(p for positions in results for p in positions) == list(range(1, 21))
    assert _query(path, "SELECT count(*) FROM journal") == [(20,)]


async def test_a_version_2_database_is_migrated_to_the_latest_on_open_keeping_its_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    old = await _opened(path)
    message = make_message("M1")
    positions = await old.commit_message(message, make_entries(message, 2))
    await old.record_rejection(make_rejection())
    await old.close()
    _downgrade_to_version(path, 2)

    store = await _opened(path)
    try:
        assert [row.position for row in await store.read_journal(0, 10)] == positions
        assert await store.rejections() == [make_rejection()]
        assert await store.aggregation_position() == 0
        await store.apply_aggregation(0, positions[-1], {make_cell(): make_counts(2)})
        await store.commit_feed(make_feed_message(), [make_observation()])
        assert await store.add_report(make_report(), push=True) == 1
    finally:
        await store.close()
    latest = SQLITE_MIGRATIONS[-1].version
    assert _query(path, "SELECT max(version) FROM schema_version") == [(latest,)]


def _built_at(path: Path, version: int) -> None:
    """A database as the store of schema `version` made it: migrations 1 to `version` applied
    as `open()` applies them."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(SCHEMA_VERSION_DDL)
        for migration in SQLITE_MIGRATIONS[:version]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                (migration.version, migration.description, datetime.now(UTC).isoformat()),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _old_report(conn: sqlite3.Connection, report_id: str, week: str = "2026-W48") -> int:
    """A report written as the stores of schema 3 to 5 wrote it; its position."""
    report = make_report(report_id, week=week)
    cursor = conn.execute(
        "INSERT INTO reports (report_id, partner, week, created_at, envelope) "
        "VALUES (?, ?, ?, ?, ?)",
        (report.report_id, report.partner, report.week,
         report.created_at.isoformat(timespec="microseconds"), report.envelope),
    )  # fmt: skip
    assert cursor.lastrowid is not None
    return cursor.lastrowid


_V3_OUTBOX = """
INSERT INTO outbox (position, attempts, next_attempt_at, lease_owner, lease_until, last_error,
                    delivered_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""


async def test_a_version_3_database_gets_frozen_weeks_on_open_keeping_its_reports(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    _built_at(path, 3)
    conn = sqlite3.connect(path)
    try:
        with conn:
            position = _old_report(conn, make_report().report_id, make_report().week)
            due = make_report().created_at.isoformat(timespec="microseconds")
            conn.execute(_V3_OUTBOX, (position, 0, due, None, None, None, None))
    finally:
        conn.close()

    store = await _opened(path)
    try:
        found = await store.report_of(make_report().partner, make_report().week)
        assert found is not None
        assert (found.position, found.report) == (position, make_report())
        assert [(d.position, d.report) for d in await store.outbox()] == [(position, make_report())]
        assert await store.freeze_week(make_report().week, [], generation=0)
    finally:
        await store.close()
    latest = SQLITE_MIGRATIONS[-1].version
    assert _query(path, "SELECT max(version) FROM schema_version") == [(latest,)]
    assert _query(path, "SELECT week, number FROM frozen_weeks") == [(make_report().week, 1)]


async def test_a_version_5_outbox_is_rebuilt_for_responses_keeping_every_row_and_its_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    _built_at(path, 5)
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    text = [(t0 + timedelta(minutes=n)).isoformat(timespec="microseconds") for n in range(4)]
    conn = sqlite3.connect(path)
    try:
        with conn:
            delivered, failed, leased, fresh = (_old_report(conn, f"r{n}") for n in range(4))
            conn.execute(_V3_OUTBOX, (delivered, 1, text[0], None, None, None, text[1]))
            conn.execute(_V3_OUTBOX, (failed, 2, text[3], None, None, "HTTP 503", None))
            conn.execute(_V3_OUTBOX, (leased, 0, text[0], "gw-a", text[2], None, None))
            conn.execute(_V3_OUTBOX, (fresh, 0, text[0], None, None, None, None))
    finally:
        conn.close()

    store = await _opened(path)
    try:
        rows = await store.outbox()
        assert [(d.position, d.report.report_id, d.attempts, d.owner) for d in rows] == [
            (failed, "r1", 2, ""), (leased, "r2", 0, "gw-a"), (fresh, "r3", 0, "")
        ]  # fmt: skip
        assert rows[0].lease_until == t0 + timedelta(minutes=3)  # its next attempt, kept
        claimed = await store.claim_deliveries("gw-b", t0 + timedelta(minutes=5), LEASE, 10)
        assert [d.position for d in claimed] == [failed, leased, fresh]
        newer = await store.add_report(make_report("r4"), push=True)
        assert [d.position for d in await store.outbox()][-1] == newer
    finally:
        await store.close()
    assert _query(path, "SELECT id, kind, report, decision FROM outbox ORDER BY id") == [
        (delivered, "REPORT", delivered, None), (failed, "REPORT", failed, None),
        (leased, "REPORT", leased, None), (fresh, "REPORT", fresh, None),
        (newer, "REPORT", newer, None),
    ]  # fmt: skip
    assert _query(path, "PRAGMA foreign_key_check") == []


async def test_values_and_counts_are_stored_as_text_and_integers_never_real(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    store = await _opened(path)
    try:
        await store.commit_feed(
            make_feed_message(),
            [make_observation("o1"), make_observation("o2", declared_value_usd=None)],
        )
        positions = await store.commit_message(make_message(), make_entries(make_message(), 1))
        await store.apply_aggregation(0, positions[0], {make_cell(): make_counts(3, "0.30")})
    finally:
        await store.close()

    assert _query(
        path, "SELECT typeof(declared_value_usd), typeof(items) FROM observations ORDER BY id"
    ) == [("text", "integer"), ("null", "integer")]
    assert _query(
        path, "SELECT items, declared_value_usd, typeof(declared_value_usd) FROM cells"
    ) == [(3, "0.30", "text")]
    assert _query(path, "SELECT feed_id FROM observations") == [("feed-0001",)] * 2


async def test_outbox_times_are_fixed_width_utc_text_and_errors_are_bounded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # no microseconds: still 6 digits stored
    store = await _opened(path)
    try:
        position = await store.add_report(make_report(created_at=now), push=True)
        await store.claim_deliveries("gw-a", now, timedelta(minutes=1), 10)
        await store.delivery_failed(position, "gw-a", now + timedelta(hours=1), "x" * 10_000)
        await store.add_report(make_report("r2", created_at=now), push=True)
        await store.claim_deliveries("gw-a", now, timedelta(minutes=1), 10)
    finally:
        await store.close()

    assert (
        _query(path, "SELECT created_at FROM reports ORDER BY position")
        == [("2026-11-30T08:00:00.000000+00:00",)] * 2
    )
    rows = _query(
        path,
        "SELECT attempts, next_attempt_at, lease_owner, lease_until, length(last_error) "
        "FROM outbox ORDER BY id",
    )
    assert rows == [
        (1, "2026-11-30T09:00:00.000000+00:00", None, None, MAX_ERROR_CHARS),
        (0, "2026-11-30T08:00:00.000000+00:00", "gw-a", "2026-11-30T08:01:00.000000+00:00", None),
    ]


async def test_a_delivered_row_is_kept_with_its_delivery_time(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    store = await _opened(path)
    try:
        position = await store.add_report(make_report(), push=True)
        await store.claim_deliveries("gw-a", datetime.now(UTC), timedelta(minutes=1), 10)
        await store.delivery_succeeded(position, "gw-a")
    finally:
        await store.close()

    ((attempts, delivered_at, owner),) = _query(
        path, "SELECT attempts, delivered_at, lease_owner FROM outbox"
    )
    assert (attempts, owner) == (1, None)
    assert datetime.fromisoformat(str(delivered_at)).tzinfo is not None


async def test_a_feed_is_one_transaction_of_its_own(tmp_path: Path) -> None:
    store = await _opened(tmp_path / "gw.db")
    try:
        seen = await _trace_writer(store)
        await store.commit_feed(make_feed_message(), [make_observation(f"o{n}") for n in range(5)])
    finally:
        await store.close()
    assert [s for s in seen if s in {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"}] == [
        "BEGIN IMMEDIATE", "COMMIT"
    ]  # fmt: skip


async def test_two_gateways_on_one_file_never_claim_the_same_row(tmp_path: Path) -> None:
    """Two stores (two writer connections, as two processes would have) claim at once."""
    path = tmp_path / "gw.db"
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    first, second = await _opened(path), await _opened(path)
    try:
        positions = [
            await first.add_report(make_report(f"r{n}", created_at=now), push=True)
            for n in range(60)
        ]
        rounds = await asyncio.gather(
            *(
                store.claim_deliveries(f"{name}-{n}", now, timedelta(minutes=1), 3)
                for n in range(15)
                for name, store in (("a", first), ("b", second))
            )
        )
    finally:
        await first.close()
        await second.close()
    claimed = [d.position for deliveries in rounds for d in deliveries]
    assert sorted(claimed) == positions  # 30 claims of 3 for 60 rows: each exactly once


async def test_a_stale_aggregation_from_another_gateway_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    first, second = await _opened(path), await _opened(path)
    try:
        message = make_message()
        positions = await first.commit_message(message, make_entries(message, 2))
        await first.apply_aggregation(0, positions[-1], {make_cell(): make_counts(2)})
        with pytest.raises(StoreError, match="aggregation position is 2"):
            await second.apply_aggregation(0, positions[-1], {make_cell(): make_counts(2)})
        assert await second.cells(["2026-W47"]) == {make_cell(): make_counts(2)}
    finally:
        await first.close()
        await second.close()


async def test_lookups_run_on_the_loop_and_on_a_reader_thread_when_the_file_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message's point lookups use the event loop's own connection, which never waits for a
    lock: SQLITE_BUSY there sends the lookup to a reader thread (which may wait); any other
    error is a StoreError."""
    store = SqliteStore(tmp_path / "journal.db")
    await store.open()
    stored = make_message("M-1")
    await store.commit_message(stored, make_entries(stored, 2))
    lookup = sqlite_module._find_message
    used: list[str] = []

    def busy_on_the_loop(conn: sqlite3.Connection, **kw: str) -> object:
        on_loop = conn is store._inline
        used.append("loop" if on_loop else "thread")
        if on_loop and len(used) == 2:
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise busy
        if on_loop and len(used) == 4:
            raise sqlite3.OperationalError("disk I/O error")
        return lookup(conn, **kw)

    monkeypatch.setattr(sqlite_module, "_find_message", busy_on_the_loop)
    assert await store.find_message(stored.partner, "M-1") is not None
    found = await store.find_message(stored.partner, "M-1")
    assert found is not None
    assert found.receipt == stored.receipt
    assert used == ["loop", "loop", "thread"]
    with pytest.raises(StoreError, match="disk I/O error"):
        await store.find_message(stored.partner, "M-1")
    states = await store.item_states(stored.partner, ["ITEM000001", "NONE"])
    assert states.keys() == {"ITEM000001"}
    await store.close()
