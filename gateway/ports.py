"""Ports: the Protocols the core depends on. Adapters implement them; tests use fakes. The values
crossing them are domain records (gateway.domain.journal, .cells, .reports, .bodies).

The store is split into roles, one per subject; a service declares only the roles it uses (a
Protocol inheriting two roles where it needs both), and `Store` is every role at once, which
each backend implements:

    StoreLifecycle    open, close, ping
    MessageStore      find_message: messages and feeds as received (idempotent replay)
    JournalStore      commit_message, item_states, read_journal, read_records, read_feed,
                      read_events, last_position, item_history, watch_journal
    DecisionStore     find_decision, item_decisions, decision_inputs, commit_decisions,
                      fold_position, commit_answers (gateway/adapters/store/decisions.py)
    ArrivalStore      commit_arrivals, arrival_coverage: arrivals, NO_AED events, AED coverage
                      (gateway/adapters/store/arrivals.py)
    ResponseStore     responses_after: the posts' responses to decisions on their items
    CursorStore       get_cursor, ack: the consumers' cursors over the journal
    RejectionStore    record_rejection, rejections
    ObservationStore  commit_feed, observations: the partners' B5 feeds
    CellStore         aggregation_position, apply_aggregation, cells, read_fold
                      (gateway/adapters/store/cells.py)
    ReportStore       add_report, add_first_report, reports_after, report_of, frozen, freeze_week
                      (gateway/adapters/store/frozen.py)
    OutboxStore       claim_deliveries, delivery_succeeded, delivery_failed, outbox: pushes of
                      reports and responses (gateway/adapters/store/outbox.py)

The store contract is written so that SQLite (embedded default) and PostgreSQL (replicas sharing
one journal) can both honour it:

- `commit_message` is ONE transaction holding the message record, its receipt and every accepted
  item; it returns only after the commit is durable. A second message with the same
  (partner, message_id) raises `DuplicateMessage` carrying the stored one; nothing is written.
- Journal positions are strictly increasing integers in commit order; a reader that has seen
  position P never later finds a new record below P.
- Consumer cursors only move forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from gateway.domain.arrivals import ArrivalCommit, ArrivalResult, Coverage
from gateway.domain.cells import CellCounts, CellKey, Frozen, FrozenRow, ObservationEntry
from gateway.domain.decisions import (
    AnswerCommit,
    DecisionAsk,
    DecisionCommit,
    DecisionInputs,
    EventRow,
    StoredDecision,
)
from gateway.domain.journal import (
    FoldRow,
    ItemState,
    JournalEntry,
    JournalRow,
    MessageRecord,
    RecordRow,
    RejectionRecord,
    StoredMessage,
)
from gateway.domain.reports import Delivery, OutboxKind, ReportRecord, StoredReport
from gateway.domain.responses import Response
from gateway.errors import GatewayError


class StoreLifecycle(Protocol):
    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store cannot be reached."""


class MessageStore(Protocol):
    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        """The message (or B5 feed) stored as (partner, message_id), None if none."""


class JournalStore(Protocol):
    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """From now until `close()`, call `on_commit(position)` when ANOTHER process sharing the
        store commits journal rows (a hint for promptness; readers re-read the store). A store
        only this process writes has nothing to report and returns at once."""

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        """Store message, receipt and entries in one durable transaction; return the positions."""

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        """The latest accepted version of each of these items from this partner."""

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        """Rows with position > after, in position order, at most `limit`."""

    async def read_records(self, after: int, limit: int) -> list[RecordRow]:
        """`read_journal`'s rows, reduced to what the share aggregation folds."""

    async def read_feed(self, after: int, limit: int) -> list[JournalRow | EventRow]:
        """Journal rows and events (decisions, answers, NO_AED) with position > after, in one
        position order, at most `limit`: what the feed streams."""

    async def read_events(self, after: int, limit: int) -> list[EventRow]:
        """Events only, position > after, in position order, at most `limit`."""

    async def last_position(self) -> int:
        """The highest position of a journal row or event (0 when there is none)."""

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        """Every journaled version of an item, oldest first."""


