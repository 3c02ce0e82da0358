"""A settable clock for tests: the gateway and its partners read "now" from it, never the machine.

`FrozenClock(at)` stands still at `at` until the test moves it (`advance`, `set`), so whatever
depends on today (report weeks, signature windows, key validity, push backoff) is the same on
every day the suite runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


class FrozenClock:
    """A Clock (gateway.ports) reading a fixed, timezone-aware UTC time that only the test moves."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        """Jump to `at` (forwards or backwards)."""
        self._at = _aware(at)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by `delta` or by timedelta keywords (e.g. `seconds=30`); return now."""
        step = (delta or timedelta()) + timedelta(**parts)
        if step < timedelta(0):
            raise ValueError("a clock advances forwards; use set() to go back")
        self._at += step
        return self._at

    @classmethod
    def on(cls, day: date, at: time = time(12, 0)) -> FrozenClock:
        """A clock at `at` o'clock UTC (noon by default) on `day`."""
        return cls(datetime.combine(day, at, tzinfo=UTC))

    def __repr__(self) -> str:
        return f"FrozenClock({self._at.isoformat()})"


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a frozen clock needs a timezone-aware time")
    return at.astimezone(UTC)
