"""Journal rows as the wire's FeedRecords."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from gateway.domain.journal import JournalRow
from gateway.errors import StoreError
from gateway.wire import feed_pb2


def feed_record(row: JournalRow) -> feed_pb2.FeedRecord:
    """The FeedRecord for `row`, its envelope parsed from the journaled bytes.

    Raises StoreError when the journal holds bytes that are not a SignedEnvelope.
    """
    entry = row.entry
    record = feed_pb2.FeedRecord(
        position=row.position,
        record_id=entry.record_id,
        item_id=entry.item_id,
        version=entry.version,
    )
    try:
        record.envelope.MergeFromString(entry.envelope)
    except DecodeError as exc:
        raise StoreError(f"journal position {row.position} holds an unreadable envelope") from exc
    return record
