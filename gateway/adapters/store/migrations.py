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

Version 3 (B5 trend sharing):

    observations  accepted B5 feed rows, storage order = `id`; the feed's message row (in
                  `messages`, message_id = the feed id) is its foreign key; values are Decimal
                  text (NULL when no rate covered the period), never REAL
    cells         the gateway's own items counted per ISO-week cell; counts are additive
                  INTEGERs, the USD value Decimal text summed in Python; a cell whose counts all
                  return to zero is deleted, so an absent cell means all zero
    positions     named positions of the store's own workers; 'aggregation' (created here at 0)
                  is the journal position the cells include
    reports       signed share reports; `position` is AUTOINCREMENT: the partners' pull cursor
    outbox        one row per report to push: attempts, next attempt, lease, last error; a
                  delivered row is kept with `delivered_at` set. Times are UTC ISO 8601 text
                  of one fixed width (microseconds, +00:00), so text order is time order

Version 4 (frozen share weeks, see frozen.py):

    frozen_weeks  one row per share report week frozen by its first report: its freeze number
                  (1, 2, 3 … in the order weeks were frozen; unique)
    frozen_cells  the rows each report week froze: `week` is the cell's week; rows with
                  week = report_week are the report week's own snapshot, rows of an earlier
                  week the late changes it reports (counts may be negative); never updated
    reports_by_week  finds a partner's report of a week (`report_of`)

Version 5 (decisions, answers, arrivals; see decisions.py):

    events        decisions, answers and NO_AED events as journaled and signed: `position` comes
                  from the journal's own sequence, so journal and events are one order (the
                  feed's); the routing attributes of the item concerned; `addressee` limits
                  delivery to one consumer ('' = every consumer whose routing takes the item)
    decisions     one row per accepted decision, keyed by its event position; (consumer,
                  decision_id) unique (idempotency); `answered_by` the amendment's record id
                  that answered a request; `digest` the content's fingerprint
    arrivals      one row per (item_id, arrived_at): the week of arrival, the post, whether
                  accepted AED came before it (`aed_at`, the first accepted version's
                  received_at, NULL without) and the lead time; `no_aed` the NO_AED event's
                  position (see arrivals.py)
    positions     'answers': how far the journal is folded into answered requests

Version 6 (responses to posts; see outbox.py):

    outbox        rebuilt so that a row pushes a share report OR a post's response to a
                  decision: `kind` ('REPORT' or 'RESPONSE') and the reference of that kind,
                  `report` (reports.position) or `decision` (decisions.position), each unique
                  and a foreign key; `id` (AUTOINCREMENT / identity) is the claim order. The
                  rows of version 3 keep their report position as `id`, so their order holds.
    decisions_by_partner  a post's decisions in position order (its responses' pull)

