"""Per-partner request rate limits (a token bucket each) and admission of work in progress."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gateway.domain.partners import Partner
from gateway.errors import Overloaded, PartnerBusy, RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """`check(partner)` takes one token from the partner's bucket or raises RateLimited.

    Each partner may send `rate_per_s` requests a second on average and `burst` at once. The
    clock is monotonic and injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, partner: Partner) -> None:
        now = self._clock()
        bucket = self._buckets.get(partner.id)
        if bucket is None:
            bucket = self._buckets[partner.id] = _Bucket(float(partner.burst), now)
        bucket.tokens = min(
            float(partner.burst), bucket.tokens + (now - bucket.stamp) * partner.rate_per_s
        )
        bucket.stamp = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / partner.rate_per_s
            raise RateLimited(partner.id, retry_after=max(1.0, math.ceil(wait)))
        bucket.tokens -= 1


class Admission:
    """Who may start work now: at most `max_concurrent` per partner, `limit` in all.

    `admit(partner)` refuses at once, never queues: over the partner's own cap is its problem
    (PartnerBusy, 429), the gateway's bound reached is Overloaded (503). The partner's cap is
    checked first, so one partner's flood holds at most its own cap of the shared bound and the
    others still find room. A request is admitted only once authenticated, so a request refused
    here has nothing stored yet.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_progress = 0
        self._per_partner: dict[str, int] = {}

    def in_progress_of(self, partner: str) -> int:
        return self._per_partner.get(partner, 0)

    @contextmanager
    def admit(self, partner: Partner) -> Iterator[None]:
        mine = self._per_partner.get(partner.id, 0)
        if mine >= partner.max_concurrent:
            raise PartnerBusy(partner.id, partner.max_concurrent)
        if self.in_progress >= self.limit:
            raise Overloaded(retry_after=1)
        self._per_partner[partner.id] = mine + 1
        self.in_progress += 1
        try:
            yield
        finally:
            self.in_progress -= 1
            left = self._per_partner[partner.id] - 1
            if left:
                self._per_partner[partner.id] = left
            else:
                del self._per_partner[partner.id]
