"""The PostgreSQL server the tests use: one throw-away schema per test.

`AEDGW_TEST_POSTGRES` names the server (default: the local one, trust auth, database `test`).
Outside CI a test needing it is skipped with a message saying how to start it; under CI
(`CI` set) an unreachable server fails the test: the CI script starts it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import asyncpg
import pytest

DSN = os.environ.get("AEDGW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_HINT = (
    "PostgreSQL is not reachable at AEDGW_TEST_POSTGRES ({dsn}): {reason}. Start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (.ci/run does)"
)


@cache
def _unreachable() -> str | None:
    """Why the server cannot be reached (asked once per test run), or None.

    The probe runs on a thread of its own: callers may be inside a running event loop.
    """

    async def probe() -> None:
        conn = await asyncpg.connect(DSN, timeout=5)
        await conn.close()

    try:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, probe()).result()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Skip (outside CI) or fail (under CI) the calling test when the server is unreachable."""
    reason = _unreachable()
    if reason is None:
        return
    message = _HINT.format(dsn=DSN, reason=reason)
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(DSN, timeout=10)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
