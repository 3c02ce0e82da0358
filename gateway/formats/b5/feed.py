"""parse_feed: one B5 trend feed (bytes, already gunzipped) → per-row outcomes. Pure.

The partner's FeedMapping says how the feed is laid out (CSV, JSON Lines or XML) and where each
canonical field is; every layout goes through the same translation (`rows.translate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.formats.b5.layout import check_layout
from gateway.formats.b5.mapping import FeedKind, FeedMapping
from gateway.formats.b5.rows import RateLookup, RawRow, RowOutcome, translate
from gateway.formats.b5.text import csv_rows, decode, jsonl_rows
from gateway.formats.b5.xmlfeed import xml_rows


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The outcome of every row of one feed, in feed order."""

    partner: str
    source_format: str
    rows: tuple[RowOutcome, ...]

    @property
    def accepted(self) -> int:
        return sum(1 for row in self.rows if row.observation is not None)

    @property
    def rejected(self) -> int:
        return len(self.rows) - self.accepted


def parse_feed(data: bytes, mapping: FeedMapping, *, partner: str, rates: RateLookup) -> ParsedFeed:
    """Parse, validate and translate one feed of `partner` by its mapping.

    Raises MessageRejected when the feed as a whole is refused: WrongLayout (B5_LAYOUT) when the
    body is plainly in another layout than the mapping's (`layout`); not UTF-8; a CSV header
    that is absent, incomplete or names an unknown column; XML hardening, root or envelope
    errors (see `text` and `xmlfeed`). Otherwise returns one RowOutcome per row: a
    TrendObservation when the row maps (warnings, such as B5_RATE_MISSING, in its findings),
    None with the error findings when it does not; one bad row never rejects the others. Values
    are converted to USD with `rates` on the Monday of the row's ISO week.
    """
    check_layout(data, mapping)
    week, raw_rows = _read(data, mapping)
    outcomes = tuple(translate(raw, mapping, rates, week) for raw in raw_rows)
    return ParsedFeed(partner, mapping.source_format, outcomes)


def _read(data: bytes, mapping: FeedMapping) -> tuple[str, tuple[RawRow, ...]]:
    if mapping.kind is FeedKind.XML:
        feed = xml_rows(data, mapping)
        return feed.week, feed.rows
    text = decode(data)
    reader = csv_rows if mapping.kind is FeedKind.CSV else jsonl_rows
    return "", tuple(reader(text, mapping))
