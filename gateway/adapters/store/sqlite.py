"""The embedded store: SQLite in WAL mode behind the `gateway.ports.Store` contract.

Threads: every write (commit, ack, migrations) runs on ONE writer connection owned by a
single-thread executor, so writes are serialised without locks and the event loop never waits
for a commit. Reads run on a small pool of reader connections on their own threads; in WAL mode a
reader sees the last committed state and never queues behind a commit in progress. The two point
lookups every message makes (its messageId, the states of its items, up to `INLINE_IDS` of them)
run on the event loop's own read connection instead: an index probe costs ~10 µs, a thread hop
several times that in CPU. That connection never waits (`busy_timeout = 0`): should the
database be momentarily busy, the lookup goes to a reader thread.

Durability: `commit_message` returns after COMMIT, with `PRAGMA synchronous=FULL` by default, so
the WAL is fsynced before the receipt can leave. Positions come from an AUTOINCREMENT key under
the write lock: strictly increasing, contiguous within one commit, never reused.

Group commit (group_commit.py): message commits queue on the event loop and one committer task
hands them to the writer. A commit that finds the committer idle goes alone at once (no timer,
never waits for company); commits that arrive while the writer is busy are taken together (up
to `BATCH_MESSAGES` messages or about `BATCH_ENTRIES` entries) into ONE transaction: `BEGIN
IMMEDIATE`, per message a SAVEPOINT holding its message row and journal rows, one `COMMIT` = one
fsync. A message that fails (duplicate message id, a constraint of its entries) is rolled back to
its savepoint and fails its caller alone; the rest of the batch commits. Every caller learns its
outcome only after the batch's COMMIT returned; when the COMMIT fails, every caller in the batch
gets StoreError and nothing of the batch is kept.

Rejections: refused requests are recorded on the writer too, but with `synchronous=NORMAL` for
that one transaction (WAL mode: no fsync of its own, never corruption; the next FULL commit or
checkpoint syncs it), so a flood of bad requests does not cost one fsync each. The table keeps at
most `max_rejections` rows: every `prune_every(max_rejections)`-th id deletes the oldest by an id
range on the primary key, never a scan.

B5 feeds, aggregation, reports, frozen weeks and the outbox write on the same writer lane, each
call one `BEGIN IMMEDIATE` transaction of its own (feeds are few and large: they do not join the
group commit). `BEGIN IMMEDIATE` takes SQLite's write lock before the first read, so the outbox
claim's select-then-lease, the aggregation's compare-and-set and a week's freeze are exclusive
even against another process on the same file. Their shared semantics live in `outbox.py`,
`aggregation.py` and `frozen.py`.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

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
from gateway.adapters.store.migrations import SCHEMA_VERSION_DDL, SQLITE_MIGRATIONS, Migration
from gateway.adapters.store.outbox import (
    as_utc,
    bounded_error,
    check_lease,
    from_utc_text,
    utc_text,
)
from gateway.adapters.store.rejections import (
    DEFAULT_MAX_REJECTIONS,
    bounded,
    check_max_rejections,
    prune_every,
)
from gateway.domain.arrivals import (
    ArrivalCommit,
    ArrivalResult,
    ArrivalRow,
    Coverage,
    coverage_of,
)
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
from gateway.domain.sequences import Lazy
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

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
Row = tuple[Any, ...]
SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_IN_LIST_CHUNK = 500  # well under SQLite's bound variable limit (999 before 3.32)
INLINE_IDS = 1000  # item-state lookups of more ids than this go to a reader thread
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})  # primary result codes
_FUNCTIONS = {f.value: f for f in ItemFunction}

_INSERT_MESSAGE = """
INSERT INTO messages (partner, message_id, content_digest, receipt_id, received_at, status,
                      http_status, receipt, test)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (partner, message_id) DO NOTHING
"""
# A receipt from this size up is written into a zeroblob in pieces (Connection.blobopen):
# bound as one parameter, SQLite would copy it whole, twice (the binding and the record).
_BLOB_PIECE = 256 * 1024
_INSERT_MESSAGE_ZEROBLOB = """
INSERT INTO messages (partner, message_id, content_digest, receipt_id, received_at, status,
                      http_status, receipt, test)
VALUES (?, ?, ?, ?, ?, ?, ?, zeroblob(?), ?)
ON CONFLICT (partner, message_id) DO NOTHING
"""
_JOURNAL_KEYS = (  # the messages of the journal's UNIQUE constraints
    "UNIQUE constraint failed: journal.record_id",
    "UNIQUE constraint failed: journal.partner, journal.item_id, journal.version",
)
_INSERT_ENTRY = """
INSERT INTO journal (record_id, partner, message_id, item_id, version, function, category,
                     hs_chapters, origin_countries, value_amount, value_currency, envelope)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_SELECT_MESSAGE = """
SELECT partner, message_id, content_digest, http_status, receipt
FROM messages WHERE partner = ? AND message_id = ?
"""
_READ_RECORDS = """
SELECT position, partner, item_id, function, envelope FROM journal
WHERE position > ? ORDER BY position LIMIT ?
"""
_ROW_COLUMNS = """
SELECT position, record_id, partner, message_id, item_id, version, function, category,
       hs_chapters, origin_countries, value_amount, value_currency, envelope
FROM journal
"""
_LAST_POSITION = """
SELECT max(coalesce((SELECT max(position) FROM journal), 0),
           coalesce((SELECT max(position) FROM events), 0))
"""
# Events take the journal's next AUTOINCREMENT value: sqlite_sequence holds it (a row appears
# with the journal's first insert), and raising it keeps journal positions above every event's.
_JOURNAL_SEQUENCE = "SELECT seq FROM sqlite_sequence WHERE name = 'journal'"
_RAISE_SEQUENCE = "UPDATE sqlite_sequence SET seq = ? WHERE name = 'journal'"
_START_SEQUENCE = "INSERT INTO sqlite_sequence (name, seq) VALUES ('journal', ?)"
_INSERT_EVENT = """
INSERT INTO events (position, event_id, kind, partner, item_id, version, category, hs_chapters,
                    origin_countries, value_amount, value_currency, addressee, envelope)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_DECISION = """
