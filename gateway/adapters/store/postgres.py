"""The scale-out store: PostgreSQL (asyncpg) behind the `gateway.ports.Store` contract.

Several gateway replicas share one PostgreSQL database; each holds a connection pool. The
contract's guarantees across replicas come from the database, never from a process:

Journal order: every journal append takes one transaction-scoped advisory lock (the journal
lock, keyed by the store's schema) before it draws positions from the journal's sequence, and
holds it until COMMIT. Appends are therefore serialised across every replica and positions are
committed in increasing order: a reader that has seen position P never later finds a new row
below P, so a consumer never acknowledges past a record committed late. A failed transaction
leaves a gap in the sequence that is never filled (gaps are allowed, late rows are not).

Group commit (group_commit.py): within one replica, message commits queue on the event loop and
ONE committer task writes them, a batch per transaction (as the SQLite store does), so a
replica holds the journal lock once per batch, not once per message, and its callers' positions
follow their call order. A batch holds at most one commit per message id (a second one waits
for the next batch, where it finds the first stored). A batch is one transaction of a few round
trips whatever its size: the advisory lock, one multi-row INSERT of the message rows (`unnest`,
ON CONFLICT DO NOTHING: a message id already stored is a DuplicateMessage carrying the stored
receipt), one multi-row INSERT of every journal row, COMMIT. When a statement fails for one
message's data (a constraint), the batch is rolled back and its messages are committed one by
one, so only the offender fails.

Idempotency across replicas: two replicas receiving the same (partner, messageId) at once both
reach the message INSERT under the journal lock; the second sees the first's committed row and
answers DuplicateMessage with the same stored receipt.

Notifications: a batch's transaction ends with `pg_notify` on `CHANNEL` carrying the last
position, delivered at COMMIT to every replica listening (`watch_journal`), so feed streams on
every replica wake at once, not at their next poll.

Outbox: `claim_deliveries` leases due rows in one statement with `FOR UPDATE SKIP LOCKED`: two
replicas never claim the same row at once, and a row whose lease expired (its replica died) is
claimed by the next one. Report positions (the partners' pull cursor) are serialised by a
second advisory lock for the same reason as journal positions.

Frozen weeks: `freeze_week` checks and writes under a fourth advisory lock, so replicas
freezing weeks at once are serialised: the first freeze of a week wins, and a freeze computed
before another week's landed is refused (frozen.py) rather than report a late change twice.

Migrations: applied at `open()` in one transaction under a third advisory lock, so replicas
starting at once apply each migration exactly once (the others wait, then find it done).

Values are stored exactly: Decimals as text (never floating point), times as timestamptz (UTC
back), except rejection times which keep the offset they were recorded with.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from asyncpg import Record

from gateway.adapters.store.arrivals import (
    COVERAGE_COLUMNS,
    arrival_params,
    coverage_row,
    new_result,
    stored_result,
)
from gateway.adapters.store.cells import AGGREGATION, add, check_span
from gateway.adapters.store.codes import decode_codes, encode_codes
from gateway.adapters.store.cursors import advance
from gateway.adapters.store.decisions import (
    ANSWERS,
    DECISION_COLUMNS,
    EVENT_COLUMNS,
    FEED_COLUMNS,
    RESPONSE_COLUMNS,
    VERSION_COLUMNS,
    decision_params,
    event_params,
    event_row,
    feed_row,
    only_partner,
    response_row,
    stored_decision,
    version_entry,
)
from gateway.adapters.store.frozen import check_rows
from gateway.adapters.store.group_commit import Commit, GroupCommitter, Outcome
from gateway.adapters.store.journal import clash_is_a_race
from gateway.adapters.store.migrations import POSTGRES_MIGRATIONS, Migration
from gateway.adapters.store.outbox import as_utc, bounded_error, check_lease
from gateway.adapters.store.rejections import (
    DEFAULT_MAX_REJECTIONS,
    bounded,
    check_max_rejections,
    prune_every,
)
from gateway.domain.arrivals import ArrivalCommit, ArrivalResult, Coverage, coverage_of
from gateway.domain.cells import CellCounts, CellKey, Frozen, FrozenRow, ObservationEntry
from gateway.domain.decisions import (
    AnswerCommit,
    DecisionAsk,
    DecisionCommit,
    DecisionInputs,
    EventEntry,
    EventRow,
    StoredDecision,
)
from gateway.domain.journal import (
    DecisionMark,
    FoldRow,
    ItemState,
    JournalEntry,
    JournalRow,
    MessageRecord,
    RecordRow,
    RejectionRecord,
    StoredMessage,
)
from gateway.domain.messages import ItemFunction
from gateway.domain.reports import Delivery, OutboxKind, ReportRecord, StoredReport
from gateway.domain.responses import Response
from gateway.errors import (
    AggregationMoved,
    ConfigError,
    DecisionMoved,
    DecisionTaken,
    DuplicateMessage,
    FreezeMoved,
    GatewayError,
    ItemVersionTaken,
    NotInOutbox,
    StaleVersion,
    StoreError,
)

CHANNEL = "aedgw_journal"  # NOTIFY channel: payload "<schema> <last position>"
# Entries given lazily (a streamed message's, read from its file) go to the server in INSERTs
# of at most this many, in order: never all held, nor encoded, at once (a 50 MiB document's in
# one INSERT cost ~220 MiB). A batch of entries its callers hold as lists goes in one INSERT.
INSERT_CHUNK = 1_000
DEFAULT_POOL_SIZE = 10

# Advisory lock classes (first key); the second key is a hash of the store's schema, so stores
# in different schemas of one database never wait for each other.
_LOCK_MIGRATE = 0x41454701
_LOCK_JOURNAL = 0x41454702
_LOCK_REPORTS = 0x41454703
_LOCK_FROZEN = 0x41454704
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_FUNCTIONS = {f.value: f for f in ItemFunction}
# Errors caused by one message's data: its batch is retried message by message.
_DATA_ERRORS = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)

# What a store that went away (or a connection closed mid-transaction) raises.
_STORE_TROUBLE = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)
_JOURNAL_KEYS = ("journal_record_id_key", "journal_partner_item_id_version_key")  # UNIQUEs
_LOCK = "SELECT pg_advisory_xact_lock($1::int4, $2::int4)"
_INSERT_MESSAGES = """
INSERT INTO messages (partner, message_id, content_digest, receipt_id, received_at, status,
                      http_status, receipt, test)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::text[], $7::int4[], $8::bytea[], $9::bool[])
ON CONFLICT (partner, message_id) DO NOTHING
RETURNING partner, message_id
"""
_INSERT_ENTRIES = """
INSERT INTO journal (record_id, partner, message_id, item_id, version, function, category,
                     hs_chapters, origin_countries, value_amount, value_currency, envelope)
