"""Share reports as stored, pulled and pushed: the signed report, its pull position, and the
outbox row claimed to push it (semantics of the outbox: gateway/adapters/store/outbox.py).
Values only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row: push `report` to its partner, then confirm or fail it."""

    position: int
    report: ReportRecord
    attempts: int  # deliveries tried before this claim
    owner: str  # who holds the claim (lease) until `lease_until`
    lease_until: datetime
