"""The system clock: the one `gateway.ports.Clock` that reads the machine's time.

Everything else that needs "now" is given a Clock, so tests freeze it (tests/clocks.py).
"""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The current time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