INSERT INTO decisions (position, consumer, decision_id, partner, item_id, version, message_id,
                       code, questions, detection, note, digest, decided_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_ITEM_DECISIONS = f"""
SELECT {DECISION_COLUMNS} FROM decisions WHERE partner = ? AND item_id = ? ORDER BY position
"""  # noqa: S608 (constants)
_FIND_DECISION = f"""
SELECT {DECISION_COLUMNS} FROM decisions WHERE consumer = ? AND decision_id = ?
"""  # noqa: S608 (constants)
_LATEST_VERSIONS = """
SELECT partner, item_id, max(version) FROM journal WHERE item_id IN ({}) GROUP BY partner, item_id
"""
_LAST_DECISIONS = """
SELECT partner, item_id, max(position) FROM decisions WHERE item_id IN ({})
GROUP BY partner, item_id
"""
_TAKEN = "SELECT consumer, decision_id FROM decisions WHERE consumer = ? AND decision_id IN ({})"
VERSION_SELECT = f"SELECT {VERSION_COLUMNS} FROM journal "  # noqa: S608 (constants)
DECISION_SELECT = f"SELECT {DECISION_COLUMNS} FROM decisions "  # noqa: S608 (constants)
_ANSWER = "UPDATE decisions SET answered_by = ? WHERE position = ? AND answered_by IS NULL"
_READ_FEED = f"""
SELECT {FEED_COLUMNS} FROM journal WHERE position > ?
UNION ALL
SELECT {EVENT_COLUMNS} FROM events WHERE position > ?
ORDER BY position LIMIT ?
"""  # noqa: S608 (constants)
_READ_EVENTS = f"""
SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?
"""  # noqa: S608 (constants)
_SELECT_CURSOR = "SELECT position FROM cursors WHERE consumer = ?"
_UPSERT_CURSOR = """
INSERT INTO cursors (consumer, position) VALUES (?, ?)
ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)
"""
_INSERT_REJECTION = """
INSERT INTO rejections (at, route, http_status, reason, detail, partner, keyid, message_id,
                        content_digest, peer)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_SELECT_REJECTIONS = """
SELECT at, route, http_status, reason, detail, partner, keyid, message_id, content_digest, peer
FROM rejections ORDER BY id DESC LIMIT ?
"""
_DELETE_REJECTIONS_UP_TO = "DELETE FROM rejections WHERE id <= ?"
_RELAXED_SYNCHRONOUS = frozenset({"FULL", "EXTRA"})  # modes a rejection lowers to NORMAL

_INSERT_OBSERVATION = """
INSERT INTO observations (observation_id, partner, feed_id, reporter, week, channel,
                          origin_country, hs_chapter, category, value_band, items,
                          declared_value_usd, de_minimis_items, detections, record)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_OBSERVATION_COLUMNS = """
SELECT id, observation_id, partner, reporter, week, channel, origin_country, hs_chapter,
       category, value_band, items, declared_value_usd, de_minimis_items, detections, record
FROM observations
"""
_CELL_KEY = "week = ? AND channel = ? AND origin_country = ? AND hs_chapter = ? AND category = ? "
_CELL_KEY += "AND value_band = ?"
_COUNT_COLUMNS = """items, declared_value_usd, de_minimis_items, pre_suspension_items, detections,
       rate_missing"""
_SELECT_CELL = f"SELECT {_COUNT_COLUMNS} FROM cells WHERE {_CELL_KEY}"  # noqa: S608 (constants)
_DELETE_CELL = f"DELETE FROM cells WHERE {_CELL_KEY}"  # noqa: S608 (constants)
_UPSERT_CELL = f"""
INSERT INTO cells (week, channel, origin_country, hs_chapter, category, value_band,
                   {_COUNT_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (week, channel, origin_country, hs_chapter, category, value_band) DO UPDATE SET
    items = excluded.items, declared_value_usd = excluded.declared_value_usd,
    de_minimis_items = excluded.de_minimis_items,
    pre_suspension_items = excluded.pre_suspension_items, detections = excluded.detections,
    rate_missing = excluded.rate_missing
"""  # noqa: S608 (constants)
_CELL_COLUMNS = f"""
SELECT week, channel, origin_country, hs_chapter, category, value_band, {_COUNT_COLUMNS}
FROM cells
"""  # noqa: S608 (constants)
# One compound statement: one snapshot of both tables, merged in position order (each side is
# read in its primary key's order). A decision has no function nor envelope.
_READ_FOLD = """
SELECT position, partner, item_id, function, envelope, 0 FROM journal WHERE position > ?
UNION ALL
SELECT d.position, d.partner, d.item_id, NULL, NULL,
       EXISTS (SELECT 1 FROM decisions AS e
               WHERE e.item_id = d.item_id AND e.partner = d.partner
                 AND e.position <= d.position AND e.detection IS NOT NULL
                 AND e.detection <> 'NONE')
FROM decisions AS d WHERE d.position > ?
ORDER BY 1 LIMIT ?
"""
_SELECT_POSITION = "SELECT position FROM positions WHERE name = ?"
_MOVE_POSITION = "UPDATE positions SET position = ? WHERE name = ? AND position = ?"
_INSERT_REPORT = """
INSERT INTO reports (report_id, partner, week, created_at, envelope) VALUES (?, ?, ?, ?, ?)
"""
_WEEK_HAS_REPORT = "SELECT 1 FROM reports WHERE partner = ? AND week = ? LIMIT 1"
_REPORT_OF = """
SELECT position, report_id, partner, week, created_at, envelope FROM reports
WHERE partner = ? AND week = ? ORDER BY position LIMIT 1
"""
_FROZEN_WEEKS = "SELECT week, number FROM frozen_weeks"
_FROZEN_COLUMNS = f"""
SELECT report_week, week, channel, origin_country, hs_chapter, category, value_band,
       {_COUNT_COLUMNS}
FROM frozen_cells
"""  # noqa: S608 (constants)
_WEEK_IS_FROZEN = "SELECT 1 FROM frozen_weeks WHERE week = ?"
_FREEZE_WEEK = "INSERT INTO frozen_weeks (week, number) VALUES (?, ?)"
_FREEZE_CELL = f"""
INSERT INTO frozen_cells (report_week, week, channel, origin_country, hs_chapter, category,
                          value_band, {_COUNT_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""  # noqa: S608 (constants)
_INSERT_OUTBOX = """
INSERT INTO outbox (kind, report, attempts, next_attempt_at) VALUES ('REPORT', ?, 0, ?)
"""
_SELECT_REPORTS_AFTER = """
SELECT position, report_id, partner, week, created_at, envelope FROM reports
WHERE partner = ? AND position > ? ORDER BY position LIMIT ?
"""
# An outbox row with what it pushes: a report (r) or a response (d), the other side NULL.
# Columns: id, kind, position, report (5), response (8), attempts, lease_owner, lease_until,
# next_attempt_at.
_DELIVERY_COLUMNS = f"""
SELECT o.id, o.kind, coalesce(o.report, o.decision), r.report_id, r.partner, r.week,
       r.created_at, r.envelope, {RESPONSE_COLUMNS}, o.attempts, o.lease_owner, o.lease_until,
       o.next_attempt_at
FROM outbox AS o
LEFT JOIN reports AS r ON r.position = o.report
LEFT JOIN decisions AS d ON d.position = o.decision
WHERE o.delivered_at IS NULL
"""  # noqa: S608 (constants)
_SELECT_DUE = (
    _DELIVERY_COLUMNS
    + """AND o.next_attempt_at <= ?
  AND (o.lease_until IS NULL OR o.lease_until <= ? OR o.lease_owner = ?)
ORDER BY o.id LIMIT ?
"""
)
_LEASE = "UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?"
_SELECT_OUTBOX_ROW = {  # by kind: the column that names the row (each unique)
    OutboxKind.REPORT: "SELECT id, lease_owner, delivered_at FROM outbox WHERE report = ?",
    OutboxKind.RESPONSE: "SELECT id, lease_owner, delivered_at FROM outbox WHERE decision = ?",
}
_DELIVERED = """
UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, lease_owner = NULL,
                  lease_until = NULL
WHERE id = ?
"""
_FAILED = """
UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
                  lease_owner = NULL, lease_until = NULL
WHERE id = ?
"""
# -- responses to posts (semantics: decisions.py, outbox.py) --
_INSERT_RESPONSE_OUTBOX = """
INSERT INTO outbox (kind, decision, attempts, next_attempt_at) VALUES ('RESPONSE', ?, 0, ?)
"""
_SELECT_RESPONSES_AFTER = f"""
SELECT {RESPONSE_COLUMNS} FROM decisions AS d
WHERE d.partner = ? AND d.position > ? ORDER BY d.position LIMIT ?
"""  # noqa: S608 (constants)


class SqliteStore:
    """gateway.ports.Store on one SQLite file. Build, then `await open()`; `close()` is idempotent.

    `synchronous` is the SQLite PRAGMA (OFF, NORMAL, FULL, EXTRA); FULL (the default) makes each
    commit durable against power loss, NORMAL only against process crashes. `max_rejections`
    bounds the rejection records kept (the oldest are pruned).
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        readers: int = 2,
        busy_timeout: float = 5.0,
        max_rejections: int = DEFAULT_MAX_REJECTIONS,
    ) -> None:
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise ConfigError(
                str(path), "synchronous", f"{synchronous!r} is not a SQLite synchronous mode",
                "use one of " + ", ".join(sorted(SYNCHRONOUS_MODES)),
            )  # fmt: skip
        if readers < 1:
            raise ValueError(f"readers must be at least 1, got {readers}")
        self._path, self._synchronous = path, mode
        self._readers_count, self._busy_timeout = readers, busy_timeout
        self._max_rejections = check_max_rejections(max_rejections)
        self._writer: _Lane | None = None
        self._readers: _Lane | None = None
        self._inline: sqlite3.Connection | None = None  # the event loop's own, for lookups
        self._commits: GroupCommitter[Row] | None = None  # message commits, to the writer

    @property
    def path(self) -> Path:
        return self._path

    async def open(self) -> None:
        """Open the writer, apply pending migrations, then open the readers."""
        if self._writer is not None:
            return
        writer = _Lane("store-writer", 1)
        readers = _Lane("store-reader", self._readers_count)
        try:
            await writer.start(partial(self._connect, writer=True))
            await writer.run(_migrate)
            # A bound lowered since the last run takes effect now, not at the next pruning.
            await writer.run(
                partial(_in_transaction, work=partial(_prune_rejections, keep=self._max_rejections))
            )
            await readers.start(partial(self._connect, writer=False))
            inline = self._connect(writer=False, wait=False)
        except sqlite3.Error as exc:
            await _stop_all(writer, readers)
            raise StoreError(f"cannot open the SQLite store {self._path}: {exc}") from exc
        except BaseException:
            await _stop_all(writer, readers)
            raise
        self._writer, self._readers, self._inline = writer, readers, inline
        self._commits = GroupCommitter(
            partial(_write_group, writer),
            store=f"SQLite store {self._path}",
            passed=(DuplicateMessage, ItemVersionTaken),
        )

    async def close(self) -> None:
        """Finish the work already submitted, close every connection and stop the threads."""
        writer, readers, inline = self._writer, self._readers, self._inline
        commits, self._commits = self._commits, None
        self._writer = self._readers = self._inline = None
        if inline is not None:
            inline.close()
        if commits is not None:
            await commits.drain()  # the commits queued before close() still land
        if writer is not None and readers is not None:
            await _stop_all(writer, readers)

    async def ping(self) -> None:
        await self._read(partial(_scalar, "SELECT max(version) FROM schema_version", ()))

    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """Nothing to watch: one gateway process owns an SQLite store and notifies itself."""

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        return await self._lookup(partial(_find_message, partner=partner, message_id=message_id))

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        """One transaction for the message, its receipt and `entries`; positions in entry order.

        Raises DuplicateMessage (nothing written) when (partner, message_id) is already stored,
        StoreError when the commit fails (nothing written either). Concurrent commits may share
        one transaction (group commit, see the module docstring); each still succeeds or fails
        as a whole and returns only once durable. Cancelling the caller drops a commit not yet
        handed to the writer; one already handed to it completes or fails as a whole.
        """
        commits = self._commits
        if commits is None:
            raise StoreError(f"the SQLite store {self._path} is not open")
        rows: Sequence[Row]
        if isinstance(entries, list | tuple):
            rows = [_entry_params(entry) for entry in entries]
        else:  # a lazy sequence (a large message's entries in a file): read by the writer
            rows = _LazyRows(entries)
        return await commits.commit(message, rows)

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return {}
        job = partial(_item_states, partner=partner, ids=ids)
        return await (self._lookup(job) if len(ids) <= INLINE_IDS else self._read(job))

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        if limit <= 0:
            return []
        sql = _ROW_COLUMNS + "WHERE position > ? ORDER BY position LIMIT ?"
        return await self._read(partial(_rows, sql, (after, limit)))

    async def read_records(self, after: int, limit: int) -> list[RecordRow]:
        if limit <= 0:
            return []
        return await self._read(partial(_records, after, limit))

    async def last_position(self) -> int:
        return int(await self._read(partial(_scalar, _LAST_POSITION, ())))

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        params: tuple[str, ...]
        if partner is None:
            sql, params = _ROW_COLUMNS + "WHERE item_id = ? ORDER BY position", (item_id,)
        else:
            sql = _ROW_COLUMNS + "WHERE partner = ? AND item_id = ? ORDER BY position"
            params = (partner, item_id)
        return await self._read(partial(_rows, sql, params))

    async def get_cursor(self, consumer: str) -> int:
        return int(await self._read(partial(_cursor, consumer=consumer)))

    async def ack(self, consumer: str, position: int) -> None:
        """Move the cursor to max(current, position); AckBeyondJournal past the last position."""
        await self._write(partial(_ack, consumer=consumer, position=position))

    async def record_rejection(self, rejection: RejectionRecord) -> None:
        """Store `rejection` (text fields cut to their bounds); prune the oldest beyond the bound.

        Raises ValueError when `rejection.at` is naive.
        """
        params = _rejection_params(bounded(rejection))
        work = partial(_insert_rejection, params=params, bound=self._max_rejections)
        if self._writer is None:
            raise StoreError(f"the SQLite store {self._path} is not open")
        relaxed = partial(_in_relaxed_transaction, work=work, synchronous=self._synchronous)
        await self._translate(self._writer, relaxed)

    async def rejections(self, limit: int = 100) -> list[RejectionRecord]:
        if limit <= 0:
            return []
        return await self._read(partial(_rejections, limit=limit))

    # -- B5 feeds --------------------------------------------------------------------------

    async def commit_feed(
        self, message: MessageRecord, observations: Sequence[ObservationEntry]
    ) -> None:
        """One durable transaction for the feed's message row and its observations.

        Raises DuplicateMessage (nothing written) when (partner, message_id) is already stored,
        StoreError when the commit fails (a repeated observation id, an observation of another
        partner than the feed's: nothing written either).
        """
        rows = [_observation_params(o, message.message_id) for o in observations]
        await self._write(partial(_commit_feed, message=message, rows=rows))

    async def observations(self, weeks: Iterable[str]) -> list[ObservationEntry]:
        wanted = list(dict.fromkeys(weeks))
        if not wanted:
            return []
        return await self._read(partial(_observations, weeks=wanted))

    # -- aggregation -----------------------------------------------------------------------

    async def aggregation_position(self) -> int:
        return int(await self._read(partial(_named_position, name=AGGREGATION)))

    async def apply_aggregation(
        self, after: int, upto: int, increments: Mapping[CellKey, CellCounts]
    ) -> None:
        """Compare-and-set of the aggregation position with the cells (see aggregation.py)."""
        work = partial(_apply_aggregation, after=after, upto=upto, increments=dict(increments))
        await self._write(work)

    async def cells(self, weeks: Iterable[str]) -> dict[CellKey, CellCounts]:
        wanted = list(dict.fromkeys(weeks))
        if not wanted:
            return {}
        return await self._read(partial(_cells, weeks=wanted))

    # -- detections in the cells (semantics: cells.py) --------------------------------------

    async def read_fold(self, after: int, limit: int) -> list[FoldRow]:
        if limit <= 0:
            return []
        return await self._read(partial(_fold_rows, after=after, limit=limit))

    # -- reports and the outbox (semantics: outbox.py) --------------------------------------

    async def add_report(self, report: ReportRecord, *, push: bool) -> int:
        position = await self._write(partial(_add_report, params=_report_params(report), push=push))
        assert position is not None  # only a first-of-week report may be skipped
        return position

    async def add_first_report(self, report: ReportRecord, *, push: bool) -> int | None:
        params = _report_params(report)
        return await self._write(partial(_add_report, params=params, push=push, first=True))

    async def reports_after(self, partner: str, after: int, limit: int) -> list[StoredReport]:
        if limit <= 0:
            return []
        return await self._read(partial(_reports_after, params=(partner, after, limit)))

    async def report_of(self, partner: str, week: str) -> StoredReport | None:
        return await self._read(partial(_report_of, partner=partner, week=week))

    # -- frozen weeks (semantics: frozen.py) -------------------------------------------------

    async def frozen(self, weeks: Iterable[str]) -> Frozen:
        return await self._read(partial(_frozen, weeks=list(dict.fromkeys(weeks))))

    async def freeze_week(
        self, report_week: str, rows: Sequence[FrozenRow], *, generation: int
    ) -> bool:
        """One BEGIN IMMEDIATE transaction: exclusive against any other writer of the file."""
        check_rows(report_week, rows)
        work = partial(_freeze_week, week=report_week, rows=list(rows), generation=generation)
        return await self._write(work)

    async def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Delivery]:
        until = as_utc(now + check_lease(lease), "now")
        at = utc_text(now, "now")
        if limit <= 0:
            return []
        work = partial(_claim, owner=owner, now=at, until=until, limit=limit)
        return await self._write(work)

    async def delivery_succeeded(
        self,
        position: int,
        owner: str,  # noqa: ARG002
        kind: OutboxKind = OutboxKind.REPORT,
    ) -> None:
        """Mark delivered whoever holds the lease now (outbox.py): the partner has it."""
        at = utc_text(datetime.now(UTC), "delivered_at")
        await self._write(partial(_delivery_succeeded, kind=kind, position=position, at=at))

    async def delivery_failed(
        self,
        position: int,
        owner: str,
        next_attempt: datetime,
        error: str,
        kind: OutboxKind = OutboxKind.REPORT,
    ) -> None:
        params = (utc_text(next_attempt, "next_attempt"), bounded_error(error))
        work = partial(_delivery_failed, kind=kind, position=position, owner=owner, params=params)
        await self._write(work)

    async def outbox(self) -> list[Delivery]:
        return await self._read(_outbox)

    # -- responses to posts (semantics: decisions.py, outbox.py) -----------------------------

    async def responses_after(self, partner: str, after: int, limit: int) -> list[Response]:
        if limit <= 0:
            return []
        rows = await self._read(partial(_all, _SELECT_RESPONSES_AFTER, (partner, after, limit)))
        return [response_row(r) for r in rows]

    # -- decisions, answers, events (semantics: decisions.py) ---------------------------------

    async def read_feed(self, after: int, limit: int) -> list[JournalRow | EventRow]:
        if limit <= 0:
            return []
        return await self._read(partial(_feed_rows, after=after, limit=limit))

    async def read_events(self, after: int, limit: int) -> list[EventRow]:
        if limit <= 0:
            return []
        rows = await self._read(partial(_all, _READ_EVENTS, (after, limit)))
        return [event_row(r) for r in rows]

    async def decision_inputs(self, asks: Sequence[DecisionAsk]) -> list[DecisionInputs]:
        if not asks:
            return []
        return await self._read(partial(_decision_inputs, asks=list(asks)))

    async def item_decisions(self, partner: str, item_id: str) -> list[StoredDecision]:
        rows = await self._read(partial(_all, _ITEM_DECISIONS, (partner, item_id)))
        return [stored_decision(r) for r in rows]

    async def find_decision(self, consumer: str, decision_id: str) -> StoredDecision | None:
        rows = await self._read(partial(_all, _FIND_DECISION, (consumer, decision_id)))
        return stored_decision(rows[0]) if rows else None

    async def commit_decisions(self, commits: Sequence[DecisionCommit]) -> list[int | GatewayError]:
        if not commits:
            return []
        return await self._write(partial(_commit_decisions, commits=list(commits)))

    async def fold_position(self, name: str) -> int:
        return int(await self._read(partial(_named_position, name=name)))

    async def commit_answers(self, after: int, upto: int, answers: Sequence[AnswerCommit]) -> None:
        await self._write(partial(_commit_answers, after=after, upto=upto, answers=list(answers)))

    # -- arrivals and AED coverage (semantics: arrivals.py) -----------------------------------

    async def commit_arrivals(self, commits: Sequence[ArrivalCommit]) -> list[ArrivalResult]:
        """One BEGIN IMMEDIATE transaction: the journal cannot change while it decides."""
        if not commits:
            return []
        return await self._write(partial(_commit_arrivals, commits=list(commits)))

    async def arrival_coverage(
        self, week: str | None = None, partner: str | None = None
    ) -> list[Coverage]:
        return coverage_of(await self._read(partial(_arrival_rows, week=week, partner=partner)))

    async def _lookup(self, job: Job[T]) -> T:
        """A point lookup on the event loop's own connection; on a reader thread when the
        database is busy (that connection never waits for a lock)."""
        conn = self._inline
        if conn is None:
            raise StoreError(f"the SQLite store {self._path} is not open")
        try:
            return job(conn)
        except sqlite3.Error as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _BUSY:
                raise StoreError(f"SQLite store {self._path}: {exc}") from exc
        return await self._read(job)

    async def _read(self, job: Job[T]) -> T:
        if self._readers is None:
            raise StoreError(f"the SQLite store {self._path} is not open")
        return await self._translate(self._readers, job)

    async def _write(self, work: Job[T]) -> T:
        if self._writer is None:
            raise StoreError(f"the SQLite store {self._path} is not open")
        return await self._translate(self._writer, partial(_in_transaction, work=work))

    async def _translate(self, lane: _Lane, job: Job[T]) -> T:
        try:
            return await lane.run(job)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self._path}: {exc}") from exc

    def _connect(self, *, writer: bool, wait: bool = True) -> sqlite3.Connection:
        """A connection of this store; with `wait` False, one that never waits for a lock."""
        busy_timeout = self._busy_timeout if wait else 0.0
        conn = sqlite3.connect(
            self._path,
            timeout=busy_timeout,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE … COMMIT
            check_same_thread=False,  # a connection moves between its lane's threads, one at a time
            cached_statements=64,
        )
        try:
            _configure(conn, self._synchronous, int(busy_timeout * 1000), writer=writer)
        except BaseException:
            conn.close()
            raise
        return conn


