"""Journal commit notifications: how feed streams learn promptly that there is more to read.

The pipeline calls `notify(position)` after each durable commit; every feed stream waiting with
`wait_beyond` wakes. Notifications are only a hint for promptness: a reader always re-reads the
store after waking, and a waiter's `timeout` doubles as the poll interval that lets a stream see
rows committed by another replica sharing the store (which never notifies this process).

`close()` is the shutdown signal: every waiter returns at once and for good, and feed streams end
so that the gRPC server's graceful stop does not wait for its full grace period.

All methods run on the event loop thread (no locking). No I/O.
"""

from __future__ import annotations

import asyncio


class JournalNotifier:
    """Wakes waiters when the journal grows beyond the position they have seen."""

    def __init__(self) -> None:
        self._latest = 0
        self._closed = False
        self._changed = asyncio.Event()

    @property
    def latest(self) -> int:
        """The highest position notified so far (0 before any notification)."""
        return self._latest

    @property
    def closed(self) -> bool:
        return self._closed

    def notify(self, position: int) -> None:
        """Record that the journal holds `position` (committed and durable) and wake waiters."""
        if position > self._latest:
            self._latest = position
            self._wake()

    def close(self) -> None:
        """Wake every waiter for good; later `wait_beyond` calls return at once."""
        self._closed = True
        self._wake()

    # The timeout is the poll interval of the caller's loop, not a deadline for the whole call.
    async def wait_beyond(self, position: int, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until a position above `position` is notified, `timeout` passes or `close()`.

        Returns True when a position above `position` has been notified (possibly before the
        call), False on timeout or when closed.
        """
        try:
            async with asyncio.timeout(timeout):
                while self._latest <= position and not self._closed:
                    await self._changed.wait()
        except TimeoutError:
            pass
        return self._latest > position

    async def wait_closed(self) -> None:
        """Return once `close()` has been called."""
        while not self._closed:
            await self._changed.wait()

    def _wake(self) -> None:
        # Swap in a fresh event so that waiters woken now do not see later notifications as
        # already set; each waiter re-checks the position it cares about.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
