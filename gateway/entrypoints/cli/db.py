"""`gateway db migrate|verify`: the store's schema, and an audit of its journal."""

from __future__ import annotations

import argparse
import asyncio

from gateway.entrypoints.cli.common import AddCommand, commands, settings


def register(add: AddCommand) -> None:
    db = commands(add("db", help="the store's schema"), "ACTION")
    db(
        "migrate", help="create or migrate the store's schema (serve also does, at start-up)"
    ).set_defaults(run=_db_migrate)
    db(
        "verify",
        help="audit the journal: signatures, order, every message whole (exit 1 on a problem)",
    ).set_defaults(run=_db_verify)


def _db_migrate(args: argparse.Namespace) -> int:
    """Open the configured store, which applies pending migrations under the store's own lock
    (replicas starting at once wait for each other), and say which version it is at."""
    from gateway.adapters.store import SqliteStore, open_store_from_url
    from gateway.adapters.store.migrations import SQLITE_MIGRATIONS

    async def run() -> None:
        store = open_store_from_url(settings(args).store)
        if isinstance(store, SqliteStore):  # as `serve` would: the data directory is made
            store.path.parent.mkdir(parents=True, exist_ok=True)
        await store.open()
        try:
            await store.ping()
        finally:
            await store.close()

    asyncio.run(run())
    print(f"store schema at version {SQLITE_MIGRATIONS[-1].version}")
    return 0


def _db_verify(args: argparse.Namespace) -> int:
    """Audit the journal with the gateway's published keys (gateway/services/journal_audit.py)."""
    from gateway.adapters.crypto.keyring import Keyring
    from gateway.adapters.store import open_store_from_url
    from gateway.services.journal_audit import audit_journal

    loaded = settings(args)
    keys = Keyring.load(loaded.signing.key_dir).public_keys()

    async def run() -> int:
        store = open_store_from_url(loaded.store)
        await store.open()
        try:
            report = await audit_journal(store, keys)
        finally:
            await store.close()
        for problem in report.problems:
            print(f"problem: {problem}")
        if report.problem_count > len(report.problems):
            print(f"… and {report.problem_count - len(report.problems)} more problems")
        verdict = "verified" if report.ok else f"NOT verified: {report.problem_count} problems"
        print(
            f"journal {verdict}: {report.records} records, {report.messages} messages, "
            f"last position {report.last_position}"
        )
        return 0 if report.ok else 1

    return asyncio.run(run())