class _Lane:
    """`size` threads sharing `size` connections: a job borrows a free one on a lane thread."""

    def __init__(self, name: str, size: int) -> None:
        self._size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._free: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened = 0

    async def start(self, connect: Callable[[], sqlite3.Connection]) -> None:
        for _ in range(self._size):
            self._free.put(await self._submit(connect))
            self._opened += 1

    async def run(self, job: Job[T]) -> T:
        return await self._submit(partial(self._borrow, job))

    async def stop(self) -> None:
        """Wait for submitted jobs, close every connection, let the threads end."""
        await self._submit(self._close_all)
        self._executor.shutdown(wait=False)

    def _borrow(self, job: Job[T]) -> T:
        conn = self._free.get()
        try:
            return job(conn)
        finally:
            self._free.put(conn)

    def _close_all(self) -> None:
        for _ in range(self._opened):
            self._free.get().close()
        self._opened = 0

    async def _submit(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)


async def _stop_all(*lanes: _Lane) -> None:
    for lane in lanes:
        await lane.stop()


def _configure(conn: sqlite3.Connection, synchronous: str, busy_ms: int, *, writer: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {busy_ms:d}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA synchronous = {synchronous}")  # checked against SYNCHRONOUS_MODES
    if writer:
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"WAL journal mode refused (got {mode!r})")
    else:
        conn.execute("PRAGMA query_only = ON")


