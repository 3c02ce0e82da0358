"""What only the SQLite backend has to show: its file, pragmas, migrations, crash durability
and the store URL that names it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from gateway.adapters.store import SqliteStore, open_store_from_url
from gateway.adapters.store.migrations import SQLITE_MIGRATIONS
from gateway.errors import ConfigError, StoreError
from tests.builders import make_entries, make_message, make_rejection

REPO = Path(__file__).resolve().parents[2]

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


def _downgrade_to_version_1(path: Path) -> None:
    """Leave exactly what migration 1 created, with the data it holds."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("DROP TABLE rejections")
            conn.execute("DELETE FROM schema_version WHERE version > 1")
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    assert {name for (name,) in tables} == {
        "schema_version", "messages", "journal", "cursors", "sqlite_sequence"
    }  # fmt: skip


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


async def test_a_version_1_database_is_migrated_to_2_on_open_keeping_its_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gw.db"
    old = await _opened(path)
    message = make_message("M1", status="PARTIALLY_ACCEPTED")
    entries = make_entries(message, 3)
    positions = await old.commit_message(message, entries)
    await old.ack("customs-risk", positions[1])
    await old.close()
    _downgrade_to_version_1(path)
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
    assert versions == [(1, "messages, journal, cursors"), (2, "rejections")]


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
        ("postgresql://gw:secret@db/gateway", "postgresql is not yet supported"),
        ("postgres://db/gateway", "postgresql is not yet supported"),
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