SELECT r, p, m, i, v, f, c, h, o, a, cur, e
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[])
     WITH ORDINALITY AS u (r, p, m, i, v, f, c, h, o, a, cur, e, ord)
ORDER BY ord
RETURNING position, record_id
"""
_NOTIFY = "SELECT pg_notify($1, $2)"
_SELECT_MESSAGE = """
SELECT partner, message_id, content_digest, http_status, receipt
FROM messages WHERE partner = $1 AND message_id = $2
"""
_ROW_COLUMNS = """
SELECT position, record_id, partner, message_id, item_id, version, function, category,
       hs_chapters, origin_countries, value_amount, value_currency, envelope
FROM journal
"""
_READ_JOURNAL = _ROW_COLUMNS + "WHERE position > $1 ORDER BY position LIMIT $2"
_READ_RECORDS = """
SELECT position, partner, item_id, function, envelope FROM journal
WHERE position > $1 ORDER BY position LIMIT $2
"""
_HISTORY = _ROW_COLUMNS + "WHERE item_id = $1 ORDER BY position"
_PARTNER_HISTORY = _ROW_COLUMNS + "WHERE partner = $1 AND item_id = $2 ORDER BY position"
# One index probe per asked id, whatever the statistics: the plan asyncpg's prepared statement
# keeps (PostgreSQL's generic plan, chosen after five runs) must not depend on the journal's size
# when it was chosen. The obvious `partner = $1 AND item_id = ANY($2)`, planned on a young
# journal, kept "all of the partner's rows, filtered": a scan that grew with the journal (100-item
# messages on one connection fell from ~5,700 to ~2,800 items/s over 200,000 rows).
_ITEM_STATES = """
SELECT ids.item_id, latest.version, latest.function
FROM unnest($2::text[]) AS ids (item_id)
CROSS JOIN LATERAL (
    SELECT version, function FROM journal
    WHERE partner = $1 AND item_id = ids.item_id
    ORDER BY version DESC LIMIT 1
) AS latest
"""
_LAST_POSITION = """
SELECT greatest(coalesce((SELECT max(position) FROM journal), 0),
                coalesce((SELECT max(position) FROM events), 0))
"""
# Events take the journal's next identity value, under the journal's advisory lock.
_NEXT_POSITION = "SELECT nextval(pg_get_serial_sequence('journal', 'position'))"
_INSERT_EVENT = """
INSERT INTO events (position, event_id, kind, partner, item_id, version, category, hs_chapters,
                    origin_countries, value_amount, value_currency, addressee, envelope)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""
_INSERT_DECISION = """
INSERT INTO decisions (position, consumer, decision_id, partner, item_id, version, message_id,
                       code, questions, detection, note, digest, decided_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""
_ITEM_DECISIONS = f"""
SELECT {DECISION_COLUMNS} FROM decisions WHERE partner = $1 AND item_id = $2 ORDER BY position
"""  # noqa: S608 (constants)
_FIND_DECISION = f"""
SELECT {DECISION_COLUMNS} FROM decisions WHERE consumer = $1 AND decision_id = $2
"""  # noqa: S608 (constants)
_LAST_DECISION = """
SELECT coalesce(max(position), 0) FROM decisions WHERE partner = $1 AND item_id = $2
"""
_LATEST_VERSION = "SELECT max(version) FROM journal WHERE partner = $1 AND item_id = $2"
_ITEM_VERSIONS = f"""
SELECT {VERSION_COLUMNS} FROM journal WHERE item_id = $1 ORDER BY position
"""  # noqa: S608 (constants)
_ANSWER = """
UPDATE decisions SET answered_by = $1 WHERE position = $2 AND answered_by IS NULL
RETURNING position
"""
# Each side limited in its own index order first: left to itself the planner sorts every row
# after the cursor (a page from the start of a 100,000-row journal took 25 ms, not 0.3).
_READ_FEED = f"""
(SELECT {FEED_COLUMNS} FROM journal WHERE position > $1 ORDER BY position LIMIT $2)
UNION ALL
(SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2)
ORDER BY position LIMIT $2
"""  # noqa: S608 (constants)
_READ_EVENTS = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2
"""  # noqa: S608 (constants)
_SELECT_CURSOR = "SELECT position FROM cursors WHERE consumer = $1"
_UPSERT_CURSOR = """
INSERT INTO cursors (consumer, position) VALUES ($1, $2)
ON CONFLICT (consumer) DO UPDATE SET position = greatest(cursors.position, excluded.position)
"""
_INSERT_REJECTION = """
INSERT INTO rejections (at, route, http_status, reason, detail, partner, keyid, message_id,
                        content_digest, peer)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id
"""
_SELECT_REJECTIONS = """
SELECT at, route, http_status, reason, detail, partner, keyid, message_id, content_digest, peer
FROM rejections ORDER BY id DESC LIMIT $1
"""
_DELETE_REJECTIONS_UP_TO = "DELETE FROM rejections WHERE id <= $1"
_INSERT_MESSAGE = """
INSERT INTO messages (partner, message_id, content_digest, receipt_id, received_at, status,
                      http_status, receipt, test)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (partner, message_id) DO NOTHING
RETURNING message_id
"""
_INSERT_OBSERVATIONS = """
INSERT INTO observations (observation_id, partner, feed_id, reporter, week, channel,
                          origin_country, hs_chapter, category, value_band, items,
                          declared_value_usd, de_minimis_items, detections, record)
SELECT a, b, c, d, e, f, g, h, i, j, k, l, m, n, o
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::int8[],
            $14::int8[], $15::bytea[])
     WITH ORDINALITY AS u (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, ord)
ORDER BY ord
"""
_SELECT_OBSERVATIONS = """
SELECT observation_id, partner, reporter, week, channel, origin_country, hs_chapter, category,
       value_band, items, declared_value_usd, de_minimis_items, detections, record
FROM observations WHERE week = ANY($1::text[]) ORDER BY id
"""
# One statement: one snapshot of both tables (journal and decisions take their positions
# under the journal lock, so none commits later below a position seen). A decision has no
# function nor envelope.
_READ_FOLD = """
(SELECT position, partner, item_id, function, envelope, false AS may_detect FROM journal
 WHERE position > $1 ORDER BY position LIMIT $2)
UNION ALL
(SELECT d.position, d.partner, d.item_id, NULL, NULL,
        EXISTS (SELECT 1 FROM decisions AS e
               WHERE e.item_id = d.item_id AND e.partner = d.partner
                 AND e.position <= d.position AND e.detection IS NOT NULL
                 AND e.detection <> 'NONE')
 FROM decisions AS d WHERE d.position > $1 ORDER BY d.position LIMIT $2)
ORDER BY position LIMIT $2
"""
_SELECT_POSITION = "SELECT position FROM positions WHERE name = $1"
_LOCK_POSITION = "SELECT position FROM positions WHERE name = $1 FOR UPDATE"
_MOVE_POSITION = "UPDATE positions SET position = $1 WHERE name = $2"
_CELL_KEY = "week, channel, origin_country, hs_chapter, category, value_band"
_COUNT_COLUMNS = """items, declared_value_usd, de_minimis_items, pre_suspension_items, detections,
       rate_missing"""