def _in_transaction(conn: sqlite3.Connection, work: Job[T]) -> T:
    """Run `work` inside BEGIN IMMEDIATE … COMMIT; roll back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _in_relaxed_transaction(conn: sqlite3.Connection, work: Job[T], synchronous: str) -> T:
    """`_in_transaction` with `synchronous=NORMAL` for this one transaction (writer only)."""
    if synchronous not in _RELAXED_SYNCHRONOUS:
        return _in_transaction(conn, work)
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        return _in_transaction(conn, work)
    finally:
        conn.execute(f"PRAGMA synchronous = {synchronous}")  # checked against SYNCHRONOUS_MODES


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the pending migrations in order, in one transaction with their version rows."""
    _in_transaction(conn, _apply_pending)


def _apply_pending(conn: sqlite3.Connection) -> None:
    conn.execute(SCHEMA_VERSION_DDL)
    current = int(_scalar("SELECT coalesce(max(version), 0) FROM schema_version", (), conn))
    latest = SQLITE_MIGRATIONS[-1].version
    if current > latest:
        raise StoreError(f"the database is at schema version {current}, newer than {latest}")
    for migration in SQLITE_MIGRATIONS:
        if migration.version > current:
            _apply(conn, migration)


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    for statement in migration.statements:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.description, datetime.now(UTC).isoformat()),
    )


