"""Pushes share reports and responses to partners' endpoints from the durable outbox, at least
once.

Each claimed delivery is POSTed, signed per RFC 9421 with the gateway's key, with a few quick
tenacity retries; when those fail, the outbox row is released with a backoff that grows with its
attempts (up to `max_backoff`), so a partner that is down for hours receives every report and
response once it is back, and a restart loses nothing (the rows are in the store, the leases
expire). A report goes to its customs partner's [share] push_url as its signed JSON envelope;
a response to its post's responses_url as one `response` XML document (docs/responses.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import timedelta

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from gateway.adapters.crypto.httpsig import sign_request
from gateway.adapters.crypto.keys import SigningKey
from gateway.domain.partners import Partner
from gateway.domain.reports import Delivery, ReportRecord
from gateway.formats.responses import XML_TYPE, response_xml
from gateway.ports import Clock, OutboxStore

log = logging.getLogger(__name__)
REPORT_MEDIA_TYPE = "application/vnd.aedgw.b5-report+json"


class PartnerRefused(Exception):
    """The partner answered, but not with 2xx."""


class OutboxPusher:
    def __init__(
        self,
        *,
        store: OutboxStore,
        partners: Mapping[str, Partner],
        key: Callable[[], SigningKey],
        clock: Clock,
        owner: str,
        lease: timedelta = timedelta(seconds=60),
        first_backoff: timedelta = timedelta(seconds=5),
        max_backoff: timedelta = timedelta(hours=1),
        quick_retries: int = 3,
        timeout_s: float = 10.0,
    ) -> None:
        self._store, self._partners, self._key, self._clock = store, partners, key, clock
        self._owner, self._lease = owner, lease
        self._first, self._max = first_backoff, max_backoff
        self._quick, self._timeout = quick_retries, timeout_s

    async def push_due(self, session: aiohttp.ClientSession, limit: int = 20) -> tuple[int, int]:
        """Claim and push every due delivery once; (delivered, failed)."""
        claimed = await self._store.claim_deliveries(
            self._owner, self._clock.now(), self._lease, limit
        )
        results = await asyncio.gather(*(self._deliver(session, d) for d in claimed))
        return sum(results), len(results) - sum(results)

    async def run(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        """Push until `stop` is set; store trouble is logged and retried, never fatal."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                try:
                    delivered, failed = await self.push_due(session)
                except Exception:
                    log.exception("outbox push round failed")
                    delivered = failed = 0
                if delivered == 0 and failed == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval_s)

    async def _deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> bool:
        item = delivery.item
        partner = self._partners.get(item.partner)
        if isinstance(item, ReportRecord):
            url = partner.share.push_url if partner and partner.share else ""
            body, media, missing = item.envelope, REPORT_MEDIA_TYPE, "push_url"
        else:
            url = partner.responses_url if partner else ""
            body, media, missing = response_xml(item), XML_TYPE, "responses_url"
        if not url:
            await self._failed(delivery, f"the partner has no {missing}")
            return False
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._quick),
                wait=wait_exponential(multiplier=0.2, max=2),
                retry=retry_if_exception_type((aiohttp.ClientError, TimeoutError, PartnerRefused)),
                reraise=True,
            ):
                with attempt:
                    await self._post(session, url, body, media)
        except (aiohttp.ClientError, TimeoutError, PartnerRefused) as exc:
            await self._failed(delivery, f"{type(exc).__name__}: {exc}")
            return False
        await self._store.delivery_succeeded(delivery.position, self._owner, delivery.kind)
        log.info(
            "%s delivered",
            delivery.kind.lower(),
            extra={"partner": item.partner, **_what(delivery), "attempts": delivery.attempts + 1},
        )
        return True

    async def _post(
        self, session: aiohttp.ClientSession, url: str, body: bytes, media: str
    ) -> None:
        headers = {"Content-Type": media}
        created = int(self._clock.now().timestamp())  # the partner checks it against its clock
        headers |= sign_request(
            method="POST",
            target_uri=url,
            headers=headers,
            body=body,
            key=self._key(),
            created=created,
        )
        async with session.post(url, data=body, headers=headers) as response:
            if response.status >= 300:
                raise PartnerRefused(f"HTTP {response.status}")

    async def _failed(self, delivery: Delivery, error: str) -> None:
        backoff = min(self._max, self._first * (2 ** min(delivery.attempts, 20)))
        jitter = backoff * random.uniform(0, 0.2)  # noqa: S311 - spreading retries, not a secret
        next_attempt = self._clock.now() + backoff + jitter
        await self._store.delivery_failed(
            delivery.position, self._owner, next_attempt, error, delivery.kind
        )
        log.warning(
            "%s delivery failed",
            delivery.kind.lower(),
            extra={"partner": delivery.partner, **_what(delivery),
                   "attempts": delivery.attempts + 1, "retry_at": next_attempt.isoformat(),
                   "error": error},
        )  # fmt: skip


def _what(delivery: Delivery) -> dict[str, str]:
    """What a log line names of a delivery: a report's week and id, a response's id."""
    item = delivery.item
    if isinstance(item, ReportRecord):
        return {"week": item.week, "report_id": item.report_id}
    return {"response_id": item.response_id}