Version 7 (B5 detections in the cells; version 6 is the outbox's):

    cells         from now on hold the detections decisions give (cells.py, `read_fold`),
                  folded under the 'aggregation' position with the items (one order, one
                  position: a detection is never folded apart from its item). A store
                  holding a decision that gives a detection (a refusal with one) has cells
                  folded without it: they are emptied and the
                  aggregation position set back to 0, so the cells are folded again, with the
                  detections, from the journal and the decisions. Any other store is left as
                  it is. Frozen weeks keep what they froze: a detection of a week reported
                  already is a late change of that week.
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

# A store holding a decision that gives a detection (version 7): the same in both dialects.
_DETECTING = """
EXISTS (SELECT 1 FROM decisions
        WHERE code IN ('REFUSED', 'DO_NOT_LOAD', 'RETURN_TO_SENDER')
          AND detection IS NOT NULL AND detection <> 'NONE')
"""
_REFOLD_WITH_DETECTIONS = Migration(
    7,
    "detections in the cells",
    (
        f"DELETE FROM cells WHERE {_DETECTING}",  # noqa: S608 (constants)
        f"UPDATE positions SET position = 0 WHERE name = 'aggregation' AND {_DETECTING}",  # noqa: S608
    ),
)

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
    Migration(
        3,
        "observations, cells, positions, reports, outbox",
        (
            """
            CREATE TABLE observations (
                id                 INTEGER PRIMARY KEY,
                observation_id     TEXT    NOT NULL UNIQUE,
                partner            TEXT    NOT NULL,
                feed_id            TEXT    NOT NULL,  -- messages.message_id of the feed
                reporter           TEXT    NOT NULL,
                week               TEXT    NOT NULL,
                channel            TEXT    NOT NULL,
                origin_country     TEXT    NOT NULL,
                hs_chapter         TEXT    NOT NULL,
                category           TEXT    NOT NULL,
                value_band         TEXT    NOT NULL,
                items              INTEGER NOT NULL,
                declared_value_usd TEXT,             -- Decimal as str(); NULL when unknown
                de_minimis_items   INTEGER NOT NULL,
                detections         INTEGER NOT NULL,
                record             BLOB    NOT NULL,
                FOREIGN KEY (partner, feed_id) REFERENCES messages (partner, message_id)
            )
            """,
            "CREATE INDEX observations_by_week ON observations (week, id)",
            """
            CREATE TABLE cells (
                week                 TEXT    NOT NULL,
                channel              TEXT    NOT NULL,
                origin_country       TEXT    NOT NULL,
                hs_chapter           TEXT    NOT NULL,
                category             TEXT    NOT NULL,
                value_band           TEXT    NOT NULL,
                items                INTEGER NOT NULL,
                declared_value_usd   TEXT    NOT NULL,  -- Decimal as str(), summed in Python
                de_minimis_items     INTEGER NOT NULL,
                pre_suspension_items INTEGER NOT NULL,
                detections           INTEGER NOT NULL,
                rate_missing         INTEGER NOT NULL,
                PRIMARY KEY (week, channel, origin_country, hs_chapter, category, value_band)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE positions (
                name     TEXT    PRIMARY KEY,
                position INTEGER NOT NULL CHECK (position >= 0)
            )
            """,
            "INSERT INTO positions (name, position) VALUES ('aggregation', 0)",
            """
            CREATE TABLE reports (
                position   INTEGER PRIMARY KEY AUTOINCREMENT,
                report_id  TEXT    NOT NULL UNIQUE,
                partner    TEXT    NOT NULL,
                week       TEXT    NOT NULL,
                created_at TEXT    NOT NULL,  -- UTC ISO 8601, fixed width
                envelope   BLOB    NOT NULL
            )
            """,
            "CREATE INDEX reports_by_partner ON reports (partner, position)",
            """
            CREATE TABLE outbox (
                position        INTEGER PRIMARY KEY REFERENCES reports (position),
                attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at TEXT    NOT NULL,  -- UTC ISO 8601, fixed width
                lease_owner     TEXT,
                lease_until     TEXT,              -- UTC ISO 8601, fixed width
                last_error      TEXT,
                delivered_at    TEXT               -- NULL while the row is in the outbox
            )
            """,
            "CREATE INDEX outbox_pending ON outbox (position) WHERE delivered_at IS NULL",
        ),
    ),
    Migration(
        4,
        "frozen share weeks",
        (
            """
            CREATE TABLE frozen_weeks (
                week   TEXT    PRIMARY KEY,
                number INTEGER NOT NULL UNIQUE CHECK (number >= 1)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE frozen_cells (
                report_week          TEXT    NOT NULL REFERENCES frozen_weeks (week),
                week                 TEXT    NOT NULL CHECK (week <= report_week),
                channel              TEXT    NOT NULL,
                origin_country       TEXT    NOT NULL,
                hs_chapter           TEXT    NOT NULL,
                category             TEXT    NOT NULL,
                value_band           TEXT    NOT NULL,
                items                INTEGER NOT NULL,
                declared_value_usd   TEXT    NOT NULL,  -- Decimal as str(), may be negative
                de_minimis_items     INTEGER NOT NULL,
                pre_suspension_items INTEGER NOT NULL,
                detections           INTEGER NOT NULL,
                rate_missing         INTEGER NOT NULL,
                PRIMARY KEY (report_week, week, channel, origin_country, hs_chapter, category,
                             value_band)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX frozen_cells_by_week ON frozen_cells (week)",
            "CREATE INDEX reports_by_week ON reports (partner, week, position)",
        ),
    ),
    Migration(
        5,
        "decisions, events, arrivals",
        (
            """
            CREATE TABLE events (
                position         INTEGER PRIMARY KEY,  -- from the journal's sequence
                event_id         TEXT    NOT NULL UNIQUE,
                kind             TEXT    NOT NULL CHECK (kind IN ('DECISION', 'ANSWER', 'NO_AED')),
                partner          TEXT    NOT NULL,
                item_id          TEXT    NOT NULL,
                version          INTEGER NOT NULL CHECK (version >= 0),
                category         TEXT    NOT NULL,
                hs_chapters      TEXT    NOT NULL,  -- codes.encode_codes
                origin_countries TEXT    NOT NULL,  -- codes.encode_codes
                value_amount     TEXT    NOT NULL,  -- Decimal as str()
                value_currency   TEXT    NOT NULL,
                addressee        TEXT    NOT NULL,
                envelope         BLOB    NOT NULL
            )
            """,
            "CREATE INDEX events_by_item ON events (item_id, position)",
            """
            CREATE TABLE decisions (
                position    INTEGER PRIMARY KEY REFERENCES events (position),
                consumer    TEXT    NOT NULL,
                decision_id TEXT    NOT NULL,
                partner     TEXT    NOT NULL,
                item_id     TEXT    NOT NULL,
                version     INTEGER NOT NULL CHECK (version >= 1),
                message_id  TEXT    NOT NULL,
                code        TEXT    NOT NULL,
                questions   TEXT    NOT NULL,  -- JSON [[code, path], ...]
                detection   TEXT,
                note        TEXT    NOT NULL,
                digest      TEXT    NOT NULL,
                decided_at  TEXT    NOT NULL,  -- UTC ISO 8601, fixed width
                answered_by TEXT,
                UNIQUE (consumer, decision_id)
            )
            """,
            "CREATE INDEX decisions_by_item ON decisions (item_id, partner, position)",
            """
            CREATE TABLE arrivals (
                item_id        TEXT    NOT NULL,
                arrived_at     TEXT    NOT NULL,  -- UTC ISO 8601, fixed width
                office         TEXT    NOT NULL,
                reported_by    TEXT    NOT NULL,
                week           TEXT    NOT NULL,  -- ISO week of the arrival
                partner        TEXT    NOT NULL,  -- the post ('' when unknown)
                origin_country TEXT    NOT NULL,
                aed_at         TEXT,              -- first accepted AED received (NULL: none)
                lead_ms        INTEGER,           -- arrival - aed_at in milliseconds
                no_aed         INTEGER,           -- the NO_AED event's position
                PRIMARY KEY (item_id, arrived_at)
            )
            """,
            "CREATE INDEX arrivals_by_week ON arrivals (week, partner)",
            "INSERT INTO positions (name, position) VALUES ('answers', 0)",
        ),
    ),
    Migration(
        6,
        "outbox of reports and responses",
        (
            # SQLite cannot change a foreign key in place: create the new table, copy, drop,
            # rename, recreate the index (no table refers to the outbox).
            """
            CREATE TABLE outbox_v6 (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- the claim order
                kind            TEXT    NOT NULL CHECK (kind IN ('REPORT', 'RESPONSE')),
                report          INTEGER UNIQUE REFERENCES reports (position),
                decision        INTEGER UNIQUE REFERENCES decisions (position),
                attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at TEXT    NOT NULL,  -- UTC ISO 8601, fixed width
                lease_owner     TEXT,
                lease_until     TEXT,              -- UTC ISO 8601, fixed width
                last_error      TEXT,
                delivered_at    TEXT,              -- NULL while the row is in the outbox
                CHECK ((kind = 'REPORT' AND report IS NOT NULL AND decision IS NULL)
                    OR (kind = 'RESPONSE' AND decision IS NOT NULL AND report IS NULL))
            )
            """,
            """
            INSERT INTO outbox_v6 (id, kind, report, attempts, next_attempt_at, lease_owner,
                                   lease_until, last_error, delivered_at)
            SELECT position, 'REPORT', position, attempts, next_attempt_at, lease_owner,
                   lease_until, last_error, delivered_at
            FROM outbox
            """,
            "DROP TABLE outbox",
            "ALTER TABLE outbox_v6 RENAME TO outbox",
            "CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL",
            "CREATE INDEX decisions_by_partner ON decisions (partner, position)",
        ),
    ),
    _REFOLD_WITH_DETECTIONS,
)

# The same versions in PostgreSQL's dialect. Positions and ids come from identity columns
# (sequences: never reused); Decimal values stay text, never floating point; outbox and report
# times are timestamptz (read back in UTC); rejection times keep their recorded offset as text.
POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "messages, journal, cursors",
        (
            """
            CREATE TABLE messages (
                partner        text        NOT NULL,
                message_id     text        NOT NULL,
                content_digest text        NOT NULL,
                receipt_id     text        NOT NULL,
                received_at    timestamptz NOT NULL,
                status         text        NOT NULL
                    CHECK (status IN ('ACCEPTED', 'PARTIALLY_ACCEPTED', 'REJECTED')),
                http_status    integer     NOT NULL,
                receipt        bytea       NOT NULL,
                test           boolean     NOT NULL,
                PRIMARY KEY (partner, message_id)
            )
            """,
            """
            CREATE TABLE journal (
                position         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                record_id        text    NOT NULL UNIQUE,
                partner          text    NOT NULL,
                message_id       text    NOT NULL,
                item_id          text    NOT NULL,
                version          integer NOT NULL,
                function         text    NOT NULL
                    CHECK (function IN ('ORIGINAL', 'AMENDMENT', 'CANCELLATION')),
                category         text    NOT NULL,
                hs_chapters      text    NOT NULL,  -- codes.encode_codes
                origin_countries text    NOT NULL,  -- codes.encode_codes
                value_amount     text    NOT NULL,  -- Decimal as str(): exact
                value_currency   text    NOT NULL,
                envelope         bytea   NOT NULL,
                UNIQUE (partner, item_id, version),
                FOREIGN KEY (partner, message_id) REFERENCES messages (partner, message_id)
            )
            """,
            "CREATE INDEX journal_by_item ON journal (item_id, position)",
            """
            CREATE TABLE cursors (
                consumer text   PRIMARY KEY,
                position bigint NOT NULL CHECK (position >= 0)
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
                id             bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at             text    NOT NULL,  -- ISO 8601 with its UTC offset
                route          text    NOT NULL,
                http_status    integer NOT NULL,
                reason         text    NOT NULL,
                detail         text    NOT NULL,
                partner        text,
                keyid          text,
                message_id     text,
                content_digest text,
                peer           text
            )
            """,
        ),
    ),
    Migration(
        3,
        "observations, cells, positions, reports, outbox",
        (
            """
            CREATE TABLE observations (
                id                 bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                observation_id     text    NOT NULL UNIQUE,
                partner            text    NOT NULL,
                feed_id            text    NOT NULL,
                reporter           text    NOT NULL,
                week               text    NOT NULL,
                channel            text    NOT NULL,
                origin_country     text    NOT NULL,
                hs_chapter         text    NOT NULL,
                category           text    NOT NULL,
                value_band         text    NOT NULL,
                items              bigint  NOT NULL,
                declared_value_usd text,             -- Decimal as str(); NULL when unknown
                de_minimis_items   bigint  NOT NULL,
                detections         bigint  NOT NULL,
                record             bytea   NOT NULL,
                FOREIGN KEY (partner, feed_id) REFERENCES messages (partner, message_id)
            )
            """,
            "CREATE INDEX observations_by_week ON observations (week, id)",
            """
            CREATE TABLE cells (
                week                 text   NOT NULL,
                channel              text   NOT NULL,
                origin_country       text   NOT NULL,
                hs_chapter           text   NOT NULL,
                category             text   NOT NULL,
                value_band           text   NOT NULL,
                items                bigint NOT NULL,
                declared_value_usd   text   NOT NULL,  -- Decimal as str(), summed in Python
                de_minimis_items     bigint NOT NULL,
                pre_suspension_items bigint NOT NULL,
                detections           bigint NOT NULL,
                rate_missing         bigint NOT NULL,
                PRIMARY KEY (week, channel, origin_country, hs_chapter, category, value_band)
            )
            """,
            """
            CREATE TABLE positions (
                name     text   PRIMARY KEY,
                position bigint NOT NULL CHECK (position >= 0)
            )
            """,
            "INSERT INTO positions (name, position) VALUES ('aggregation', 0)",
            """
            CREATE TABLE reports (
                position   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                report_id  text        NOT NULL UNIQUE,
                partner    text        NOT NULL,
                week       text        NOT NULL,
                created_at timestamptz NOT NULL,
                envelope   bytea       NOT NULL
            )
            """,
            "CREATE INDEX reports_by_partner ON reports (partner, position)",
            """
            CREATE TABLE outbox (
                position        bigint      PRIMARY KEY REFERENCES reports (position),
                attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at timestamptz NOT NULL,
                lease_owner     text,
                lease_until     timestamptz,
                last_error      text,
                delivered_at    timestamptz  -- NULL while the row is in the outbox
            )
            """,
            "CREATE INDEX outbox_pending ON outbox (position) WHERE delivered_at IS NULL",
        ),
    ),
    Migration(
        4,
        "frozen share weeks",
        (
            """
            CREATE TABLE frozen_weeks (
                week   text   PRIMARY KEY,
                number bigint NOT NULL UNIQUE CHECK (number >= 1)
            )
            """,
            """
            CREATE TABLE frozen_cells (
                report_week          text   NOT NULL REFERENCES frozen_weeks (week),
                week                 text   NOT NULL CHECK (week <= report_week),
                channel              text   NOT NULL,
                origin_country       text   NOT NULL,
                hs_chapter           text   NOT NULL,
                category             text   NOT NULL,
                value_band           text   NOT NULL,
                items                bigint NOT NULL,
                declared_value_usd   text   NOT NULL,  -- Decimal as str(), may be negative
                de_minimis_items     bigint NOT NULL,
                pre_suspension_items bigint NOT NULL,
                detections           bigint NOT NULL,
                rate_missing         bigint NOT NULL,
                PRIMARY KEY (report_week, week, channel, origin_country, hs_chapter, category,
                             value_band)
            )
            """,
            "CREATE INDEX frozen_cells_by_week ON frozen_cells (week)",
            "CREATE INDEX reports_by_week ON reports (partner, week, position)",
        ),
    ),
    Migration(
        5,
        "decisions, events, arrivals",
        (
            """
            CREATE TABLE events (
                position         bigint  PRIMARY KEY,  -- nextval of the journal's sequence
                event_id         text    NOT NULL UNIQUE,
                kind             text    NOT NULL CHECK (kind IN ('DECISION', 'ANSWER', 'NO_AED')),
                partner          text    NOT NULL,
                item_id          text    NOT NULL,
                version          integer NOT NULL CHECK (version >= 0),
                category         text    NOT NULL,
                hs_chapters      text    NOT NULL,
                origin_countries text    NOT NULL,
                value_amount     text    NOT NULL,
                value_currency   text    NOT NULL,
                addressee        text    NOT NULL,
                envelope         bytea   NOT NULL
            )
            """,
            "CREATE INDEX events_by_item ON events (item_id, position)",
            """
            CREATE TABLE decisions (
                position    bigint      PRIMARY KEY REFERENCES events (position),
                consumer    text        NOT NULL,
                decision_id text        NOT NULL,
                partner     text        NOT NULL,
                item_id     text        NOT NULL,
                version     integer     NOT NULL CHECK (version >= 1),
                message_id  text        NOT NULL,
                code        text        NOT NULL,
                questions   text        NOT NULL,
                detection   text,
                note        text        NOT NULL,
                digest      text        NOT NULL,
                decided_at  timestamptz NOT NULL,
                answered_by text,
                UNIQUE (consumer, decision_id)
            )
            """,
            "CREATE INDEX decisions_by_item ON decisions (item_id, partner, position)",
            """
            CREATE TABLE arrivals (
                item_id        text        NOT NULL,
                arrived_at     timestamptz NOT NULL,
                office         text        NOT NULL,
                reported_by    text        NOT NULL,
                week           text        NOT NULL,
                partner        text        NOT NULL,
                origin_country text        NOT NULL,
                aed_at         timestamptz,
                lead_ms        bigint,
                no_aed         bigint,
                PRIMARY KEY (item_id, arrived_at)
            )
            """,
            "CREATE INDEX arrivals_by_week ON arrivals (week, partner)",
            "INSERT INTO positions (name, position) VALUES ('answers', 0)",
        ),
    ),
    Migration(
        6,
        "outbox of reports and responses",
        (
            # Rebuilt as in SQLite, so both dialects hold the same table and the same ids.
            """
            CREATE TABLE outbox_v6 (
                id              bigint      GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                kind            text        NOT NULL CHECK (kind IN ('REPORT', 'RESPONSE')),
                report          bigint      UNIQUE REFERENCES reports (position),
                decision        bigint      UNIQUE REFERENCES decisions (position),
                attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_attempt_at timestamptz NOT NULL,
                lease_owner     text,
                lease_until     timestamptz,
                last_error      text,
                delivered_at    timestamptz,  -- NULL while the row is in the outbox
                CHECK ((kind = 'REPORT' AND report IS NOT NULL AND decision IS NULL)
                    OR (kind = 'RESPONSE' AND decision IS NOT NULL AND report IS NULL))
            )
            """,
            """
            INSERT INTO outbox_v6 (id, kind, report, attempts, next_attempt_at, lease_owner,
                                   lease_until, last_error, delivered_at)
            SELECT position, 'REPORT', position, attempts, next_attempt_at, lease_owner,
                   lease_until, last_error, delivered_at
            FROM outbox
            """,
            """
            SELECT setval(pg_get_serial_sequence('outbox_v6', 'id'),
                          coalesce((SELECT max(id) FROM outbox_v6), 0) + 1, false)
            """,
            "DROP TABLE outbox",
            "ALTER TABLE outbox_v6 RENAME TO outbox",
            "CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL",
            "CREATE INDEX decisions_by_partner ON decisions (partner, position)",
        ),
    ),
    _REFOLD_WITH_DETECTIONS,
)

assert [m.version for m in POSTGRES_MIGRATIONS] == [m.version for m in SQLITE_MIGRATIONS]
