"""Builders of store values for tests: defaults that make sense, override what the test is about."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from gateway.domain.cells import CellCounts, CellKey, ObservationEntry
from gateway.domain.journal import JournalEntry, MessageRecord, RejectionRecord
from gateway.domain.messages import ItemFunction
from gateway.domain.reports import ReportRecord

PARTNER = "gb-royal-mail"
OTHER_PARTNER = "fr-la-poste"
RECEIVED_AT = datetime(2026, 11, 27, 9, 15, 2, 114000, tzinfo=UTC)


def make_message(
    message_id: str = "GBA-20261127-0001",
    *,
    partner: str = PARTNER,
    content_digest: str | None = None,
    status: str = "ACCEPTED",
    http_status: int = 202,
    test: bool = False,
) -> MessageRecord:
    """A message record whose receipt body names it, so a test can tell receipts apart."""
    digest = content_digest or f"sha-256=:{message_id}-digest:"
    receipt = json.dumps(
        {"receiptId": f"rcpt-{message_id}", "partner": partner, "messageId": message_id,
         "contentDigest": digest, "status": status},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    return MessageRecord(
        partner=partner,
        message_id=message_id,
        content_digest=digest,
        receipt_id=f"rcpt-{message_id}",
        received_at=RECEIVED_AT,
        status=status,
        http_status=http_status,
        receipt=receipt,
        test=test,
    )


def make_entry(
    item_id: str = "RB123456785GB",
    version: int = 1,
    *,
    message: MessageRecord | None = None,
    function: ItemFunction = ItemFunction.ORIGINAL,
    value: Decimal = Decimal("12.50"),
    record_id: str | None = None,
    hs_chapters: tuple[str, ...] = ("61", "95"),
    origin_countries: tuple[str, ...] = ("GB", "CN"),
) -> JournalEntry:
    """A journal entry of `message` (make_message() by default); the record id is derived."""
    msg = message or make_message()
    rid = record_id or f"{msg.partner}:{item_id}:{version}"
    return JournalEntry(
        record_id=rid,
        partner=msg.partner,
        message_id=msg.message_id,
        item_id=item_id,
        version=version,
        function=function,
        category="SALE_OF_GOODS",
        hs_chapters=hs_chapters,
        origin_countries=origin_countries,
        value_amount=value,
        value_currency="GBP",
        envelope=f"signed-envelope:{rid}".encode(),
    )


def make_entries(message: MessageRecord, count: int, *, first: int = 1) -> list[JournalEntry]:
    """`count` entries of `message` for items ITEM<first>…, each at version 1."""
    return [make_entry(f"ITEM{n:06d}", message=message) for n in range(first, first + count)]


def make_rejection(
    detail: str = "signature is stale",
    *,
    at: datetime = RECEIVED_AT,
    route: str = "/v1/aed/itmatt",
    http_status: int = 401,
    reason: str = "stale",
    partner: str | None = PARTNER,
    keyid: str | None = "gb-royal-mail-2026",
    message_id: str | None = "GBA-20261127-0001",
    content_digest: str | None = "sha-256=:GBA-20261127-0001-digest:",
    peer: str | None = "203.0.113.7",
) -> RejectionRecord:
    """A signature rejection from a known partner; `detail` tells records apart in a test."""
    return RejectionRecord(
        at=at,
        route=route,
        http_status=http_status,
        reason=reason,
        detail=detail,
        partner=partner,
        keyid=keyid,
        message_id=message_id,
        content_digest=content_digest,
        peer=peer,
    )


def make_feed_message(feed_id: str = "feed-0001", *, partner: str = PARTNER) -> MessageRecord:
    """The message record of a B5 feed: message_id is the feed id."""
    return make_message(feed_id, partner=partner)


def make_observation(
    observation_id: str = "obs-0001",
    *,
    partner: str = PARTNER,
    week: str = "2026-W47",
    channel: str = "POSTAL",
    origin_country: str = "CN",
    hs_chapter: str = "61",
    category: str = "SALE_OF_GOODS",
    value_band: str = "0-150",
    items: int = 120,
    declared_value_usd: Decimal | None = Decimal("1834.27"),
    de_minimis_items: int = 95,
    detections: int = 2,
) -> ObservationEntry:
    """One trend observation of a feed; the record bytes name it."""
    return ObservationEntry(
        observation_id=observation_id,
        partner=partner,
        reporter="GB",
        week=week,
        channel=channel,
        origin_country=origin_country,
        hs_chapter=hs_chapter,
        category=category,
        value_band=value_band,
        items=items,
        declared_value_usd=declared_value_usd,
        de_minimis_items=de_minimis_items,
        detections=detections,
        record=f"trend-observation:{observation_id}".encode(),
    )


def make_cell(
    week: str = "2026-W47",
    *,
    channel: str = "POSTAL",
    origin_country: str = "CN",
    hs_chapter: str = "61",
    category: str = "SALE_OF_GOODS",
    value_band: str = "0-150",
) -> CellKey:
    return CellKey(week, channel, origin_country, hs_chapter, category, value_band)


def make_counts(items: int = 1, value: str = "12.50", **others: int) -> CellCounts:
    """Counts of `items` items worth `value` USD; other counts by keyword (detections=1, …)."""
    return CellCounts(items=items, declared_value_usd=Decimal(value), **others)


def make_report(
    report_id: str = "report-0001",
    *,
    partner: str = PARTNER,
    week: str = "2026-W47",
    created_at: datetime = RECEIVED_AT,
) -> ReportRecord:
    """A share report whose envelope bytes name it."""
    return ReportRecord(report_id, partner, week, created_at, f"dsse-envelope:{report_id}".encode())


def item_ids(entries: Sequence[JournalEntry]) -> list[str]:
    return [entry.item_id for entry in entries]
