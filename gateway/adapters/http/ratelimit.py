"""Per-partner request rate limits: a token bucket each, refilled continuously."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain.partners import Partner
from gateway.errors import RateLimited


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
