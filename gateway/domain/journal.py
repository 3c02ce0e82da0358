"""What intake stores: messages as received and answered, their journaled items, refusals.

A message and its accepted items are stored in one transaction (`MessageRecord` with its
`JournalEntry`s); the journal hands them back by position (`JournalRow`, or the reduced
`RecordRow` the share aggregation folds, with each decision's `DecisionMark`). `ItemState` is
an item's latest accepted version, as the version rules read it; `RejectionRecord` a refused
request, kept for operators. The contract the store keeps for them is `gateway.ports.Store`'s.
Values only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

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
class DecisionMark:
    """A decision as the share aggregation folds it (Store.read_fold): its position and the
    item whose B5 detection it may change. The fold reads the item's decisions itself (a
    detection depends on every consumer's latest decision, not on this one alone)."""

    position: int
    partner: str
    item_id: str
    # Whether a decision of the item up to this one carries a detection: without one neither
    # this decision nor any before it can make the item a detection (the fold skips it).
    may_detect: bool = True


#: What the share aggregation folds, in one position order (Store.read_fold).
FoldRow = RecordRow | DecisionMark


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
