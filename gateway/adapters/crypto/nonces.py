"""Replay protection for RFC 9421 signatures: each (keyid, nonce) is accepted once in its window.

A signature is only acceptable while its `created` lies within ±window of the verifier's clock,
so a (keyid, nonce) seen with `created` = c must be remembered until c + window and no longer.
Memory is bounded: when the cache is full the entry that expires first is dropped, and from then
on every signature whose window ends no later than the dropped one's is refused as a replay
(the eviction floor). Under a flood an honest old request may be refused, but a replay never
gets through. One cache serves one process; replicas behind a load balancer each keep their own,
so a partner's request replayed to another replica is only caught there within its own window.
"""

from __future__ import annotations

import heapq
import threading


class NonceCache:
    """Bounded set of recently seen (keyid, nonce), safe across threads and one event loop."""

    def __init__(self, window_s: int = 300, max_entries: int = 100_000) -> None:
        if window_s <= 0 or max_entries <= 0:
            raise ValueError("window_s and max_entries must be positive")
        self.window_s, self.max_entries = window_s, max_entries
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._floor = float("-inf")
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def check_and_add(self, keyid: str, nonce: str, created: float, now: float) -> bool:
        """Remember (keyid, nonce) and return True when it is new; False when it is a replay.

        `created` is the signature's creation time and `now` the verifier's clock, both in
        seconds since the epoch. Also False when the signature's window ends at or before the
        eviction floor (see the module docstring).
        """
        key, expiry = (keyid, nonce), created + self.window_s
        with self._lock:
            self._purge(now)
            if key in self._expiry or expiry <= self._floor:
                return False
            if len(self._expiry) >= self.max_entries:
                self._evict_one()
                if expiry <= self._floor:
                    return False
            self._expiry[key] = expiry
            heapq.heappush(self._heap, (expiry, key))
            return True

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            expiry, key = heapq.heappop(heap)
            if self._expiry.get(key) == expiry:
                del self._expiry[key]

    def _evict_one(self) -> None:
        expiry, key = heapq.heappop(self._heap)
        self._floor = max(self._floor, expiry)
        self._expiry.pop(key, None)
