"""Audit the journal: what an operator runs after a crash (`gateway db verify`) and what the
crash tests assert after every kill.

Reading only through the Store port, page by page, it checks that:

- positions strictly increase in read order;
- every record's DSSE envelope verifies with the gateway's published keys (signed per record,
  or in the Merkle form: its inclusion proof leads to a root whose signature verifies, each
  distinct root signature checked once), and the Declaration
  inside names the row's own record id, partner, message, item and version (nothing swapped);
- every journaled message is whole: its message record and receipt are stored, and the
  receipt's ACCEPTED items are exactly the message's journal rows by declaration id (no half
  message, nothing a receipt does not name, nothing a receipt names missing).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.adapters.crypto.dsse import RootCache, verify_envelope
from gateway.adapters.crypto.keys import VerificationKey
from gateway.domain.journal import JournalRow
from gateway.domain.records import DECLARATION_TYPE
from gateway.errors import SignatureError
from gateway.ports import JournalStore, MessageStore
from gateway.wire.declaration_pb2 import Declaration

MAX_PROBLEMS = 100  # listed; the count goes on


@dataclass(slots=True)
class AuditReport:
    records: int = 0
    messages: int = 0
    last_position: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


class AuditStore(MessageStore, JournalStore, Protocol):
    """The store roles the audit reads: the journal and the messages' stored receipts."""


async def audit_journal(
    store: AuditStore, keys: Mapping[str, VerificationKey], *, page: int = 1000
) -> AuditReport:
    """Check the whole journal (see the module docstring); never raises for what it finds."""
    report = AuditReport()
    rows_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    after = 0
    cache = RootCache()
    while rows := await store.read_journal(after, page):
        for row in rows:
            if row.position <= after:
                report.problem(f"position {row.position} after {after}: not increasing")
            after = row.position
            report.records += 1
            _check_record(row, keys, cache, report)
            rows_of[(row.entry.partner, row.entry.message_id)].add(row.entry.record_id)
    report.last_position = after
    for (partner, message_id), record_ids in rows_of.items():
        report.messages += 1
        stored = await store.find_message(partner, message_id)
        where = f"message {partner}/{message_id}"
        if stored is None:
            report.problem(f"{where}: {len(record_ids)} journal rows but no message record")
            continue
        named = _accepted_ids(stored.receipt)
        if named is None:
            report.problem(f"{where}: its stored receipt is not a receipt document")
        elif named != record_ids:
            missing, extra = sorted(named - record_ids), sorted(record_ids - named)
            report.problem(
                f"{where}: receipt and journal differ (missing {missing}, extra {extra})"
            )
    return report


def _check_record(
    row: JournalRow, keys: Mapping[str, VerificationKey], cache: RootCache, report: AuditReport
) -> None:
    entry, where = row.entry, f"record at position {row.position}"
    try:
        payload_type, payload = verify_envelope(entry.envelope, keys, cache)
    except SignatureError as exc:
        report.problem(f"{where}: signature does not verify ({exc.reason}: {exc})")
        return
    if payload_type != DECLARATION_TYPE:
        report.problem(f"{where}: payload type {payload_type!r}")
        return
    declaration = Declaration.FromString(payload)
    found = (declaration.declaration_id, declaration.item_id, declaration.version)
    if found != (entry.record_id, entry.item_id, entry.version):
        report.problem(f"{where}: the signed declaration {found} is not the row's")
    if (declaration.provenance.partner, declaration.provenance.message_id) != (
        entry.partner,
        entry.message_id,
    ):
        report.problem(f"{where}: signed for another partner or message")


def _accepted_ids(receipt: bytes) -> set[str] | None:
    try:
        doc = json.loads(receipt)
        return {
            item["declarationId"]
            for item in doc["items"]
            if item.get("status") == "ACCEPTED" and "declarationId" in item
        }
    except (ValueError, KeyError, TypeError):
        return None
