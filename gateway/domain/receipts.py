"""Receipts: what the gateway answers for one message, as the README's HTTP API shows them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from gateway.domain.findings import Finding
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


def _status(accepted: int, rejected: int) -> ReceiptStatus:
    if rejected == 0:
        return ReceiptStatus.ACCEPTED
    return ReceiptStatus.REJECTED if accepted == 0 else ReceiptStatus.PARTIALLY_ACCEPTED


def _finish(
    doc: dict[str, object], key: str, entries: Iterable[dict[str, object]], counts: tuple[int, int]
) -> Receipt:
    """The receipt of `doc` with the list `entries` as its last member, `key`.

    The list is encoded a batch of entries at a time into one buffer (each batch's dicts and
    bytes dropped as soon as they are written): the bytes are those of `json.dumps` over the
    whole document, without ever holding every entry's dict (40,000 items would cost ~25 MiB of
    dicts) nor the body twice."""
    accepted, rejected = counts
    status = _status(accepted, rejected)
    doc["status"] = status.value
    out = io.BytesIO()  # its getvalue() is the buffer itself, not a copy
    out.write(_dumps(doc)[:-1])
    out.write(b',"' + key.encode() + b'":[')
    for n, batch in enumerate(_batches(entries, _ENCODE_BATCH)):
        if n:
            out.write(b",")
        out.write(_dumps(batch)[1:-1])  # the entries, without the batch's brackets
    out.write(b"]}")
    return Receipt(status, 202 if accepted else 422, accepted, rejected, out.getvalue())


_ENCODE_BATCH = 512  # entries encoded by one json.dumps call: one C call, not one per entry


def _batches(entries: Iterable[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    batch: list[dict[str, object]] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class RowResult:
    """One feed row as the receipt reports it."""

    row: int
    findings: tuple[Finding, ...]
    observation_id: str | None  # None when the row was rejected


def build_feed_receipt(
    *,
    receipt_id: str,
    partner: str,
    feed_id: str,
    content_digest: str,
    received_at: datetime,
    rows: Sequence[RowResult],
) -> Receipt:
    """The receipt of a B5 feed: like the ITMATT one, with rows (and their numbers) for items."""
    accepted = sum(1 for r in rows if r.observation_id)
    doc: dict[str, object] = {
        "receiptId": receipt_id,
        "partner": partner,
        "feedId": feed_id,
        "contentDigest": content_digest,
        "receivedAt": rfc3339_millis(received_at),
        "status": "",
        "accepted": accepted,
        "rejected": len(rows) - accepted,
    }
    entries: Iterable[dict[str, object]] = (
        {"row": r.row, "status": "ACCEPTED" if r.observation_id else "REJECTED"}
        | ({"observationId": r.observation_id} if r.observation_id else {})
        | {"findings": [f.as_json() for f in r.findings]}
        for r in rows
    )
    return _finish(doc, "rows", entries, (accepted, len(rows) - accepted))


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
    doc: dict[str, object] = {
        "receiptId": receipt_id,
        "partner": partner,
        "messageId": message_id,
        "contentDigest": content_digest,
        "receivedAt": rfc3339_millis(received_at),
        "status": "",
        "test": test,
        "accepted": accepted,
        "rejected": rejected,
    }
    entries = (_item(item, declaration_ids.get(item.index)) for item in items)
    return _finish(doc, "items", entries, (accepted, rejected))


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