class DecisionStore(Protocol):
    """Decisions on items and the answers to requests (semantics:
    gateway/adapters/store/decisions.py)."""

    async def find_decision(self, consumer: str, decision_id: str) -> StoredDecision | None:
        """The consumer's decision stored under `decision_id`, None if none."""

    async def item_decisions(self, partner: str, item_id: str) -> list[StoredDecision]:
        """Every accepted decision on the item, oldest first."""

    async def decision_inputs(self, asks: Sequence[DecisionAsk]) -> list[DecisionInputs]:
        """For each ask, as of one moment: the consumer's decision under that id, the item's
        versions (of `partner` when given; envelopes left out) and, when they are one post's,
        the item's decisions."""

    async def commit_decisions(self, commits: Sequence[DecisionCommit]) -> list[int | GatewayError]:
        """Store each decision with its event (and, with `push`, its response's outbox row) in
        one transaction; per commit its position or the error that refused it (StaleVersion,
        DecisionMoved, DecisionTaken)."""

    async def fold_position(self, name: str) -> int:
        """A named fold position ('answers'; 0 before any fold)."""

    async def commit_answers(self, after: int, upto: int, answers: Sequence[AnswerCommit]) -> None:
        """Mark the answered requests, write their ANSWER events and move the 'answers'
        position from `after` to `upto`, in one transaction (AggregationMoved if it moved)."""


class ArrivalStore(Protocol):
    """Arrivals at the office of exchange and the AED coverage they measure (semantics:
    gateway/adapters/store/arrivals.py)."""

    async def commit_arrivals(self, commits: Sequence[ArrivalCommit]) -> list[ArrivalResult]:
        """Store the arrivals, deciding each one's AED against the journal, and the NO_AED
        events of those without, in one transaction; per commit its outcome, in order (an
        arrival stored already is replayed)."""

    async def arrival_coverage(
        self, week: str | None = None, partner: str | None = None
    ) -> list[Coverage]:
        """Coverage per (week, partner, origin country) of the stored arrivals, of `week` and
        `partner` when given; ordered by week, partner, country."""


class ResponseStore(Protocol):
    """What posts hear of the decisions on their items (docs/responses.md)."""

    async def responses_after(self, partner: str, after: int, limit: int) -> list[Response]:
        """The post's responses (one per decision on its items) with position > after, oldest
        first, at most `limit`: only what a post may receive, never a note, a detection or
        the deciding consumer."""


class CursorStore(Protocol):
    async def get_cursor(self, consumer: str) -> int:
        """The consumer's last acknowledged position (0 when it never acknowledged)."""

    async def ack(self, consumer: str, position: int) -> None:
        """Move the consumer's cursor forward to `position` (never backward); AckBeyondJournal
        when the journal does not hold `position` yet."""


class RejectionStore(Protocol):
    async def record_rejection(self, rejection: RejectionRecord) -> None:
        """Keep a refused request's record; the oldest are pruned beyond a bounded count."""

    async def rejections(self, limit: int = 100) -> list[RejectionRecord]:
        """The most recent rejection records, newest first."""


class ObservationStore(Protocol):
    """B5 feeds."""

    async def commit_feed(
        self, message: MessageRecord, observations: Sequence[ObservationEntry]
    ) -> None:
        """Store a feed's message record (message_id = the feed's id) and its observations in
        one durable transaction; DuplicateMessage as for commit_message."""

    async def observations(self, weeks: Iterable[str]) -> list[ObservationEntry]:
        """Every stored observation of these ISO weeks, in storage order."""


class CellStore(Protocol):
    """The aggregation of the gateway's own items (semantics: gateway/adapters/store/cells.py)."""

    async def aggregation_position(self) -> int:
        """The journal position the cells include (0 before any aggregation)."""

    async def apply_aggregation(
        self, after: int, upto: int, increments: Mapping[CellKey, CellCounts]
    ) -> None:
        """Add `increments` to the cells and move the aggregation position from `after` to
        `upto`, in one transaction. Raises AggregationMoved (a StoreError: retriable) if the
        position is not `after` (another worker got there first): nothing is applied twice."""

    async def cells(self, weeks: Iterable[str]) -> dict[CellKey, CellCounts]:
        """Current counts of every cell of these weeks."""

    # -- detections in the cells --

    async def read_fold(self, after: int, limit: int) -> list[FoldRow]:
        """Journal records and decisions with position > after, in one position order, at most
        `limit`, in one snapshot: what the aggregation folds (records into their cells,
        decisions into their items' detections)."""


