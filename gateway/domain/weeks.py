"""ISO 8601 weeks ("2026-W47"): the period of every B5 cell and report."""

from __future__ import annotations

import re
from datetime import date, timedelta

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"  # year 1 is "0001-W01", which `monday` reads back


def monday(week: str) -> date:
    """The first day of an ISO week; ValueError for anything that is not one."""
    match = _WEEK.fullmatch(week)
    if not match:
        raise ValueError(f"{week!r} is not an ISO week like 2026-W47")
    try:
        return date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:  # week 00, or 53 in a year of 52
        raise ValueError(f"{week!r} is not an ISO week like 2026-W47") from None


def shift(week: str, weeks: int) -> str:
    return iso_week(monday(week) + timedelta(weeks=weeks))


def trailing(week: str, count: int) -> list[str]:
    """The `count` weeks before `week`, oldest first."""
    return [shift(week, -n) for n in range(count, 0, -1)]


def last_complete(today: date) -> str:
    """The ISO week before the one `today` is in."""
    return iso_week(today - timedelta(weeks=1))