async def _write_group(writer: _Lane, batch: list[Commit[Row]]) -> list[Outcome]:
    """A group commit's batch in one transaction on the writer (GroupCommitter's `write`)."""
    work = [(commit.message, commit.entries) for commit in batch]
    return await writer.run(partial(_commit_batch, batch=work))


def _commit_batch(
    conn: sqlite3.Connection, batch: Sequence[tuple[MessageRecord, Sequence[Row]]]
) -> list[Outcome]:
    """Insert every message of `batch` in one transaction, each in its own savepoint.

    Returns one outcome per message, in order. Raises (and keeps nothing) when the transaction
    itself fails: BEGIN, COMMIT, or an error that made SQLite abandon the whole transaction.
    """
    outcomes: list[Outcome] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for message, rows in batch:
            outcomes.append(_insert_in_savepoint(conn, message, rows))
        # A batch where every message failed wrote nothing: no COMMIT, so no fsync.
        conn.execute("COMMIT" if any(isinstance(o, list) for o in outcomes) else "ROLLBACK")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _insert_in_savepoint(
    conn: sqlite3.Connection, message: MessageRecord, rows: Sequence[Row]
) -> Outcome:
    conn.execute("SAVEPOINT message")
    try:
        positions = _insert_message(conn, message, rows)
    except Exception as exc:
        if not conn.in_transaction:
            raise  # SQLite rolled back the whole transaction: the batch fails as one
        conn.execute("ROLLBACK TO message")  # also rewinds the AUTOINCREMENT sequence
        conn.execute("RELEASE message")
        if _journal_key_clash(exc) and clash_is_a_race(
            [r[0] for r in rows], [(r[1], r[3], r[4]) for r in rows]
        ):
            return ItemVersionTaken(str(exc))
        return exc
    conn.execute("RELEASE message")
    return positions


def _insert_message(
    conn: sqlite3.Connection, message: MessageRecord, rows: Sequence[Row]
) -> list[int]:
    _put_message(conn, message)
    if not rows:
        return []
    conn.executemany(_INSERT_ENTRY, rows)
    # Under the write lock AUTOINCREMENT hands out consecutive keys, so the batch is contiguous.
    last = int(_scalar("SELECT last_insert_rowid()", (), conn))
    return list(range(last - len(rows) + 1, last + 1))


class _LazyRows(Lazy[Row]):
    """The journal rows of entries given as a lazy sequence, made as `executemany` iterates
    them in the writer thread: a 40,000-item message is never held as rows."""

    def __init__(self, entries: Sequence[JournalEntry]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Row]:
        return map(_entry_params, self._entries)


def _journal_key_clash(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) and str(exc) in _JOURNAL_KEYS


def _ack(conn: sqlite3.Connection, consumer: str, position: int) -> None:
    current = _cursor(conn, consumer)
    last = int(_scalar(_LAST_POSITION, (), conn))
    if advance(consumer, current, position, last) != current:
        conn.execute(_UPSERT_CURSOR, (consumer, position))


def _insert_rejection(conn: sqlite3.Connection, params: tuple[Any, ...], bound: int) -> None:
    rejection_id = conn.execute(_INSERT_REJECTION, params).lastrowid
    assert rejection_id is not None
    every = prune_every(bound)
    if rejection_id % every == 0:
        # Keep bound - every + 1 rows: the next every - 1 inserts bring the count back to bound.
        conn.execute(_DELETE_REJECTIONS_UP_TO, (rejection_id - (bound - every + 1),))


def _prune_rejections(conn: sqlite3.Connection, keep: int) -> None:
    newest = int(_scalar("SELECT coalesce(max(id), 0) FROM rejections", (), conn))
    if newest > keep:
        conn.execute(_DELETE_REJECTIONS_UP_TO, (newest - keep,))


def _rejections(conn: sqlite3.Connection, limit: int) -> list[RejectionRecord]:
    return [
        RejectionRecord(datetime.fromisoformat(r[0]), r[1], int(r[2]), *r[3:])
        for r in conn.execute(_SELECT_REJECTIONS, (limit,))
    ]


def _cursor(conn: sqlite3.Connection, consumer: str) -> int:
    row = conn.execute(_SELECT_CURSOR, (consumer,)).fetchone()
    return 0 if row is None else int(row[0])