_SELECT_CELLS_BY_KEY = f"""
SELECT {_CELL_KEY}, {_COUNT_COLUMNS} FROM cells
WHERE ({_CELL_KEY}) IN (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
)
FOR UPDATE
"""  # noqa: S608 (constants)
_UPSERT_CELL = f"""
INSERT INTO cells ({_CELL_KEY}, {_COUNT_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ({_CELL_KEY}) DO UPDATE SET
    items = excluded.items, declared_value_usd = excluded.declared_value_usd,
    de_minimis_items = excluded.de_minimis_items,
    pre_suspension_items = excluded.pre_suspension_items, detections = excluded.detections,
    rate_missing = excluded.rate_missing
"""  # noqa: S608 (constants)
_DELETE_CELL = f"""
DELETE FROM cells WHERE ({_CELL_KEY}) = ($1, $2, $3, $4, $5, $6)
"""  # noqa: S608 (constants)
_SELECT_CELLS = f"""
SELECT {_CELL_KEY}, {_COUNT_COLUMNS} FROM cells WHERE week = ANY($1::text[])
"""  # noqa: S608 (constants)
_INSERT_REPORT = """
INSERT INTO reports (report_id, partner, week, created_at, envelope) VALUES ($1, $2, $3, $4, $5)
RETURNING position
"""
_WEEK_HAS_REPORT = "SELECT true FROM reports WHERE partner = $1 AND week = $2 LIMIT 1"
_REPORT_OF = """
SELECT position, report_id, partner, week, created_at, envelope FROM reports
WHERE partner = $1 AND week = $2 ORDER BY position LIMIT 1
"""
_FROZEN_WEEKS = "SELECT week, number FROM frozen_weeks"
_FROZEN_CELLS = f"""
SELECT report_week, {_CELL_KEY}, {_COUNT_COLUMNS} FROM frozen_cells
WHERE week = ANY($1::text[])
ORDER BY report_week, {_CELL_KEY}
"""  # noqa: S608 (constants)
_WEEK_IS_FROZEN = "SELECT true FROM frozen_weeks WHERE week = $1"
_COUNT_FROZEN = "SELECT count(*) FROM frozen_weeks"
_FREEZE_WEEK = "INSERT INTO frozen_weeks (week, number) VALUES ($1, $2)"
_FREEZE_CELL = f"""
INSERT INTO frozen_cells (report_week, {_CELL_KEY}, {_COUNT_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""  # noqa: S608 (constants)
_INSERT_OUTBOX = """
INSERT INTO outbox (kind, report, attempts, next_attempt_at) VALUES ('REPORT', $1, 0, $2)
"""
_SELECT_REPORTS_AFTER = """
SELECT position, report_id, partner, week, created_at, envelope FROM reports
WHERE partner = $1 AND position > $2 ORDER BY position LIMIT $3
"""
# An outbox row with what it pushes: a report (r) or a response (d), the other side NULL.
# Columns: kind, position, report (5), response (8), attempts, lease_owner, lease_until,
# next_attempt_at.
_DELIVERY_JOIN = f"""
SELECT o.kind, coalesce(o.report, o.decision), r.report_id, r.partner, r.week, r.created_at,
       r.envelope, {RESPONSE_COLUMNS}, o.attempts, o.lease_owner, o.lease_until,
       o.next_attempt_at
FROM {{source}} AS o
LEFT JOIN reports AS r ON r.position = o.report
LEFT JOIN decisions AS d ON d.position = o.decision
"""  # noqa: S608 (constants)
_CLAIM_DUE = """
WITH due AS (
    SELECT id FROM outbox
    WHERE delivered_at IS NULL AND next_attempt_at <= $1
      AND (lease_until IS NULL OR lease_until <= $1 OR lease_owner = $2)
    ORDER BY id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE outbox AS o SET lease_owner = $2, lease_until = $4
    FROM due WHERE o.id = due.id
    RETURNING o.*
)
"""
_CLAIM = f"{_CLAIM_DUE}{_DELIVERY_JOIN.format(source='claimed')}ORDER BY o.id"
_OUTBOX_ROW = {  # by kind: the column that names the row (each unique)
    OutboxKind.REPORT: "report = $1",
    OutboxKind.RESPONSE: "decision = $1",
}
_DELIVERED = {
    kind: f"""
UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, lease_owner = NULL,
                  lease_until = NULL
WHERE {where} AND delivered_at IS NULL
"""  # noqa: S608 (constants)
    for kind, where in _OUTBOX_ROW.items()
}
_FAILED = {
    kind: f"""
UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $3, last_error = $4,
                  lease_owner = NULL, lease_until = NULL