class ReportStore(Protocol):
    """Share reports, and the weeks they froze (semantics: gateway/adapters/store/frozen.py)."""

    async def add_report(self, report: ReportRecord, *, push: bool) -> int:
        """Store a report (and, when `push`, its outbox row) in one transaction; its position."""

    async def add_first_report(self, report: ReportRecord, *, push: bool) -> int | None:
        """`add_report`, unless the partner already has a report of that week: then nothing is
        stored and None returned. The check and the insert are one step, so of replicas
        building a week's reports at once, exactly one stores each partner's. The share
        service stores reports only this way: a published week is frozen."""

    async def reports_after(self, partner: str, after: int, limit: int) -> list[StoredReport]:
        """The partner's reports with position > after, oldest first."""

    async def report_of(self, partner: str, week: str) -> StoredReport | None:
        """The partner's first report of `week` (the one a frozen week keeps), None if none."""

    async def frozen(self, weeks: Iterable[str]) -> Frozen:
        """Every frozen report week with its freeze number, and the frozen rows whose cell
        week is one of `weeks` (of any report week), as of one moment."""

    async def freeze_week(
        self, report_week: str, rows: Sequence[FrozenRow], *, generation: int
    ) -> bool:
        """Freeze `report_week` with `rows` (its own snapshot and the late changes it reports),
        in one transaction, first writer wins: False (nothing written) when the week is frozen
        already; FreezeMoved (a StoreError: re-read and retry) when the store's generation is
        not `generation` (another week was frozen since the caller read); else True."""


class OutboxStore(Protocol):
    """The push outbox of share reports and of responses to posts (semantics:
    gateway/adapters/store/outbox.py). A row is named by its kind and the position of what it
    pushes (the report's, or the response's decision's)."""

    async def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Delivery]:
        """Claim due outbox rows (next attempt <= now, no live lease of another owner) until
        now + lease. Two owners never hold the same row at once; an expired lease is taken over."""

    async def delivery_succeeded(
        self, position: int, owner: str, kind: OutboxKind = OutboxKind.REPORT
    ) -> None:
        """The partner confirmed: the row leaves the outbox (kept as delivered). NotInOutbox
        when the position has no outbox row of that kind."""

    async def delivery_failed(
        self,
        position: int,
        owner: str,
        next_attempt: datetime,
        error: str,
        kind: OutboxKind = OutboxKind.REPORT,
    ) -> None:
        """Count the attempt, release the lease, retry at `next_attempt`. NotInOutbox when the
        position has no outbox row of that kind."""

    async def outbox(self) -> list[Delivery]:
        """Rows not yet delivered, reports and responses, in claim order (for operators:
        `gateway share list`)."""


class Store(
    StoreLifecycle,
    MessageStore,
    JournalStore,
    DecisionStore,
    ArrivalStore,
    ResponseStore,
    CursorStore,
    RejectionStore,
    ObservationStore,
    CellStore,
    ReportStore,
    OutboxStore,
    Protocol,
):
    """The whole store contract: every role. Backends implement it; services take roles."""


class Signer(Protocol):
    """Signs DSSE envelopes with the gateway's active key."""

    @property
    def keyid(self) -> str: ...

    def sign(self, payload_type: str, payload: bytes) -> bytes:
        """Return a serialized aedgw.v1.SignedEnvelope over PAE(payload_type, payload)."""

    def sign_batch(self, items: Sequence[tuple[str, bytes]]) -> list[bytes]:
        """Serialized aedgw.v1.SignedEnvelopes, one per (payload_type, payload) in order, under
        ONE signature over the Merkle root of their leaves, each with its inclusion proof
        (the Merkle form of gateway.adapters.crypto.dsse)."""

    def leaf(self, payload_type: str, payload: bytes) -> bytes:
        """A record's Merkle leaf hash."""

    def seal_root(self, leaves: Sequence[bytes]) -> RootSeal:
        """`sign_batch` in two steps: sign the root over these leaf hashes now, make each
        record's envelope later (RootSeal.envelope), one at a time."""


class RootSeal(Protocol):
    def envelope(self, index: int, payload_type: str, payload: bytes) -> bytes:
        """The serialized envelope of leaf `index` of the sealed tree, given its record."""


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