def _find_message(conn: sqlite3.Connection, partner: str, message_id: str) -> StoredMessage | None:
    row = conn.execute(_SELECT_MESSAGE, (partner, message_id)).fetchone()
    if row is None:
        return None
    return StoredMessage(row[0], row[1], row[2], int(row[3]), bytes(row[4]))


def _item_states(conn: sqlite3.Connection, partner: str, ids: list[str]) -> dict[str, ItemState]:
    states: dict[str, ItemState] = {}
    for start in range(0, len(ids), _IN_LIST_CHUNK):
        chunk = ids[start : start + _IN_LIST_CHUNK]
        # SQLite takes the bare column `function` from the row holding max(version).
        sql = (
            "SELECT item_id, max(version), function FROM journal "  # noqa: S608 (placeholders only)
            f"WHERE partner = ? AND item_id IN ({','.join('?' * len(chunk))}) GROUP BY item_id"
        )
        for item_id, version, function in conn.execute(sql, (partner, *chunk)):
            states[item_id] = ItemState(int(version), _FUNCTIONS[function])
    return states


def _rows(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> list[JournalRow]:
    return [_journal_row(row) for row in conn.execute(sql, params)]


def _records(after: int, limit: int, conn: sqlite3.Connection) -> list[RecordRow]:
    return [
        RecordRow(int(r[0]), r[1], r[2], _FUNCTIONS[r[3]], r[4])
        for r in conn.execute(_READ_RECORDS, (after, limit))
    ]


def _fold_rows(conn: sqlite3.Connection, after: int, limit: int) -> list[FoldRow]:
    return [
        RecordRow(int(r[0]), r[1], r[2], _FUNCTIONS[r[3]], r[4])
        if r[3] is not None
        else DecisionMark(int(r[0]), r[1], r[2], bool(r[5]))
        for r in conn.execute(_READ_FOLD, (after, after, limit))
    ]


def _scalar(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def _commit_feed(conn: sqlite3.Connection, message: MessageRecord, rows: list[Row]) -> None:
    _put_message(conn, message)
    conn.executemany(_INSERT_OBSERVATION, rows)


def _put_message(conn: sqlite3.Connection, message: MessageRecord) -> None:
    """Insert the message record; DuplicateMessage when its messageId is taken. A large
    receipt is written in pieces, never copied whole."""
    receipt = message.receipt
    large = len(receipt) >= _BLOB_PIECE
    params = _message_params(message)
    if large:
        params = (*params[:7], len(receipt), *params[8:])
    cursor = conn.execute(_INSERT_MESSAGE_ZEROBLOB if large else _INSERT_MESSAGE, params)
    if cursor.rowcount == 0:
        existing = _find_message(conn, message.partner, message.message_id)
        assert existing is not None  # the conflicting row is visible inside our write transaction
        raise DuplicateMessage(existing)
    if large:
        assert cursor.lastrowid is not None
        view = memoryview(receipt)
        with conn.blobopen("messages", "receipt", cursor.lastrowid) as blob:
            for start in range(0, len(view), _BLOB_PIECE):
                blob.write(view[start : start + _BLOB_PIECE])


def _observations(conn: sqlite3.Connection, weeks: list[str]) -> list[ObservationEntry]:
    found: list[tuple[int, ObservationEntry]] = []
    for start in range(0, len(weeks), _IN_LIST_CHUNK):
        chunk = weeks[start : start + _IN_LIST_CHUNK]
        sql = _OBSERVATION_COLUMNS + f"WHERE week IN ({','.join('?' * len(chunk))})"
        found.extend((int(r[0]), _observation(r)) for r in conn.execute(sql, chunk))
    return [entry for _, entry in sorted(found, key=lambda pair: pair[0])]


def _named_position(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(_SELECT_POSITION, (name,)).fetchone()
    return 0 if row is None else int(row[0])


def _apply_aggregation(
    conn: sqlite3.Connection, after: int, upto: int, increments: dict[CellKey, CellCounts]
) -> None:
    last = int(_scalar(_LAST_POSITION, (), conn))
    check_span(after, upto, has_increments=bool(increments), last_position=last)
    actual = _named_position(conn, AGGREGATION)
    if actual != after:
        raise AggregationMoved(after, actual)
    for key, increment in increments.items():
        k = _cell_key_params(key)
        row = conn.execute(_SELECT_CELL, k).fetchone()
        total = add(CellCounts() if row is None else _counts(row), increment)
        if total is None:
            if row is not None:
                conn.execute(_DELETE_CELL, k)
        else:
            conn.execute(_UPSERT_CELL, (*k, *_counts_params(total)))
    # The row exists since migration 3; the guard on `after` makes the move a compare-and-set.
    if conn.execute(_MOVE_POSITION, (upto, AGGREGATION, after)).rowcount != 1:
        raise AggregationMoved(after, _named_position(conn, AGGREGATION))


def _cells(conn: sqlite3.Connection, weeks: list[str]) -> dict[CellKey, CellCounts]:
    found: dict[CellKey, CellCounts] = {}
    for start in range(0, len(weeks), _IN_LIST_CHUNK):
        chunk = weeks[start : start + _IN_LIST_CHUNK]
        sql = _CELL_COLUMNS + f"WHERE week IN ({','.join('?' * len(chunk))})"
        for r in conn.execute(sql, chunk):
            found[CellKey(*r[:6])] = _counts(r[6:])
    return found


def _add_report(
    conn: sqlite3.Connection, params: tuple[Any, ...], *, push: bool, first: bool = False
) -> int | None:
    # BEGIN IMMEDIATE holds the write lock: the check and the insert are one step.
    if first and conn.execute(_WEEK_HAS_REPORT, (params[1], params[2])).fetchone():
        return None
    position = conn.execute(_INSERT_REPORT, params).lastrowid
    assert position is not None
    if push:
        conn.execute(_INSERT_OUTBOX, (position, params[3]))  # due at once: at created_at
    return int(position)


def _reports_after(conn: sqlite3.Connection, params: tuple[Any, ...]) -> list[StoredReport]:
    return [
        StoredReport(int(r[0]), _report(r[1:6]))
        for r in conn.execute(_SELECT_REPORTS_AFTER, params)
    ]


def _report_of(conn: sqlite3.Connection, partner: str, week: str) -> StoredReport | None:
    r = conn.execute(_REPORT_OF, (partner, week)).fetchone()
    return None if r is None else StoredReport(int(r[0]), _report(r[1:6]))


def _frozen(conn: sqlite3.Connection, weeks: list[str]) -> Frozen:
    # One read transaction: the weeks and the rows as of one commit (WAL snapshot).
    conn.execute("BEGIN")
    try:
        numbers = {week: int(number) for week, number in conn.execute(_FROZEN_WEEKS)}
        rows: list[FrozenRow] = []
        for start in range(0, len(weeks), _IN_LIST_CHUNK):
            chunk = weeks[start : start + _IN_LIST_CHUNK]
            sql = _FROZEN_COLUMNS + f"WHERE week IN ({','.join('?' * len(chunk))})"
            sql += " ORDER BY report_week, week, channel, origin_country, hs_chapter, category,"
            sql += " value_band"
            rows += [
                FrozenRow(r[0], CellKey(*r[1:7]), _counts(r[7:])) for r in conn.execute(sql, chunk)
            ]
    finally:
        conn.execute("COMMIT")
    return Frozen(numbers, tuple(rows))


def _freeze_week(
    conn: sqlite3.Connection, week: str, rows: list[FrozenRow], generation: int
) -> bool:
    # BEGIN IMMEDIATE holds the write lock: the checks and the inserts are one step.
    if conn.execute(_WEEK_IS_FROZEN, (week,)).fetchone():
        return False
    actual = int(_scalar("SELECT count(*) FROM frozen_weeks", (), conn))
    if actual != generation:
        raise FreezeMoved(week, generation, actual)
    conn.execute(_FREEZE_WEEK, (week, generation + 1))
    conn.executemany(
        _FREEZE_CELL,
        [(week, *_cell_key_params(r.key), *_counts_params(r.counts)) for r in rows],
    )
    return True


def _claim(
    conn: sqlite3.Connection, owner: str, now: str, until: datetime, limit: int
) -> list[Delivery]:
    due = conn.execute(_SELECT_DUE, (now, now, owner, limit)).fetchall()
    lease_until = utc_text(until, "lease_until")
    conn.executemany(_LEASE, [(owner, lease_until, r[0]) for r in due])
    return [Delivery(int(r[2]), _delivery_item(r), int(r[16]), owner, until) for r in due]


def _delivery_item(r: Row) -> ReportRecord | Response:
    """What a `_DELIVERY_COLUMNS` row pushes."""
    return _report(r[3:8]) if r[1] == OutboxKind.REPORT.value else response_row(r[8:16])


def _outbox_row(conn: sqlite3.Connection, kind: OutboxKind, position: int) -> Row:
    row = conn.execute(_SELECT_OUTBOX_ROW[kind], (position,)).fetchone()
    if row is None:
        raise NotInOutbox(position, kind.value)
    return tuple(row)


def _delivery_succeeded(conn: sqlite3.Connection, kind: OutboxKind, position: int, at: str) -> None:
    row_id, _, delivered_at = _outbox_row(conn, kind, position)
    if delivered_at is None:  # a row already delivered keeps its first delivery
        conn.execute(_DELIVERED, (at, row_id))


def _delivery_failed(
    conn: sqlite3.Connection, kind: OutboxKind, position: int, owner: str, params: Row
) -> None:
    row_id, lease_owner, delivered_at = _outbox_row(conn, kind, position)
    if delivered_at is None and lease_owner == owner:  # else: late, and no longer ours
        conn.execute(_FAILED, (*params, row_id))


def _outbox(conn: sqlite3.Connection) -> list[Delivery]:
    return [
        Delivery(
            int(r[2]), _delivery_item(r), int(r[16]), r[17] or "",
            from_utc_text(r[18] if r[17] is not None and r[18] is not None else r[19]),
        )
        for r in conn.execute(_DELIVERY_COLUMNS + "ORDER BY o.id")
    ]  # fmt: skip


def _observation_params(o: ObservationEntry, feed_id: str) -> tuple[Any, ...]:
    value = None if o.declared_value_usd is None else str(o.declared_value_usd)
    return (
        o.observation_id, o.partner, feed_id, o.reporter, o.week, o.channel, o.origin_country,
        o.hs_chapter, o.category, o.value_band, o.items, value, o.de_minimis_items,
        o.detections, o.record,
    )  # fmt: skip


def _observation(r: tuple[Any, ...]) -> ObservationEntry:
    return ObservationEntry(
        r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], int(r[10]),
        None if r[11] is None else Decimal(r[11]), int(r[12]), int(r[13]), bytes(r[14]),
    )  # fmt: skip


def _cell_key_params(k: CellKey) -> tuple[str, ...]:
    return (k.week, k.channel, k.origin_country, k.hs_chapter, k.category, k.value_band)


def _counts_params(c: CellCounts) -> tuple[Any, ...]:
    return (
        c.items, str(c.declared_value_usd), c.de_minimis_items, c.pre_suspension_items,
        c.detections, c.rate_missing,
    )  # fmt: skip


def _counts(r: tuple[Any, ...]) -> CellCounts:
    return CellCounts(int(r[0]), Decimal(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]))


def _report_params(r: ReportRecord) -> tuple[Any, ...]:
    return (r.report_id, r.partner, r.week, utc_text(r.created_at, "created_at"), r.envelope)


def _report(r: tuple[Any, ...]) -> ReportRecord:
    return ReportRecord(r[0], r[1], r[2], from_utc_text(r[3]), bytes(r[4]))


def _message_params(m: MessageRecord) -> tuple[Any, ...]:
    return (
        m.partner, m.message_id, m.content_digest, m.receipt_id, m.received_at.isoformat(),
        m.status, m.http_status, m.receipt, int(m.test),
    )  # fmt: skip


def _rejection_params(r: RejectionRecord) -> tuple[Any, ...]:
    return (
        r.at.isoformat(), r.route, r.http_status, r.reason, r.detail, r.partner, r.keyid,
        r.message_id, r.content_digest, r.peer,
    )  # fmt: skip


def _entry_params(e: JournalEntry) -> tuple[Any, ...]:
    return (
        e.record_id, e.partner, e.message_id, e.item_id, e.version, e.function.value, e.category,
        encode_codes(e.hs_chapters), encode_codes(e.origin_countries), str(e.value_amount),
        e.value_currency, e.envelope,
    )  # fmt: skip


def _journal_row(r: tuple[Any, ...]) -> JournalRow:
    entry = JournalEntry(
        r[1], r[2], r[3], r[4], r[5], _FUNCTIONS[r[6]], r[7],
        decode_codes(r[8]), decode_codes(r[9]), Decimal(r[10]), r[11], r[12],
    )  # fmt: skip
    return JournalRow(r[0], entry)


def _all(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> list[Row]:
    return conn.execute(sql, params).fetchall()


def _feed_rows(conn: sqlite3.Connection, after: int, limit: int) -> list[JournalRow | EventRow]:
    # One statement: one snapshot of both tables (see decisions.py).
    return [feed_row(r) for r in conn.execute(_READ_FEED, (after, after, limit))]


def _decision_inputs(conn: sqlite3.Connection, asks: list[DecisionAsk]) -> list[DecisionInputs]:
    """Every ask's inputs in one read transaction (one snapshot), a few set queries for all."""
    conn.execute("BEGIN")
    try:
        items = list(dict.fromkeys(ask.item_id for ask in asks))
        versions: dict[str, list[JournalEntry]] = {}
        for r in _in_list(conn, VERSION_SELECT + "WHERE item_id IN ({}) ORDER BY position", items):
            versions.setdefault(r[3], []).append(version_entry(r))
        decisions: dict[tuple[str, str], list[StoredDecision]] = {}
        for r in _in_list(conn, DECISION_SELECT + "WHERE item_id IN ({}) ORDER BY position", items):
            decisions.setdefault((r[3], r[4]), []).append(stored_decision(r))
        existing: dict[tuple[str, str], StoredDecision] = {}
        ids = [(ask.consumer, ask.decision_id) for ask in asks]
        sql = DECISION_SELECT + "WHERE consumer = ? AND decision_id IN ({})"
        for r in _by_consumer(conn, sql, ids):
            existing[r[1], r[2]] = stored_decision(r)
        found = []
        for ask in asks:
            mine = tuple(
                v
                for v in versions.get(ask.item_id, ())
                if not ask.partner or v.partner == ask.partner
            )
            partner = only_partner(mine)
            history = tuple(decisions.get((partner, ask.item_id), ())) if partner else ()
            found.append(
                DecisionInputs(existing.get((ask.consumer, ask.decision_id)), mine, history)
            )
        return found
    finally:
        conn.execute("COMMIT")


def _by_consumer(conn: sqlite3.Connection, sql: str, ids: list[tuple[str, str]]) -> Iterator[Row]:
    """`sql` (`consumer = ?` first, then an IN list of decision ids) for each consumer of
    `ids` ((consumer, decision id) pairs): the UNIQUE (consumer, decision_id) index's probes."""
    by_consumer: dict[str, list[str]] = {}
    for consumer, decision_id in ids:
        by_consumer.setdefault(consumer, []).append(decision_id)
    for consumer, decision_ids in by_consumer.items():
        yield from _in_list(conn, sql, list(dict.fromkeys(decision_ids)), consumer)


def _in_list(conn: sqlite3.Connection, sql: str, values: list[str], *before: str) -> Iterator[Row]:
    """`sql` (one `{}` for the placeholders of an IN list) over `values`, chunk by chunk."""
    for start in range(0, len(values), _IN_LIST_CHUNK):
        chunk = values[start : start + _IN_LIST_CHUNK]
        yield from conn.execute(sql.format(",".join("?" * len(chunk))), (*before, *chunk))


def _next_event_position(conn: sqlite3.Connection) -> int:
    """The journal's next position (on the writer, in its transaction); `_take_positions`
    marks it taken."""
    row = conn.execute(_JOURNAL_SEQUENCE).fetchone()
    last = int(_scalar(_LAST_POSITION, (), conn))
    return max(last, 0 if row is None else int(row[0])) + 1


def _take_positions(conn: sqlite3.Connection, upto: int) -> None:
    """Raise the journal's sequence to `upto`: its next AUTOINCREMENT value is above it."""
    exists = conn.execute(_JOURNAL_SEQUENCE).fetchone() is not None
    conn.execute(_RAISE_SEQUENCE if exists else _START_SEQUENCE, (upto,))


def _insert_event(conn: sqlite3.Connection, event: EventEntry) -> int:
    position = _next_event_position(conn)
    conn.execute(_INSERT_EVENT, event_params(position, event))
    _take_positions(conn, position)
    return position


def _commit_decisions(
    conn: sqlite3.Connection, commits: list[DecisionCommit]
) -> list[int | GatewayError]:
    """Each commit checked against the store (read by a few set queries for the batch) and the
    commits before it in the batch; the accepted ones inserted together, at consecutive
    positions."""
    items = list(dict.fromkeys(c.decision.item_id for c in commits))
    latest: dict[tuple[str, str], int] = {}
    for partner, item_id, version in _in_list(conn, _LATEST_VERSIONS, items):
        latest[partner, item_id] = int(version)
    last: dict[tuple[str, str], int] = {}  # (partner, item) -> its last decision
    for partner, item_id, position in _in_list(conn, _LAST_DECISIONS, items):
        last[partner, item_id] = int(position)
    taken = {
        (consumer, decision_id)
        for consumer, decision_id in _by_consumer(
            conn, _TAKEN, [(c.decision.consumer, c.decision.decision_id) for c in commits]
        )
    }
    outcomes: list[int | GatewayError] = []
    position = _next_event_position(conn)
    events: list[Row] = []
    decisions: list[Row] = []
    pushes: list[Row] = []  # the posts' responses, due at once: in the decisions' transaction
    for commit in commits:
        d = commit.decision
        item = (d.partner, d.item_id)
        version = latest.get(item)
        if version is not None and version != d.version:
            outcomes.append(StaleVersion(d.item_id, d.version, version))
            continue
        key = (d.consumer, d.decision_id)
        if key in taken:
            outcomes.append(DecisionTaken(d.consumer, d.decision_id))
            continue
        if last.get(item, 0) != commit.after:
            outcomes.append(DecisionMoved(d.item_id))
            continue
        events.append(event_params(position, commit.event))
        decisions.append(params := decision_params(position, commit, text_times=True))
        if commit.push:
            pushes.append((position, params[-1]))
        taken.add(key)
        last[item] = position
        outcomes.append(position)
        position += 1
    if events:
        conn.executemany(_INSERT_EVENT, events)
        conn.executemany(_INSERT_DECISION, decisions)
        conn.executemany(_INSERT_RESPONSE_OUTBOX, pushes)
        _take_positions(conn, position - 1)
    return outcomes


def _commit_answers(
    conn: sqlite3.Connection, after: int, upto: int, answers: list[AnswerCommit]
) -> None:
    actual = _named_position(conn, ANSWERS)
    if actual != after:
        raise AggregationMoved(after, actual)
    for answer in answers:
        if conn.execute(_ANSWER, (answer.amendment_record_id, answer.request_position)).rowcount:
            _insert_event(conn, answer.event)
    conn.execute(_MOVE_POSITION, (upto, ANSWERS, after))


# -- arrivals and AED coverage (semantics: arrivals.py) ---------------------------------------

_FIND_ARRIVAL = "SELECT lead_ms, no_aed FROM arrivals WHERE item_id = ? AND arrived_at = ?"
# The item's first accepted version: its lowest journal position, of any partner.
_FIRST_AED = """
SELECT m.received_at FROM journal AS j
JOIN messages AS m ON m.partner = j.partner AND m.message_id = j.message_id
WHERE j.item_id = ? ORDER BY j.position LIMIT 1
"""
_INSERT_ARRIVAL = """
INSERT INTO arrivals (item_id, arrived_at, office, reported_by, week, partner, origin_country,
                      aed_at, lead_ms, no_aed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_COVERAGE = f"SELECT {COVERAGE_COLUMNS} FROM arrivals"  # noqa: S608 (constants)


def _commit_arrivals(conn: sqlite3.Connection, commits: list[ArrivalCommit]) -> list[ArrivalResult]:
    # BEGIN IMMEDIATE holds the write lock: no journal row lands between a read and a write.
    results: list[ArrivalResult] = []
    for commit in commits:
        arrived_at = utc_text(commit.arrived_at, "arrived_at")
        row = conn.execute(_FIND_ARRIVAL, (commit.item_id, arrived_at)).fetchone()
        if row is not None:
            results.append(stored_result(commit.item_id, row))
            continue
        first = conn.execute(_FIRST_AED, (commit.item_id,)).fetchone()
        aed_at = None if first is None else from_utc_text(first[0])
        result = new_result(commit, aed_at)
        if not result.with_aed:
            result = replace(result, position=_insert_event(conn, commit.event))
        stored_aed = None if aed_at is None else utc_text(aed_at, "aed_at")
        conn.execute(
            _INSERT_ARRIVAL,
            arrival_params(commit, result, arrived_at=arrived_at, aed_at=stored_aed),
        )
        results.append(result)
    return results


def _arrival_rows(
    conn: sqlite3.Connection, week: str | None, partner: str | None
) -> list[ArrivalRow]:
    given = [(c, v) for c, v in (("week", week), ("partner", partner)) if v is not None]
    sql = _COVERAGE
    if given:
        sql += " WHERE " + " AND ".join(f"{column} = ?" for column, _ in given)
    return [coverage_row(r) for r in conn.execute(sql, tuple(v for _, v in given))]
