"""Ports: the Protocols the core depends on. Adapters implement them; tests use fakes.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from gateway.domain.messages import ItemFunction


@dataclass(frozen=True, slots=True)
class SpooledBody:
    """A request body too large to hold in memory, written to a file as it arrived: the file,
    its size and its SHA-256 (computed while it was written). The edge owns the file and
    deletes it once the request is answered."""

    path: Path
    size: int
    sha256: bytes

    def __len__(self) -> int:
        return self.size


#: A request body: its bytes, or (large) its file.
Body = bytes | SpooledBody


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One accepted, signed canonical record, with the attributes routing rules select on."""

    record_id: str  # the declaration id: stable for (partner, item_id, version)
    partner: str
    message_id: str
    item_id: str
    version: int
    function: ItemFunction
    category: str
    hs_chapters: tuple[str, ...]  # 2-digit chapters of the pieces' HS codes
    origin_countries: tuple[str, ...]  # sender's country and pieces' origin countries
    value_amount: Decimal  # totalValue
    value_currency: str
    envelope: bytes  # serialized aedgw.v1.SignedEnvelope

    def with_envelope(self, envelope: bytes) -> JournalEntry:
        """This entry with `envelope` (as dataclasses.replace, in a quarter of its time)."""
        return JournalEntry(
            self.record_id, self.partner, self.message_id, self.item_id, self.version,
            self.function, self.category, self.hs_chapters, self.origin_countries,
            self.value_amount, self.value_currency, envelope,
        )  # fmt: skip

    def __reduce__(self) -> tuple[type[JournalEntry], tuple[Any, ...]]:
        # Entries cross the CPU workers' pipe by the hundred: rebuilt by the constructor, they
        # unpickle twice as fast as through dataclasses' generic state of a slots class.
        return JournalEntry, tuple(getattr(self, name) for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class JournalRow:
    position: int
    entry: JournalEntry


@dataclass(frozen=True, slots=True)
class RecordRow:
    """What folding a journal row into the share cells needs of it (Store.read_records): a
    fifth of a JournalRow's columns, and none of its decoding."""

    position: int
    partner: str
    item_id: str
    function: ItemFunction
    envelope: bytes


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """The message as received and answered: stored with its items in one transaction."""

    partner: str
    message_id: str
    content_digest: str  # RFC 9530 form, "sha-256=:…:"
    receipt_id: str
    received_at: datetime
    status: str  # ACCEPTED | PARTIALLY_ACCEPTED | REJECTED
    http_status: int  # 202 or 422
    receipt: bytes  # the exact receipt body sent (JSON)
    test: bool = False


@dataclass(frozen=True, slots=True)
class StoredMessage:
    partner: str
    message_id: str
    content_digest: str
    http_status: int
    receipt: bytes


@dataclass(frozen=True, slots=True)
class ItemState:
    """The latest accepted version of an item from one partner."""

    version: int
    function: ItemFunction


@dataclass(frozen=True, slots=True)
class RejectionRecord:
    """A refused request, kept for operators: who (when known), what and why. Never the body."""

    at: datetime
    route: str  # e.g. "/v1/aed/itmatt"
    http_status: int  # 400, 401, 403, 409, 413, 415, …
    reason: str  # problem type slug, or the signature failure reason ("stale", "replayed", …)
    detail: str
    partner: str | None = None  # None when authentication failed before a partner was known
    keyid: str | None = None
    message_id: str | None = None
    content_digest: str | None = None
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class ObservationEntry:
    """One accepted B5 feed row as a canonical trend observation, with its cell attributes."""

    observation_id: str  # stable for (partner, feed digest, row)
    partner: str
    reporter: str  # ISO country of the counting agency
    week: str  # ISO week "2026-W47"
    channel: str
    origin_country: str
    hs_chapter: str
    category: str
    value_band: str
    items: int
    declared_value_usd: Decimal | None  # None when no rate covered the period
    de_minimis_items: int
    detections: int
    record: bytes  # serialized aedgw.v1.TrendObservation


@dataclass(frozen=True, slots=True)
class CellKey:
    """One aggregation cell of the gateway's own accepted items."""

    week: str
    channel: str
    origin_country: str
    hs_chapter: str
    category: str
    value_band: str  # "" when the item's USD value is unknown (rate missing)


@dataclass(frozen=True, slots=True)
class CellCounts:
    """Additive counts of a cell; increments may be negative (amendments, cancellations)."""

    items: int = 0
    declared_value_usd: Decimal = Decimal(0)
    de_minimis_items: int = 0
    pre_suspension_items: int = 0  # would have qualified under the last rule before a suspension
    detections: int = 0
    rate_missing: int = 0

    def __add__(self, other: CellCounts) -> CellCounts:
        return CellCounts(
            self.items + other.items,
            self.declared_value_usd + other.declared_value_usd,
            self.de_minimis_items + other.de_minimis_items,
            self.pre_suspension_items + other.pre_suspension_items,
            self.detections + other.detections,
            self.rate_missing + other.rate_missing,
        )

    def __sub__(self, other: CellCounts) -> CellCounts:
        return CellCounts(
            self.items - other.items,
            self.declared_value_usd - other.declared_value_usd,
            self.de_minimis_items - other.de_minimis_items,
            self.pre_suspension_items - other.pre_suspension_items,
            self.detections - other.detections,
            self.rate_missing - other.rate_missing,
        )


@dataclass(frozen=True, slots=True)
class FrozenRow:
    """A cell as one share report week froze it (Store.freeze_week).

    `key.week == report_week`: a cell of the report week's own snapshot, as it was folded when
    the week's first report was built. `key.week < report_week`: a late change of an earlier,
    already reported week, published in the late arrivals of `report_week`'s reports; its
    counts and value may be negative (amendments, cancellations).
    """

    report_week: str
    key: CellKey
    counts: CellCounts


@dataclass(frozen=True, slots=True)
class Frozen:
    """What the share reports froze, read in one consistent step (Store.frozen).

    `numbers`: EVERY frozen report week with its freeze number (1, 2, 3 … in the order the
    weeks were frozen); `rows`: the frozen rows whose cell week was asked for, of any report
    week. `generation` (the number of weeks frozen) is `freeze_week`'s compare-and-set token.
    """

    numbers: Mapping[str, int]
    rows: tuple[FrozenRow, ...]

    @property
    def generation(self) -> int:
        return len(self.numbers)


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A signed share report for one customs partner and ISO week (DSSE JSON envelope bytes)."""

    report_id: str
    partner: str
    week: str
    created_at: datetime
    envelope: bytes


@dataclass(frozen=True, slots=True)
class StoredReport:
    position: int  # the pull cursor: strictly increasing over all reports
    report: ReportRecord


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row: push `report` to its partner, then confirm or fail it."""

    position: int
    report: ReportRecord
    attempts: int  # deliveries tried before this claim
    owner: str  # who holds the claim (lease) until `lease_until`
    lease_until: datetime


class Store(Protocol):
    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store cannot be reached."""

    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """From now until `close()`, call `on_commit(position)` when ANOTHER process sharing the
        store commits journal rows (a hint for promptness; readers re-read the store). A store
        only this process writes has nothing to report and returns at once."""

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None: ...

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

    async def last_position(self) -> int: ...

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        """Every journaled version of an item, oldest first."""

    async def get_cursor(self, consumer: str) -> int:
        """The consumer's last acknowledged position (0 when it never acknowledged)."""

    async def ack(self, consumer: str, position: int) -> None:
        """Move the consumer's cursor forward to `position` (never backward)."""

    async def record_rejection(self, rejection: RejectionRecord) -> None:
        """Keep a refused request's record; the oldest are pruned beyond a bounded count."""

    async def rejections(self, limit: int = 100) -> list[RejectionRecord]:
        """The most recent rejection records, newest first."""

    # -- B5 feeds --------------------------------------------------------------------------

    async def commit_feed(
        self, message: MessageRecord, observations: Sequence[ObservationEntry]
    ) -> None:
        """Store a feed's message record (message_id = the feed's id) and its observations in
        one durable transaction; DuplicateMessage as for commit_message."""

    async def observations(self, weeks: Iterable[str]) -> list[ObservationEntry]:
        """Every stored observation of these ISO weeks, in storage order."""

    # -- aggregation of the gateway's own items ---------------------------------------------

    async def aggregation_position(self) -> int:
        """The journal position the cells include (0 before any aggregation)."""

    async def apply_aggregation(
        self, after: int, upto: int, increments: Mapping[CellKey, CellCounts]
    ) -> None:
        """Add `increments` to the cells and move the aggregation position from `after` to
        `upto`, in one transaction. Raises StoreError (retriable) if the position is not
        `after` (another worker got there first): nothing is applied twice."""

    async def cells(self, weeks: Iterable[str]) -> dict[CellKey, CellCounts]:
        """Current counts of every cell of these weeks."""

    # -- share reports and their outbox ----------------------------------------------------

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

    # -- frozen weeks (semantics: gateway/adapters/store/frozen.py) --------------------------

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

    async def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Delivery]:
        """Claim due outbox rows (next attempt <= now, no live lease of another owner) until
        now + lease. Two owners never hold the same row at once; an expired lease is taken over."""

    async def delivery_succeeded(self, position: int, owner: str) -> None:
        """The partner confirmed: the row leaves the outbox (kept as delivered)."""

    async def delivery_failed(
        self, position: int, owner: str, next_attempt: datetime, error: str
    ) -> None:
        """Count the attempt, release the lease, retry at `next_attempt`."""

    async def outbox(self) -> list[Delivery]:
        """Rows not yet delivered (for operators: `gateway share list`)."""


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
