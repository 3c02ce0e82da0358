"""Share reports as stored, pulled and pushed: the signed report, its pull position, and the
outbox row claimed to push it, a report's or a post's response (semantics of the outbox:
gateway/adapters/store/outbox.py). Values only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.domain.responses import Response


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A signed share report for one customs partner and ISO week (DSSE JSON envelope bytes)."""

    report_id: str
    partner: str
    week: str
    created_at: datetime
    envelope: bytes


@dataclass(frozen=True, slots=True)
class StoredReport:
    position: int  # the pull cursor: strictly increasing over all reports
    report: ReportRecord


class OutboxKind(StrEnum):
    """What an outbox row pushes: a share report, or a response to a post."""

    REPORT = "REPORT"
    RESPONSE = "RESPONSE"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row: push `item` (a report or a response) to its partner, then confirm
    or fail it by (kind, position). `position` is the report's, or the response's decision's:
    each kind has its own sequence, so a row is named by both."""

    position: int
    item: ReportRecord | Response
    attempts: int  # deliveries tried before this claim
    owner: str  # who holds the claim (lease) until `lease_until`
    lease_until: datetime

    @property
    def kind(self) -> OutboxKind:
        return OutboxKind.REPORT if isinstance(self.item, ReportRecord) else OutboxKind.RESPONSE

    @property
    def partner(self) -> str:
        return self.item.partner

    @property
    def report(self) -> ReportRecord:
        """The report this row pushes (TypeError for a response's row)."""
        if not isinstance(self.item, ReportRecord):
            raise TypeError(f"outbox row {self.position} pushes a response, not a report")
        return self.item

    @property
    def response(self) -> Response:
        """The response this row pushes (TypeError for a report's row)."""
        if not isinstance(self.item, Response):
            raise TypeError(f"outbox row {self.position} pushes a report, not a response")
        return self.item
