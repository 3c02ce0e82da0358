"""Sealing: a message's accepted items become signed canonical records ready for the journal.

`seal_all` seals them together: one signature over the Merkle root of their records, each
record's envelope carrying its inclusion proof (see gateway.adapters.crypto.dsse). Records
journaled before this form carry one signature each; verifiers accept both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from gateway.domain.messages import ItemOutcome
from gateway.ports import JournalEntry, Signer

DECLARATION_TYPE = "application/vnd.aedgw.declaration.v1+protobuf"
_ID_NAMESPACE = uuid.UUID("6f1d3c1e-3f0a-5b7e-9d2c-a3e5b1c0d9f4")


def declaration_id(partner: str, item_id: str, version: int) -> str:
    """Stable: the same (partner, itemId, version) always gets the same id (a UUIDv5)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{partner}/{item_id}/{version}"))


@dataclass(frozen=True, slots=True)
class Provenance:
    partner: str
    received_at: datetime
    receipt_id: str
    content_digest: str


def seal_all(
    items: Sequence[ItemOutcome], prov: Provenance, signer: Signer
) -> dict[int, JournalEntry]:
    """Seal a message's accepted items under one signature: {item.index: entry}, each entry's
    envelope in the Merkle form (leaves in the order of `items`)."""
    sealer = Sealer(prov)
    for item in items:
        sealer.add(item)
    return sealer.seal(signer)


class Sealer:
    """`seal_all` one item at a time: `add` stamps an item and keeps its canonical bytes and
    routing attributes (so its Declaration can go at once, as a streamed document's items do);
    `seal` signs them all under one root."""

    __slots__ = ("_prov", "_stamped")

    def __init__(self, prov: Provenance) -> None:
        self._prov = prov
        self._stamped: list[tuple[int, JournalEntry, bytes]] = []

    def __len__(self) -> int:
        return len(self._stamped)

    def add(self, item: ItemOutcome) -> None:
        payload = _stamp(item, self._prov)
        self._stamped.append((item.index, _entry(item, self._prov, b""), payload))

    def seal(self, signer: Signer) -> dict[int, JournalEntry]:
        stamped, self._stamped = self._stamped, []
        envelopes = signer.sign_batch([(DECLARATION_TYPE, payload) for _, _, payload in stamped])
        return {
            index: replace(entry, envelope=envelope)
            for (index, entry, _), envelope in zip(stamped, envelopes, strict=True)
        }


def _stamp(item: ItemOutcome, prov: Provenance) -> bytes:
    """Give the item's declaration its id and provenance; its canonical bytes."""
    decl = item.declaration
    assert decl is not None, "only translated items are sealed"
    decl.declaration_id = declaration_id(prov.partner, item.item_id, item.version)
    p = decl.provenance
    p.partner = prov.partner
    p.received_at.FromDatetime(prov.received_at)
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
