"""The arrival rules every store backend applies the same way.

Semantics (both backends honour them identically; the contract suite checks it):

- `commit_arrivals(commits)` stores a batch of arrivals in ONE transaction, holding the
  journal's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the journal's advisory lock) from
  before it reads the journal until COMMIT. For each commit, in order:
  - an arrival already stored under (item_id, arrived_at) is replayed: its stored outcome
    comes back with `replayed`, nothing is written (a repeat in the same batch too);
  - else the item's first accepted version (its lowest journal position, any partner) gives
    the AED's `received_at` (its message's); with AED strictly before `arrived_at` the row
    keeps `aed_at` and the lead time in milliseconds (`domain.arrivals.lead_time`);
  - without, the commit's NO_AED event is written at the journal's next position (as
    decisions' events are) and the row keeps that position in `no_aed`.
  A submission committing at the same moment is therefore either wholly before the decision
  (its AED counts) or wholly after it: the outcome always matches the journal.
- `arrival_coverage(week, partner)` reads the stored arrivals (of one ISO week, one partner,
  or all) and folds them with `domain.arrivals.coverage_of`, so medians are computed by one
  piece of code whatever the backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from gateway.domain.arrivals import ArrivalCommit, ArrivalResult, ArrivalRow, lead_ms, lead_time

COVERAGE_COLUMNS = "week, partner, origin_country, lead_ms"


def stored_result(item_id: str, r: Sequence[Any]) -> ArrivalResult:
    """An already stored arrival's outcome from its (lead_ms, no_aed) columns."""
    lead, position = r[0], r[1]
    return ArrivalResult(
        item_id=item_id,
        with_aed=position is None,
        replayed=True,
        position=0 if position is None else int(position),
        lead=None if lead is None else timedelta(milliseconds=int(lead)),
    )


def new_result(commit: ArrivalCommit, aed_at: datetime | None) -> ArrivalResult:
    """The outcome of a fresh arrival given its item's first AED (position 0: the caller writes
    the NO_AED event and fills it in)."""
    lead = lead_time(aed_at, commit.arrived_at)
    return ArrivalResult(
        commit.item_id, with_aed=lead is not None, replayed=False, position=0, lead=lead
    )


def arrival_params(
    commit: ArrivalCommit, result: ArrivalResult, *, arrived_at: Any, aed_at: Any
) -> tuple[Any, ...]:
    """The row of a fresh arrival (`arrived_at` and `aed_at` as the backend stores times)."""
    return (
        commit.item_id, arrived_at, commit.office, commit.reported_by, commit.week,
        commit.partner, commit.origin_country, aed_at if result.with_aed else None,
        None if result.lead is None else lead_ms(result.lead),
        None if result.with_aed else result.position,
    )  # fmt: skip


def coverage_row(r: Sequence[Any]) -> ArrivalRow:
    return ArrivalRow(r[0], r[1], r[2], None if r[3] is None else int(r[3]))
