"""Arrivals of items at the office of exchange, and the AED coverage they measure.

The domestic post (a consumer allowed `may_report_arrivals`) reports each item as it arrives.
The rules here are pure:

- what an arrival must carry (`check_arrival`): an item id, a timezone-aware arrival time not
  beyond the gateway's clock by more than `FUTURE_SKEW`, bounded texts;
- the item's origin country (`origin_country`): the S10 identifier's last two letters;
- the ISO week an arrival counts in (`arrival_week`): the week of its time in UTC;
- whether the arrival had AED (`lead_time`): an accepted version of the item was received
  before `arrived_at` (strictly); the lead time is `arrived_at` minus the first accepted
  version's `received_at`, in whole milliseconds;
- the coverage of a group of arrivals (`coverage_of`): arrivals, of which with AED, and the
  median lead time of those with AED (`median_lead`: the middle value, or the mean of the two
  middle values, exact to the microsecond).

Values only: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.domain.decisions import EventEntry
from gateway.domain.weeks import iso_week
from gateway.errors import InputError

MAX_ITEM_ID = 64  # characters of an item id
MAX_OFFICE = 64  # characters of an office of exchange code
MAX_ARRIVALS = 10_000  # arrivals of one request
FUTURE_SKEW = timedelta(minutes=5)  # how far an arrival may lie beyond the gateway's clock

_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class Arrival:
    """An arrival as the domestic post reports it."""

    item_id: str
    arrived_at: datetime | None  # None: not stated (refused by check_arrival)
    office: str
    reported_by: str  # the reporting consumer


@dataclass(frozen=True, slots=True)
class ArrivalCommit:
    """A checked arrival to store, with what the store needs to decide and journal it.

    `event` is the signed NO_AED event to journal if the store finds no accepted AED received
    before `arrived_at`; the store decides that inside its transaction, against the journal."""

    item_id: str
    arrived_at: datetime  # UTC
    office: str
    reported_by: str
    week: str  # ISO week of the arrival
    partner: str  # the post of the origin country ("" when none is configured)
    origin_country: str  # "" when the item id does not end in two letters
    event: EventEntry


@dataclass(frozen=True, slots=True)
class ArrivalResult:
    """What the store made of one arrival."""

    item_id: str
    with_aed: bool  # accepted AED was received before the arrival
    replayed: bool  # this (item_id, arrived_at) was stored already: nothing new written
    position: int  # the NO_AED event's journal position (0 with AED)
    lead: timedelta | None = None  # arrival - first AED received (with AED only)


@dataclass(frozen=True, slots=True)
class ArrivalRow:
    """A stored arrival as the coverage reads it."""

    week: str
    partner: str
    origin_country: str
    lead_ms: int | None  # None: no AED before the arrival


@dataclass(frozen=True, slots=True)
class Coverage:
    """AED coverage of one origin post (and country) in one ISO week of arrival."""

    week: str
    partner: str  # "" for a country with no configured post
    origin_country: str
    arrivals: int
    with_aed: int
    median_lead: timedelta | None  # None when no arrival had AED

    @property
    def no_aed(self) -> int:
        return self.arrivals - self.with_aed


def check_arrival(arrival: Arrival, now: datetime) -> datetime:
    """The arrival time in UTC; InputError naming what is wrong with the arrival."""
    if not arrival.item_id:
        raise InputError("item_id is required")
    if len(arrival.item_id) > MAX_ITEM_ID:
        raise InputError(f"item_id {arrival.item_id[:20]!r}… is longer than {MAX_ITEM_ID}")
    if arrival.arrived_at is None:
        raise InputError(f"arrived_at is required (item {arrival.item_id!r})")
    when = arrival.arrived_at
    if when.tzinfo is None or when.utcoffset() is None:
        raise InputError(f"arrived_at of {arrival.item_id!r} must be timezone-aware")
    if when > now + FUTURE_SKEW:
        raise InputError(
            f"arrived_at of {arrival.item_id!r} ({when.isoformat()}) is in the future "
            f"(the gateway's clock reads {now.isoformat()})"
        )
    if len(arrival.office) > MAX_OFFICE:
        raise InputError(f"office of {arrival.item_id!r} is longer than {MAX_OFFICE}")
    return when.astimezone(UTC)


def check_batch(arrivals: Sequence[Arrival]) -> None:
    if not arrivals:
        raise InputError("no arrivals: report at least one")
    if len(arrivals) > MAX_ARRIVALS:
        raise InputError(f"at most {MAX_ARRIVALS} arrivals per request, got {len(arrivals)}")


def origin_country(item_id: str) -> str:
    """The S10 identifier's country code (its last two letters), "" when it has none."""
    tail = item_id[-2:].upper()
    return tail if len(item_id) >= 2 and _COUNTRY.fullmatch(tail) else ""


def arrival_week(arrived_at: datetime) -> str:
    """The ISO week of the arrival, by its UTC date."""
    return iso_week(arrived_at.astimezone(UTC).date())


def lead_time(aed_at: datetime | None, arrived_at: datetime) -> timedelta | None:
    """The lead time when accepted AED (received at `aed_at`) came strictly before the arrival,
    truncated to whole milliseconds; None when there was none before it."""
    if aed_at is None or aed_at >= arrived_at:
        return None
    return timedelta(milliseconds=lead_ms(arrived_at - aed_at))


def lead_ms(lead: timedelta) -> int:
    return lead // timedelta(milliseconds=1)


def median_lead(leads_ms: Iterable[int]) -> timedelta | None:
    """The median of lead times in milliseconds: the middle one, or the mean of the two middle
    ones (exact: half a millisecond is 500 µs). None for none."""
    ordered = sorted(leads_ms)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return timedelta(milliseconds=ordered[middle])
    return timedelta(microseconds=(ordered[middle - 1] + ordered[middle]) * 500)


def coverage_of(rows: Iterable[ArrivalRow]) -> list[Coverage]:
    """Coverage per (week, partner, origin country), ordered by week, partner, country."""
    groups: dict[tuple[str, str, str], list[int | None]] = {}
    for row in rows:
        groups.setdefault((row.week, row.partner, row.origin_country), []).append(row.lead_ms)
    out = []
    for (week, partner, country), leads in sorted(groups.items()):
        known = [lead for lead in leads if lead is not None]
        out.append(Coverage(week, partner, country, len(leads), len(known), median_lead(known)))
    return out
