"""Sealing: a message's accepted items become signed canonical records ready for the journal.

`seal_all` seals them together: one signature over the Merkle root of their records, each
record's envelope carrying its inclusion proof (see gateway.adapters.crypto.dsse). Records
journaled before this form carry one signature each; verifiers accept both.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from gateway.domain.journal import JournalEntry
from gateway.domain.merkle import LeafHashes
from gateway.domain.messages import ItemOutcome

DECLARATION_TYPE = "application/vnd.aedgw.declaration.v1+protobuf"
_ID_NAMESPACE = uuid.UUID("6f1d3c1e-3f0a-5b7e-9d2c-a3e5b1c0d9f4")
_NAMESPACE_BYTES = _ID_NAMESPACE.bytes


def declaration_id(partner: str, item_id: str, version: int) -> str:
    """Stable: the same (partner, itemId, version) always gets the same id: the UUIDv5 of
    "partner/itemId/version" in the gateway's namespace (RFC 9562 §5.5), made straight from
    its SHA-1 (a third of `str(uuid.uuid5(...))`'s time; a test checks they agree)."""
    name = _NAMESPACE_BYTES + f"{partner}/{item_id}/{version}".encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])  # UUIDv5: SHA-1
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC's variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class SealedRoot(Protocol):
    """A signed Merkle root (gateway.ports.RootSeal): makes each leaf's envelope."""

    def envelope(self, index: int, payload_type: str, payload: bytes) -> bytes: ...


class RootSigner(Protocol):
    """The part of gateway.ports.Signer sealing uses (every Signer satisfies it; the domain
    does not import the ports)."""

    def leaf(self, payload_type: str, payload: bytes) -> bytes: ...

    def seal_root(self, leaves: Sequence[bytes]) -> SealedRoot: ...


@dataclass(frozen=True, slots=True)
class Provenance:
    partner: str
    received_at: datetime
    receipt_id: str
    content_digest: str


def seal_all(
    items: Sequence[ItemOutcome], prov: Provenance, signer: RootSigner
) -> dict[int, JournalEntry]:
    """Seal a message's accepted items under one signature: {item.index: entry}, each entry's
    envelope in the Merkle form (leaves in the order of `items`)."""
    sealer = Sealer(prov, signer)
    for item in items:
        sealer.add(item)
    return dict(sealer.seal())


#: One stamped item waiting for its message's seal: its index, its journal entry (no
#: envelope yet) and its canonical bytes.
Stamped = tuple[int, JournalEntry, bytes]


class StampLog(Protocol):
    """Where a Sealer keeps stamped items until it seals: appended, then read back once in
    order (a list, or a scratch file for a streamed document's)."""

    def append(self, stamped: Stamped, /) -> None: ...

    def __iter__(self) -> Iterator[Stamped]: ...


class Sealer:
    """`seal_all` one item at a time: `add` stamps an item, keeps its leaf hash and puts its
    entry and canonical bytes in `log` (so its Declaration can go at once, as a streamed
    document's items do); `seal` signs the root of all their leaves, then yields each entry
    with its envelope, reading the log back in order."""

    __slots__ = ("_leaves", "_log", "_prov", "_received_at", "_signer")

    def __init__(self, prov: Provenance, signer: RootSigner, log: StampLog | None = None) -> None:
        self._prov, self._signer = prov, signer
        self._log: StampLog = log if log is not None else []
        self._leaves = LeafHashes()
        self._received_at = Timestamp()  # the same for every item: converted once
        self._received_at.FromDatetime(prov.received_at)

    def __len__(self) -> int:
        return len(self._leaves)

    def add(self, item: ItemOutcome) -> None:
        payload = _stamp(item, self._prov, self._received_at)
        self._leaves.append(self._signer.leaf(DECLARATION_TYPE, payload))
        self._log.append((item.index, _entry(item, self._prov, b""), payload))

    def seal(self) -> Iterator[tuple[int, JournalEntry]]:
        """(item index, sealed entry) for every item added, in order; nothing when none was."""
        if not self._leaves:
            return
        seal = self._signer.seal_root(self._leaves)
        for position, (index, entry, payload) in enumerate(self._log):
            yield index, entry.with_envelope(seal.envelope(position, DECLARATION_TYPE, payload))


def _stamp(item: ItemOutcome, prov: Provenance, received_at: Timestamp) -> bytes:
    """Give the item's declaration its id and provenance; its canonical bytes."""
    decl = item.declaration
    assert decl is not None, "only translated items are sealed"
    decl.declaration_id = declaration_id(prov.partner, item.item_id, item.version)
    p = decl.provenance
    p.partner = prov.partner
    p.received_at.CopyFrom(received_at)
    p.receipt_id = prov.receipt_id
    p.content_digest = prov.content_digest
    return decl.SerializeToString(deterministic=True)


def _entry(item: ItemOutcome, prov: Provenance, envelope: bytes) -> JournalEntry:
    """The journal entry of a stamped item: its routing attributes and its envelope."""
    decl = item.declaration
    assert decl is not None
    origins = {decl.sender.address.country_code} | {pc.origin_country for pc in decl.pieces}
    return JournalEntry(
        record_id=decl.declaration_id,
        partner=prov.partner,
        message_id=decl.provenance.message_id,
        item_id=item.item_id,
        version=item.version,
        function=item.function,
        category=decl.category,
        hs_chapters=tuple(sorted({pc.hs_code[:2] for pc in decl.pieces if pc.hs_code})),
        origin_countries=tuple(sorted(origins - {""})),
        value_amount=Decimal(decl.total_value.amount),
        value_currency=decl.total_value.currency,
        envelope=envelope,
    )
