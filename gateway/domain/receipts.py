"""Receipts: what the gateway answers for one message, exactly as spec/API.md shows them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from gateway.domain.messages import ItemOutcome


class ReceiptStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    PARTIALLY_ACCEPTED = "PARTIALLY_ACCEPTED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class Receipt:
    status: ReceiptStatus
    http_status: int  # 202 when at least one item was accepted, else 422
    accepted: int
    rejected: int
    body: bytes  # the JSON document, byte for byte what is stored and sent


def rfc3339_millis(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def build_receipt(
    *,
    receipt_id: str,
    partner: str,
    message_id: str,
    content_digest: str,
    received_at: datetime,
    items: Sequence[ItemOutcome],
    declaration_ids: Mapping[int, str],
    test: bool = False,
) -> Receipt:
    """The receipt for `items`; `declaration_ids` maps an accepted item's index to its id."""
    accepted = sum(1 for item in items if item.accepted)
    rejected = len(items) - accepted
    status = (
        ReceiptStatus.ACCEPTED
        if rejected == 0
        else ReceiptStatus.REJECTED
        if accepted == 0
        else ReceiptStatus.PARTIALLY_ACCEPTED
    )
    doc: dict[str, object] = {
        "receiptId": receipt_id,
        "partner": partner,
        "messageId": message_id,
        "contentDigest": content_digest,
        "receivedAt": rfc3339_millis(received_at),
        "status": status.value,
        "test": test,
        "accepted": accepted,
        "rejected": rejected,
        "items": [_item(item, declaration_ids.get(item.index)) for item in items],
    }
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return Receipt(status, 202 if accepted else 422, accepted, rejected, body)


def _item(item: ItemOutcome, declaration_id: str | None) -> dict[str, object]:
    out: dict[str, object] = {
        "itemId": item.item_id,
        "version": item.version,
        "function": item.function.value,
        "status": "ACCEPTED" if item.accepted else "REJECTED",
        "line": item.line,
    }
    if item.accepted and declaration_id:
        out["declarationId"] = declaration_id
    out["findings"] = [f.as_json() for f in item.findings]
    return out
