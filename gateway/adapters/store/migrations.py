"""The store's schema as numbered migrations: the one place that holds its DDL.

Migrations are applied in order at `open()`, each in its own transaction together with the row
that records it in `schema_version`; a store never runs a migration twice and refuses a database
newer than the code. A PostgreSQL backend mirrors the same versions with its own dialect, so
version N means the same tables and constraints in both.

Schema (version 1):

    messages      one row per (partner, message_id): digest, receipt as sent, status
    journal       append-only; `position` is AUTOINCREMENT so a position is never reused, even
                  after the newest rows are gone; (partner, item_id, version) is unique and its
                  index answers "latest version of this item" without a separate table
    cursors       one row per consumer: its last acknowledged position
    schema_version

Version 2:

    rejections    refused requests for operators, newest = highest `id`; AUTOINCREMENT so ids are
                  never reused, and the store prunes the oldest by an `id` range (bounded count)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    description TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL
)
"""

SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "messages, journal, cursors",
        (
            """
            CREATE TABLE messages (
                partner        TEXT    NOT NULL,
                message_id     TEXT    NOT NULL,
                content_digest TEXT    NOT NULL,
                receipt_id     TEXT    NOT NULL,
                received_at    TEXT    NOT NULL,
                status         TEXT    NOT NULL
                    CHECK (status IN ('ACCEPTED', 'PARTIALLY_ACCEPTED', 'REJECTED')),
                http_status    INTEGER NOT NULL,
                receipt        BLOB    NOT NULL,
                test           INTEGER NOT NULL CHECK (test IN (0, 1)),
                PRIMARY KEY (partner, message_id)
            )
            """,
            """
            CREATE TABLE journal (
                position         INTEGER PRIMARY KEY AUTOINCREMENT,
                record_id        TEXT    NOT NULL UNIQUE,
                partner          TEXT    NOT NULL,
                message_id       TEXT    NOT NULL,
                item_id          TEXT    NOT NULL,
                version          INTEGER NOT NULL,
                function         TEXT    NOT NULL
                    CHECK (function IN ('ORIGINAL', 'AMENDMENT', 'CANCELLATION')),
                category         TEXT    NOT NULL,
                hs_chapters      TEXT    NOT NULL,  -- "61,95"; JSON array when a code holds a comma
                origin_countries TEXT    NOT NULL,  -- "61,95"; JSON array when a code holds a comma
                value_amount     TEXT    NOT NULL,  -- Decimal as str(): exact, never REAL
                value_currency   TEXT    NOT NULL,
                envelope         BLOB    NOT NULL,
                UNIQUE (partner, item_id, version),
                FOREIGN KEY (partner, message_id) REFERENCES messages (partner, message_id)
            )
            """,
            "CREATE INDEX journal_by_item ON journal (item_id, position)",
            """
            CREATE TABLE cursors (
                consumer TEXT    PRIMARY KEY,
                position INTEGER NOT NULL CHECK (position >= 0)
            )
            """,
        ),
    ),
    Migration(
        2,
        "rejections",
        (
            """
            CREATE TABLE rejections (
                id             INTEGER PRIMARY KEY AUTOINCREMENT,
                at             TEXT    NOT NULL,  -- ISO 8601 with its UTC offset
                route          TEXT    NOT NULL,
                http_status    INTEGER NOT NULL,
                reason         TEXT    NOT NULL,
                detail         TEXT    NOT NULL,
                partner        TEXT,
                keyid          TEXT,
                message_id     TEXT,
                content_digest TEXT,
                peer           TEXT
            )
            """,
        ),
    ),
)
