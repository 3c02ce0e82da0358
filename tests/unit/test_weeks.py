"""ISO weeks: written on four year digits, read back, shifted across year ends."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.domain.weeks import iso_week, last_complete, monday, shift, trailing


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (date(2026, 11, 23), "2026-W48"),
        (date(2027, 1, 1), "2026-W53"),  # a Friday in the last week of 2026
        (date(2024, 12, 30), "2025-W01"),
        (date(1, 1, 1), "0001-W01"),
        (date(999, 6, 1), "0999-W22"),
    ],
)
def test_a_day_has_its_iso_week_and_the_week_reads_back_to_its_monday(day: date, week: str) -> None:
    assert iso_week(day) == week
    assert monday(week) <= day
    assert (day - monday(week)).days < 7
    assert iso_week(monday(week)) == week


@pytest.mark.parametrize("text", ["2026-W54", "2026-W00", "26-W01", "2026W01", "1-W01", ""])
def test_what_is_not_an_iso_week_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO week"):
        monday(text)


def test_weeks_shift_across_a_year_with_53_weeks() -> None:
    assert shift("2026-W52", 1) == "2026-W53"
    assert shift("2026-W53", 1) == "2027-W01"
    assert trailing("2027-W02", 3) == ["2026-W52", "2026-W53", "2027-W01"]
    assert last_complete(date(2027, 1, 4)) == "2026-W53"
