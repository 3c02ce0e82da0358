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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from gateway.domain.messages import ItemFunction


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


@dataclass(frozen=True, slots=True)
class JournalRow:
    position: int
    entry: JournalEntry


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


class Store(Protocol):
    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store cannot be reached."""

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None: ...

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        """Store message, receipt and entries in one durable transaction; return the positions."""

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        """The latest accepted version of each of these items from this partner."""

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        """Rows with position > after, in position order, at most `limit`."""

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


class Signer(Protocol):
    """Signs DSSE envelopes with the gateway's active key."""

    @property
    def keyid(self) -> str: ...

    def sign(self, payload_type: str, payload: bytes) -> bytes:
        """Return a serialized aedgw.v1.SignedEnvelope over PAE(payload_type, payload)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