WHERE {where} AND delivered_at IS NULL AND lease_owner = $2
"""  # noqa: S608 (constants)
    for kind, where in _OUTBOX_ROW.items()
}
_IN_OUTBOX = {
    kind: f"SELECT 1 FROM outbox WHERE {where}"  # noqa: S608 (constants)
    for kind, where in _OUTBOX_ROW.items()
}
_OUTBOX = f"{_DELIVERY_JOIN.format(source='outbox')}WHERE o.delivered_at IS NULL ORDER BY o.id"
# -- responses to posts (semantics: decisions.py, outbox.py) --
_INSERT_RESPONSE_OUTBOX = """
INSERT INTO outbox (kind, decision, attempts, next_attempt_at) VALUES ('RESPONSE', $1, 0, $2)
"""
_SELECT_RESPONSES_AFTER = f"""
SELECT {RESPONSE_COLUMNS} FROM decisions AS d
WHERE d.partner = $1 AND d.position > $2 ORDER BY d.position LIMIT $3
"""  # noqa: S608 (constants)


class PostgresStore:
    """gateway.ports.Store on one PostgreSQL database, shareable by several gateway replicas.

    `dsn` is a libpq-style URL for asyncpg (never echoed in errors: it may hold a password).
    `schema` names the schema the store's tables live in (created when missing; default: the
    connection's current schema, normally `public`). `pool_size` bounds this replica's
    connections; one more is held by `watch_journal` when a caller listens. `max_rejections`
    bounds the rejection records kept.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_rejections: int = DEFAULT_MAX_REJECTIONS,
        connect_timeout: float = 10.0,
    ) -> None:
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                "store.url", "schema", f"{schema!r} is not a plain schema name",
                "use lower-case letters, digits and _ (at most 63), not starting with a digit",
            )  # fmt: skip
        if pool_size < 1:
            raise ConfigError("store.url", "pool_size", f"must be at least 1, got {pool_size}")
        self._dsn, self._schema, self._pool_size = dsn, schema, pool_size
        self._connect_timeout = connect_timeout
        self._max_rejections = check_max_rejections(max_rejections)
        self._pool: asyncpg.Pool | None = None
        self._lock_key = 0  # second advisory key: a hash of the schema, known after open()
        self._schema_name = schema or ""
        self._commits = GroupCommitter(
            self._commit_batch, store="PostgreSQL store", passed=(StoreError,), one_per_message=True
        )
        self._listener: asyncpg.Connection | None = None
        self._relisten: asyncio.Task[None] | None = None

    @property
    def schema(self) -> str:
        """The schema holding the store's tables (known after `open()`)."""
        return self._schema_name

    async def open(self) -> None:
        """Connect the pool, then apply pending migrations (safe when replicas start at once)."""
        if self._pool is not None:
            return
        settings = {"search_path": self._schema} if self._schema else {}
        try:
            if self._schema:
                await self._create_schema()
            pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._pool_size, server_settings=settings,
                timeout=self._connect_timeout, command_timeout=None,
            )  # fmt: skip
        except _STORE_TROUBLE as exc:
            raise StoreError(f"cannot open the PostgreSQL store: {_reason(exc)}") from exc
        try:
            async with _translated(), pool.acquire() as conn:
                self._schema_name = await _current_schema(conn)
                self._lock_key = _schema_key(self._schema_name)
                await _migrate(conn, self._lock_key)
                # A bound lowered since the last run takes effect now, not at the next pruning.
                await _prune_rejections(conn, self._max_rejections)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        """Finish the commits already submitted, stop listening, close every connection."""
        pool, self._pool = self._pool, None
        await self._commits.drain()
        listener, self._listener = self._listener, None
        if self._relisten is not None:
            self._relisten.cancel()
            await asyncio.gather(self._relisten, return_exceptions=True)
            self._relisten = None
        if listener is not None:
            await _quietly_close(listener)
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT max(version) FROM schema_version")

    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """Call `on_commit(position)` whenever any replica sharing this store commits journal
        rows, from a LISTEN connection of its own, until `close()`. A hint for promptness
        only: readers always re-read the store. A lost connection is re-established in the
        background (with backoff), and `on_commit` then gets the last position."""
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open")
        self._listener = await self._listen(on_commit)

    async def _listen(self, on_commit: Callable[[int], None]) -> asyncpg.Connection:
        schema = self._schema_name

        def deliver(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            name, _, position = payload.rpartition(" ")
            if name == schema and position.isdigit():
                on_commit(int(position))

        def lost(conn: asyncpg.Connection) -> None:
            if conn is self._listener and self._pool is not None:  # not our own close()
                self._listener = None
                self._relisten = asyncio.create_task(self._listen_again(on_commit))

        settings = {"search_path": self._schema} if self._schema else {}
        async with _translated():
            listener = await asyncpg.connect(
                self._dsn, server_settings=settings, timeout=self._connect_timeout
            )
        try:
            async with _translated():
                await listener.add_listener(CHANNEL, deliver)
            listener.add_termination_listener(lost)
        except BaseException:
            await _quietly_close(listener)
            raise
        return listener

    async def _listen_again(self, on_commit: Callable[[int], None]) -> None:
        delay = 0.2
        while self._pool is not None:
            try:
                listener = await self._listen(on_commit)
                last = await self.last_position()
            except StoreError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if self._pool is None:  # closed meanwhile
                await _quietly_close(listener)
                return
            self._listener = listener
            on_commit(last)  # commits made while no one listened
            return

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        async with self._connection() as conn:
            return _stored_message(await conn.fetchrow(_SELECT_MESSAGE, partner, message_id))

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        """One transaction for the message, its receipt and `entries`; positions in entry order.

        Raises DuplicateMessage (nothing written) when (partner, message_id) is already stored,
        by this replica or another; StoreError when the commit fails (nothing written). Returns
        only after COMMIT (durable as the server's synchronous_commit makes it).
        """
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open")
        return await self._commits.commit(message, entries)

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return {}
        async with self._connection() as conn:
            rows = await conn.fetch(_ITEM_STATES, partner, ids)
        return {r[0]: ItemState(int(r[1]), _FUNCTIONS[r[2]]) for r in rows}

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            return [_journal_row(r) for r in await conn.fetch(_READ_JOURNAL, after, limit)]

    async def read_records(self, after: int, limit: int) -> list[RecordRow]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_READ_RECORDS, after, limit)
        return [RecordRow(int(r[0]), r[1], r[2], _FUNCTIONS[r[3]], bytes(r[4])) for r in rows]

    async def last_position(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(_LAST_POSITION))

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        async with self._connection() as conn:
            if partner is None:
                rows = await conn.fetch(_HISTORY, item_id)
            else:
                rows = await conn.fetch(_PARTNER_HISTORY, partner, item_id)
        return [_journal_row(r) for r in rows]

    async def get_cursor(self, consumer: str) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(_SELECT_CURSOR, consumer) or 0)

    async def ack(self, consumer: str, position: int) -> None:
        """Move the cursor to max(current, position); AckBeyondJournal past the last position."""
        async with self._connection() as conn:
            current = int(await conn.fetchval(_SELECT_CURSOR, consumer) or 0)
            last = int(await conn.fetchval(_LAST_POSITION))
            if advance(consumer, current, position, last) != current:
                await conn.execute(_UPSERT_CURSOR, consumer, position)  # greatest(): races

    async def record_rejection(self, rejection: RejectionRecord) -> None:
        """Store `rejection` (text fields cut to their bounds); prune the oldest beyond the bound.

        The transaction commits asynchronously (no WAL flush of its own): a flood of bad
        requests does not cost one flush each. Raises ValueError when `rejection.at` is naive.
        """
        params = _rejection_params(bounded(rejection))
        async with self._transaction() as conn:
            await conn.execute("SET LOCAL synchronous_commit TO OFF")
            rejection_id = int(await conn.fetchval(_INSERT_REJECTION, *params))
            every = prune_every(self._max_rejections)
            if rejection_id % every == 0:
                # Keep bound - every + 1 rows: the next every - 1 inserts bring it back to bound.
                keep = self._max_rejections - every + 1
                await conn.execute(_DELETE_REJECTIONS_UP_TO, rejection_id - keep)

    async def rejections(self, limit: int = 100) -> list[RejectionRecord]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_SELECT_REJECTIONS, limit)
        return [
            RejectionRecord(datetime.fromisoformat(r[0]), r[1], int(r[2]), *r[3:]) for r in rows
        ]

    # -- B5 feeds --------------------------------------------------------------------------

    async def commit_feed(
        self, message: MessageRecord, observations: Sequence[ObservationEntry]
    ) -> None:
        """One transaction for the feed's message row and its observations (see the Store)."""
        columns = _observation_columns(observations, message.message_id)
        async with self._transaction() as conn:
            if await conn.fetchval(_INSERT_MESSAGE, *_message_params(message)) is None:
                existing = _stored_message(
                    await conn.fetchrow(_SELECT_MESSAGE, message.partner, message.message_id)
                )
                assert existing is not None  # the conflicting row is committed: ON CONFLICT saw it
                raise DuplicateMessage(existing)
            if observations:
                await conn.execute(_INSERT_OBSERVATIONS, *columns)

    async def observations(self, weeks: Iterable[str]) -> list[ObservationEntry]:
        wanted = list(dict.fromkeys(weeks))
        if not wanted:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_SELECT_OBSERVATIONS, wanted)
        return [_observation(r) for r in rows]

    # -- aggregation -----------------------------------------------------------------------

    async def aggregation_position(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(_SELECT_POSITION, AGGREGATION) or 0)

    async def apply_aggregation(
        self, after: int, upto: int, increments: Mapping[CellKey, CellCounts]
    ) -> None:
        """Compare-and-set of the aggregation position with the cells (see aggregation.py)."""
        increments = dict(increments)
        async with self._transaction() as conn:
            last = int(await conn.fetchval(_LAST_POSITION))
            check_span(after, upto, has_increments=bool(increments), last_position=last)
            actual = int(await conn.fetchval(_LOCK_POSITION, AGGREGATION))  # row lock until COMMIT
            if actual != after:
                raise AggregationMoved(after, actual)
            if increments:
                keys = list(increments)
                key_columns = [list(column) for column in zip(*map(_cell_key, keys), strict=True)]
                current = {
                    CellKey(*r[:6]): _counts(r[6:])
                    for r in await conn.fetch(_SELECT_CELLS_BY_KEY, *key_columns)
                }
                upserts, deletes = [], []
                for key in keys:
                    total = add(current.get(key, CellCounts()), increments[key])
                    if total is None:
                        if key in current:
                            deletes.append(_cell_key(key))
                    else:
                        upserts.append((*_cell_key(key), *_counts_params(total)))
                if upserts:
                    await conn.executemany(_UPSERT_CELL, upserts)
                if deletes:
                    await conn.executemany(_DELETE_CELL, deletes)
            await conn.execute(_MOVE_POSITION, upto, AGGREGATION)

    async def cells(self, weeks: Iterable[str]) -> dict[CellKey, CellCounts]:
        wanted = list(dict.fromkeys(weeks))
        if not wanted:
            return {}
        async with self._connection() as conn:
            rows = await conn.fetch(_SELECT_CELLS, wanted)
        return {CellKey(*r[:6]): _counts(r[6:]) for r in rows}

    # -- detections in the cells (semantics: cells.py) --------------------------------------

    async def read_fold(self, after: int, limit: int) -> list[FoldRow]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_READ_FOLD, after, limit)
        return [
            RecordRow(int(r[0]), r[1], r[2], _FUNCTIONS[r[3]], bytes(r[4]))
            if r[3] is not None
            else DecisionMark(int(r[0]), r[1], r[2], bool(r[5]))
            for r in rows
        ]

    # -- reports and the outbox (semantics: outbox.py) --------------------------------------

    async def add_report(self, report: ReportRecord, *, push: bool) -> int:
        position = await self._add_report(report, push=push, first=False)
        assert position is not None  # only a first-of-week report may be skipped
        return position

    async def add_first_report(self, report: ReportRecord, *, push: bool) -> int | None:
        return await self._add_report(report, push=push, first=True)

    async def _add_report(self, report: ReportRecord, *, push: bool, first: bool) -> int | None:
        created_at = as_utc(report.created_at, "created_at")
        async with self._transaction() as conn:
            # Report positions are a pull cursor: committed in increasing order, like the journal.
            # The lock also makes a first report's check and insert one step across replicas.
            await conn.execute(_LOCK, _LOCK_REPORTS, self._lock_key)
            if first and await conn.fetchval(_WEEK_HAS_REPORT, report.partner, report.week):
                return None
            position = int(
                await conn.fetchval(
                    _INSERT_REPORT,
                    report.report_id,
                    report.partner,
                    report.week,
                    created_at,
                    report.envelope,
                )
            )
            if push:
                await conn.execute(_INSERT_OUTBOX, position, created_at)  # due at once
        return position

    async def reports_after(self, partner: str, after: int, limit: int) -> list[StoredReport]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_SELECT_REPORTS_AFTER, partner, after, limit)
        return [StoredReport(int(r[0]), _report(r[1:6])) for r in rows]

    async def report_of(self, partner: str, week: str) -> StoredReport | None:
        async with self._connection() as conn:
            r = await conn.fetchrow(_REPORT_OF, partner, week)
        return None if r is None else StoredReport(int(r[0]), _report(r[1:6]))

    # -- frozen weeks (semantics: frozen.py) -------------------------------------------------

    async def frozen(self, weeks: Iterable[str]) -> Frozen:
        wanted = list(dict.fromkeys(weeks))
        async with (
            self._connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),  # one snapshot
        ):
            numbers = {r[0]: int(r[1]) for r in await conn.fetch(_FROZEN_WEEKS)}
            rows = await conn.fetch(_FROZEN_CELLS, wanted) if wanted else []
        return Frozen(
            numbers, tuple(FrozenRow(r[0], CellKey(*r[1:7]), _counts(r[7:])) for r in rows)
        )

    async def freeze_week(
        self, report_week: str, rows: Sequence[FrozenRow], *, generation: int
    ) -> bool:
        """One transaction under the frozen-weeks advisory lock: freezes are serialised
        across replicas, so the checks and the inserts are one step."""
        check_rows(report_week, rows)
        async with self._transaction() as conn:
            await conn.execute(_LOCK, _LOCK_FROZEN, self._lock_key)
            if await conn.fetchval(_WEEK_IS_FROZEN, report_week):
                return False
            actual = int(await conn.fetchval(_COUNT_FROZEN))
            if actual != generation:
                raise FreezeMoved(report_week, generation, actual)
            await conn.execute(_FREEZE_WEEK, report_week, generation + 1)
            if rows:
                await conn.executemany(
                    _FREEZE_CELL,
                    [(report_week, *_cell_key(r.key), *_counts_params(r.counts)) for r in rows],
                )
        return True

    async def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Delivery]:
        until = as_utc(now + check_lease(lease), "now")
        at = as_utc(now, "now")
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_CLAIM, at, owner, limit, until)
        return [Delivery(int(r[1]), _delivery_item(r), int(r[15]), owner, until) for r in rows]

    async def delivery_succeeded(
        self,
        position: int,
        owner: str,  # noqa: ARG002
        kind: OutboxKind = OutboxKind.REPORT,
    ) -> None:
        """Mark delivered whoever holds the lease now (outbox.py): the partner has it."""
        async with self._connection() as conn:
            done = await conn.execute(_DELIVERED[kind], position, datetime.now(UTC))
            if _count(done) == 0 and await conn.fetchval(_IN_OUTBOX[kind], position) is None:
                raise NotInOutbox(position, kind.value)

    async def delivery_failed(
        self,
        position: int,
        owner: str,
        next_attempt: datetime,
        error: str,
        kind: OutboxKind = OutboxKind.REPORT,
    ) -> None:
        at = as_utc(next_attempt, "next_attempt")
        async with self._connection() as conn:
            done = await conn.execute(_FAILED[kind], position, owner, at, bounded_error(error))
            if _count(done) == 0 and await conn.fetchval(_IN_OUTBOX[kind], position) is None:
                raise NotInOutbox(position, kind.value)

    async def outbox(self) -> list[Delivery]:
        async with self._connection() as conn:
            rows = await conn.fetch(_OUTBOX)
        return [
            Delivery(
                int(r[1]), _delivery_item(r), int(r[15]), r[16] or "",
                _utc(r[17] if r[16] is not None and r[17] is not None else r[18]),
            )
            for r in rows
        ]  # fmt: skip

    # -- group commit ----------------------------------------------------------------------

    async def _commit_batch(self, batch: list[Commit[JournalEntry]]) -> list[Outcome]:
        """The batch in one transaction; on a data error of one message, each message alone."""
        try:
            async with self._connection() as conn:
                return await self._write_batch(conn, batch)
        except StoreError as exc:
            if not isinstance(exc.__cause__, _DATA_ERRORS):
                raise
            if len(batch) == 1:
                return [_message_failure(exc, batch[0])]
        outcomes: list[Outcome] = []
        async with self._connection() as conn:
            for commit in batch:
                try:
                    outcomes.extend(await self._write_batch(conn, [commit]))
                except StoreError as exc:
                    if not isinstance(exc.__cause__, _DATA_ERRORS):
                        raise
                    outcomes.append(_message_failure(exc, commit))
        return outcomes

    async def _write_batch(
        self, conn: asyncpg.Connection, batch: list[Commit[JournalEntry]]
    ) -> list[Outcome]:
        """One transaction: journal lock, message rows, journal rows, notification, COMMIT.

        A message already stored gets DuplicateMessage as its outcome; the others commit.
        """
        messages = [c.message for c in batch]
        async with _translated(), conn.transaction():
            await conn.execute(_LOCK, _LOCK_JOURNAL, self._lock_key)
            inserted = {
                (r[0], r[1])
                for r in await conn.fetch(_INSERT_MESSAGES, *_message_columns(messages))
            }
            outcomes: list[Outcome] = []
            fresh: list[tuple[list[int], Sequence[JournalEntry]]] = []
            for commit in batch:
                m = commit.message
                if (m.partner, m.message_id) in inserted:
                    positions: list[int] = []  # filled below
                    outcomes.append(positions)
                    fresh.append((positions, commit.entries))
                else:
                    existing = _stored_message(
                        await conn.fetchrow(_SELECT_MESSAGE, m.partner, m.message_id)
                    )
                    assert existing is not None  # committed: ON CONFLICT waited for it
                    outcomes.append(DuplicateMessage(existing))
            last = 0
            held = all(isinstance(entries, list | tuple) for _, entries in fresh)
            for chunk in _chunks(fresh, None if held else INSERT_CHUNK):
                rows = await conn.fetch(_INSERT_ENTRIES, *_entry_columns([e for _, e in chunk]))
                given = {r[1]: int(r[0]) for r in rows}
                for positions, entry in chunk:
                    positions.append(given[entry.record_id])
                last = max(last, *given.values())
            if last:
                await conn.execute(_NOTIFY, CHANNEL, f"{self._schema_name} {last}")
        return outcomes

    # -- responses to posts (semantics: decisions.py, outbox.py) -----------------------------

    async def responses_after(self, partner: str, after: int, limit: int) -> list[Response]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_SELECT_RESPONSES_AFTER, partner, after, limit)
        return [_response(r) for r in rows]

    # -- decisions, answers, events (semantics: decisions.py) ---------------------------------

    async def read_feed(self, after: int, limit: int) -> list[JournalRow | EventRow]:
        if limit <= 0:
            return []
        async with self._connection() as conn:  # one statement: one snapshot of both tables
            return [feed_row(r) for r in await conn.fetch(_READ_FEED, after, limit)]

    async def read_events(self, after: int, limit: int) -> list[EventRow]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            return [event_row(r) for r in await conn.fetch(_READ_EVENTS, after, limit)]

    async def decision_inputs(self, asks: Sequence[DecisionAsk]) -> list[DecisionInputs]:
        """Every ask's inputs in one repeatable-read transaction (one snapshot)."""
        found = []
        async with self._connection() as conn, conn.transaction(isolation="repeatable_read"):
            for ask in asks:
                row = await conn.fetchrow(_FIND_DECISION, ask.consumer, ask.decision_id)
                versions = tuple(
                    version_entry(r)
                    for r in await conn.fetch(_ITEM_VERSIONS, ask.item_id)
                    if not ask.partner or r[1] == ask.partner
                )
                partner = only_partner(versions)
                decisions: tuple[StoredDecision, ...] = ()
                if partner is not None:
                    rows = await conn.fetch(_ITEM_DECISIONS, partner, ask.item_id)
                    decisions = tuple(stored_decision(_utc_row(r)) for r in rows)
                existing = None if row is None else stored_decision(_utc_row(row))
                found.append(DecisionInputs(existing, versions, decisions))
        return found

    async def item_decisions(self, partner: str, item_id: str) -> list[StoredDecision]:
        async with self._connection() as conn:
            rows = await conn.fetch(_ITEM_DECISIONS, partner, item_id)
        return [stored_decision(_utc_row(r)) for r in rows]

    async def find_decision(self, consumer: str, decision_id: str) -> StoredDecision | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(_FIND_DECISION, consumer, decision_id)
        return None if row is None else stored_decision(_utc_row(row))

    async def commit_decisions(self, commits: Sequence[DecisionCommit]) -> list[int | GatewayError]:
        """One transaction under the journal's advisory lock (see decisions.py)."""
        if not commits:
            return []
        outcomes: list[int | GatewayError] = []
        async with self._transaction() as conn:
            await conn.execute(_LOCK, _LOCK_JOURNAL, self._lock_key)
            for commit in commits:
                d = commit.decision
                latest = await conn.fetchval(_LATEST_VERSION, d.partner, d.item_id)
                if latest is not None and int(latest) != d.version:
                    outcomes.append(StaleVersion(d.item_id, d.version, int(latest)))
                    continue
                if await conn.fetchrow(_FIND_DECISION, d.consumer, d.decision_id) is not None:
                    outcomes.append(DecisionTaken(d.consumer, d.decision_id))
                    continue
                if int(await conn.fetchval(_LAST_DECISION, d.partner, d.item_id)) != commit.after:
                    outcomes.append(DecisionMoved(d.item_id))
                    continue
                position = await self._insert_event(conn, commit.event)
                params = decision_params(position, commit, text_times=False)
                await conn.execute(_INSERT_DECISION, *params)
                if commit.push:  # the post's response, due at once: in the decision's transaction
                    await conn.execute(_INSERT_RESPONSE_OUTBOX, position, params[-1])
                outcomes.append(position)
            positions = [o for o in outcomes if isinstance(o, int)]
            if positions:
                await conn.execute(_NOTIFY, CHANNEL, f"{self._schema_name} {max(positions)}")
        return outcomes

    async def fold_position(self, name: str) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(_SELECT_POSITION, name) or 0)

    async def commit_answers(self, after: int, upto: int, answers: Sequence[AnswerCommit]) -> None:
        async with self._transaction() as conn:
            await conn.execute(_LOCK, _LOCK_JOURNAL, self._lock_key)
            actual = int(await conn.fetchval(_LOCK_POSITION, ANSWERS))
            if actual != after:
                raise AggregationMoved(after, actual)
            last = 0
            for answer in answers:
                if await conn.fetchval(
                    _ANSWER, answer.amendment_record_id, answer.request_position
                ):
                    last = await self._insert_event(conn, answer.event)
            await conn.execute(_MOVE_POSITION, upto, ANSWERS)
            if last:
                await conn.execute(_NOTIFY, CHANNEL, f"{self._schema_name} {last}")

    # -- arrivals and AED coverage (semantics: arrivals.py) -----------------------------------

    async def commit_arrivals(self, commits: Sequence[ArrivalCommit]) -> list[ArrivalResult]:
        """One transaction under the journal's advisory lock: a submission commits wholly
        before the arrivals are decided, or wholly after."""
        if not commits:
            return []
        results: list[ArrivalResult] = []
        async with self._transaction() as conn:
            await conn.execute(_LOCK, _LOCK_JOURNAL, self._lock_key)
            for commit in commits:
                arrived_at = _utc(commit.arrived_at)
                row = await conn.fetchrow(_FIND_ARRIVAL, commit.item_id, arrived_at)
                if row is not None:
                    results.append(stored_result(commit.item_id, row))
                    continue
                first = await conn.fetchval(_FIRST_AED, commit.item_id)
                aed_at = None if first is None else _utc(first)
                result = new_result(commit, aed_at)
                if not result.with_aed:
                    result = replace(result, position=await self._insert_event(conn, commit.event))
                await conn.execute(
                    _INSERT_ARRIVAL,
                    *arrival_params(commit, result, arrived_at=arrived_at, aed_at=aed_at),
                )
                results.append(result)
            positions = [r.position for r in results if r.position and not r.replayed]
            if positions:
                await conn.execute(_NOTIFY, CHANNEL, f"{self._schema_name} {max(positions)}")
        return results

    async def arrival_coverage(
        self, week: str | None = None, partner: str | None = None
    ) -> list[Coverage]:
        async with self._connection() as conn:
            rows = await conn.fetch(_COVERAGE, week, partner)
        return coverage_of(coverage_row(r) for r in rows)

    @staticmethod
    async def _insert_event(conn: asyncpg.Connection, event: EventEntry) -> int:
        """Insert `event` at the journal's next position (the caller holds the journal lock)."""
        position = int(await conn.fetchval(_NEXT_POSITION))
        await conn.execute(_INSERT_EVENT, *event_params(position, event))
        return position

    # -- connections -----------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self._pool
        if pool is None:
            raise StoreError("the PostgreSQL store is not open")
        async with _translated(), pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _create_schema(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            # Concurrent CREATE SCHEMA IF NOT EXISTS can still collide on the catalog: serialise.
            async with conn.transaction():
                await conn.execute(_LOCK, _LOCK_MIGRATE, _schema_key(self._schema_name))
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema_name}"')
        finally:
            await _quietly_close(conn)


