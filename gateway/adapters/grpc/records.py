"""Journal rows as the wire's FeedRecords."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from gateway.domain.decisions import EventKind, EventRow
from gateway.domain.journal import JournalRow
from gateway.errors import StoreError
from gateway.wire import feed_pb2

_KINDS = {
    EventKind.DECISION: feed_pb2.DECISION,
    EventKind.ANSWER: feed_pb2.ANSWER,
    EventKind.NO_AED: feed_pb2.NO_AED,
}


def feed_record(row: JournalRow | EventRow) -> feed_pb2.FeedRecord:
    """The FeedRecord for `row` (a declaration or an event), its envelope parsed from the
    journaled bytes.

    Raises StoreError when the journal holds bytes that are not a SignedEnvelope.
    """
    if isinstance(row, EventRow):
        event = row.event
        record = feed_pb2.FeedRecord(
            position=row.position,
            record_id=event.event_id,
            item_id=event.item_id,
            version=event.version,
            kind=_KINDS[event.kind],
        )
        envelope = event.envelope
    else:
        entry = row.entry
        record = feed_pb2.FeedRecord(
            position=row.position,
            record_id=entry.record_id,
            item_id=entry.item_id,
            version=entry.version,
        )
        envelope = entry.envelope
    try:
        record.envelope.MergeFromString(envelope)
    except DecodeError as exc:
        raise StoreError(f"journal position {row.position} holds an unreadable envelope") from exc
    return record