def _message_failure(exc: StoreError, commit: Commit[JournalEntry]) -> StoreError:
    """One message's data error as its caller sees it: ItemVersionTaken for a version race."""
    cause, entries = exc.__cause__, commit.entries
    if (
        isinstance(cause, asyncpg.UniqueViolationError)
        and cause.constraint_name in _JOURNAL_KEYS
        and clash_is_a_race(
            [e.record_id for e in entries], [(e.partner, e.item_id, e.version) for e in entries]
        )
    ):
        return ItemVersionTaken(str(cause))
    return exc


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """asyncpg and socket errors become StoreError (the message never holds the DSN).

    InternalClientError is among them: a connection closed under an operation in progress
    leaves asyncpg's protocol in a state it reports so ("cannot switch to state 15; another
    operation (2) is in progress"), and the request must be answered 503, never 500."""
    try:
        yield
    except _STORE_TROUBLE as exc:
        raise StoreError(f"PostgreSQL store: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _quietly_close(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=5)
    except _STORE_TROUBLE:
        conn.terminate()


async def _current_schema(conn: asyncpg.Connection) -> str:
    schema = await conn.fetchval("SELECT current_schema()")
    if not schema:
        raise StoreError("the PostgreSQL connection has no current schema (check search_path)")
    return str(schema)


def _schema_key(schema: str) -> int:
    """A signed 32-bit key for the advisory locks of the store in `schema`."""
    return zlib.crc32(schema.encode()) - (1 << 31)


async def _migrate(conn: asyncpg.Connection, lock_key: int) -> None:
    """Apply pending migrations in one transaction under the migration lock."""
    async with conn.transaction():
        await conn.execute(_LOCK, _LOCK_MIGRATE, lock_key)
        await conn.execute(_SCHEMA_VERSION_DDL)
        current = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
        latest = POSTGRES_MIGRATIONS[-1].version
        if current > latest:
            raise StoreError(f"the database is at schema version {current}, newer than {latest}")
        for migration in POSTGRES_MIGRATIONS:
            if migration.version > current:
                await _apply(conn, migration)


_SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
    version     integer     PRIMARY KEY,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL
)
"""


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    for statement in migration.statements:
        await conn.execute(statement)
    await conn.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)",
        migration.version, migration.description, datetime.now(UTC),
    )  # fmt: skip


async def _prune_rejections(conn: asyncpg.Connection, keep: int) -> None:
    newest = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM rejections"))
    if newest > keep:
        await conn.execute(_DELETE_REJECTIONS_UP_TO, newest - keep)


def _count(status: str) -> int:
    """The row count of an asyncpg command status ("UPDATE 1")."""
    return int(status.rpartition(" ")[2] or 0)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _stored_message(r: Record | None) -> StoredMessage | None:
    if r is None:
        return None
    return StoredMessage(r[0], r[1], r[2], int(r[3]), bytes(r[4]))


def _message_params(m: MessageRecord) -> tuple[Any, ...]:
    return (
        m.partner, m.message_id, m.content_digest, m.receipt_id, m.received_at, m.status,
        m.http_status, m.receipt, m.test,
    )  # fmt: skip


def _message_columns(messages: Sequence[MessageRecord]) -> list[list[Any]]:
    return [list(column) for column in zip(*map(_message_params, messages), strict=True)]


def _chunks(
    messages: list[tuple[list[int], Sequence[JournalEntry]]], size: int | None
) -> Iterator[list[tuple[list[int], JournalEntry]]]:
    """The entries of `messages` in order, in chunks of at most `size` (None: one chunk), each
    entry with the list its message's positions go to (each message's entries iterated once)."""
    chunk: list[tuple[list[int], JournalEntry]] = []
    for positions, entries in messages:
        for entry in entries:
            chunk.append((positions, entry))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _entry_columns(entries: Sequence[JournalEntry]) -> list[list[Any]]:
    return [
        [e.record_id for e in entries],
        [e.partner for e in entries],
        [e.message_id for e in entries],
        [e.item_id for e in entries],
        [e.version for e in entries],
        [e.function.value for e in entries],
        [e.category for e in entries],
        [encode_codes(e.hs_chapters) for e in entries],
        [encode_codes(e.origin_countries) for e in entries],
        [str(e.value_amount) for e in entries],
        [e.value_currency for e in entries],
        [e.envelope for e in entries],
    ]


def _journal_row(r: Record) -> JournalRow:
    entry = JournalEntry(
        r[1], r[2], r[3], r[4], r[5], _FUNCTIONS[r[6]], r[7],
        decode_codes(r[8]), decode_codes(r[9]), Decimal(r[10]), r[11], bytes(r[12]),
    )  # fmt: skip
    return JournalRow(int(r[0]), entry)


def _rejection_params(r: RejectionRecord) -> tuple[Any, ...]:
    return (
        r.at.isoformat(), r.route, r.http_status, r.reason, r.detail, r.partner, r.keyid,
        r.message_id, r.content_digest, r.peer,
    )  # fmt: skip


def _observation_columns(observations: Sequence[ObservationEntry], feed_id: str) -> list[Any]:
    o = observations
    return [
        [x.observation_id for x in o], [x.partner for x in o], [feed_id] * len(o),
        [x.reporter for x in o], [x.week for x in o], [x.channel for x in o],
        [x.origin_country for x in o], [x.hs_chapter for x in o], [x.category for x in o],
        [x.value_band for x in o], [x.items for x in o],
        [None if x.declared_value_usd is None else str(x.declared_value_usd) for x in o],
        [x.de_minimis_items for x in o], [x.detections for x in o], [x.record for x in o],
    ]  # fmt: skip


def _observation(r: Record) -> ObservationEntry:
    return ObservationEntry(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], int(r[9]),
        None if r[10] is None else Decimal(r[10]), int(r[11]), int(r[12]), bytes(r[13]),
    )  # fmt: skip


def _cell_key(k: CellKey) -> tuple[str, ...]:
    return (k.week, k.channel, k.origin_country, k.hs_chapter, k.category, k.value_band)


def _counts_params(c: CellCounts) -> tuple[Any, ...]:
    return (
        c.items, str(c.declared_value_usd), c.de_minimis_items, c.pre_suspension_items,
        c.detections, c.rate_missing,
    )  # fmt: skip


def _counts(r: Sequence[Any]) -> CellCounts:
    return CellCounts(int(r[0]), Decimal(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]))


def _report(r: Sequence[Any]) -> ReportRecord:
    return ReportRecord(r[0], r[1], r[2], _utc(r[3]), bytes(r[4]))


def _delivery_item(r: Sequence[Any]) -> ReportRecord | Response:
    """What a `_DELIVERY_JOIN` row pushes."""
    return _report(r[2:7]) if r[0] == OutboxKind.REPORT.value else _response(r[7:15])


def _response(r: Sequence[Any]) -> Response:
    row = list(r)
    row[7] = _utc(row[7])
    return response_row(row)


def _utc_row(r: Record) -> list[Any]:
    """A decisions row with its timestamptz in UTC."""
    row = list(r)
    row[11] = row[11].astimezone(UTC)
    return row


# -- arrivals and AED coverage (semantics: arrivals.py) ---------------------------------------

_FIND_ARRIVAL = "SELECT lead_ms, no_aed FROM arrivals WHERE item_id = $1 AND arrived_at = $2"
# The item's first accepted version: its lowest journal position, of any partner.
_FIRST_AED = """
SELECT m.received_at FROM journal AS j
JOIN messages AS m ON m.partner = j.partner AND m.message_id = j.message_id
WHERE j.item_id = $1 ORDER BY j.position LIMIT 1
"""
_INSERT_ARRIVAL = """
INSERT INTO arrivals (item_id, arrived_at, office, reported_by, week, partner, origin_country,
                      aed_at, lead_ms, no_aed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""
_COVERAGE = f"""
SELECT {COVERAGE_COLUMNS} FROM arrivals
WHERE ($1::text IS NULL OR week = $1) AND ($2::text IS NULL OR partner = $2)
"""  # noqa: S608 (constants)
