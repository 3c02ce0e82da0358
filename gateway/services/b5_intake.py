"""The service layer for B5 trend feeds: parse by the partner's mapping, journal, receipt.

A feed is identified by (partner, content digest): the same bytes again get the first receipt
(200); there is no feed id on the wire to conflict. Accepted rows become canonical
TrendObservations, stored with the feed's record and receipt in one transaction.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import Executor
from decimal import Decimal
from functools import partial
from typing import Protocol

from gateway.domain.cells import ObservationEntry
from gateway.domain.journal import MessageRecord
from gateway.domain.partners import B5_FEED_FORMAT, Partner
from gateway.domain.receipts import RowResult, build_feed_receipt
from gateway.errors import DuplicateMessage, Forbidden
from gateway.formats.b5 import FeedMapping, RateLookup, parse_feed
from gateway.observability import Metrics
from gateway.ports import Clock, MessageStore, ObservationStore
from gateway.services.itmatt_intake import Submission, replay
from gateway.wire.b5_pb2 import TrendObservation

log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("0b6c3f4e-8d1a-5c2b-9e7f-1a2b3c4d5e6f")


def feed_id(digest: str) -> str:
    """A readable id from the RFC 9530 digest ("sha-256=:…:" → "feed-<32 hex>")."""
    raw = base64.b64decode(digest.split("=:", 1)[1].rstrip(":"))
    return "feed-" + raw.hex()[:32]


def entry_of(observation: TrendObservation) -> ObservationEntry:
    usd = observation.declared_value_usd
    return ObservationEntry(
        observation_id=observation.observation_id,
        partner=observation.provenance.partner,
        reporter=observation.reporter,
        week=observation.period,
        channel=observation.channel,
        origin_country=observation.origin_country,
        hs_chapter=observation.hs_chapter,
        category=observation.category,
        value_band=observation.value_band,
        items=observation.items,
        declared_value_usd=Decimal(usd) if usd else None,
        de_minimis_items=observation.de_minimis_items,
        detections=observation.detections,
        record=observation.SerializeToString(deterministic=True),
    )


class FeedIntakeStore(MessageStore, ObservationStore, Protocol):
    """The store roles B5 feed intake uses: stored feeds (replay) and their observations."""


class FeedPipeline:
    def __init__(
        self,
        *,
        store: FeedIntakeStore,
        clock: Clock,
        metrics: Metrics,
        mappings: Mapping[str, FeedMapping],
        rates: RateLookup,
        executor: Executor | None = None,
        offload_bytes: int = 64 * 1024,
    ) -> None:
        self._store, self._clock, self._metrics = store, clock, metrics
        self._mappings, self._rates = mappings, rates
        self._executor, self._offload_bytes = executor, offload_bytes

    async def submit(self, partner: Partner, body: bytes, digest: str) -> Submission:
        """Validate and store one feed. Raises MessageRejected (400), Forbidden (403),
        StoreError (503)."""
        mapping = self._mappings.get(partner.id)
        if mapping is None or not partner.may_submit(B5_FEED_FORMAT):
            raise Forbidden(partner.id, f"is not allowed to submit {B5_FEED_FORMAT}")
        fid = feed_id(digest)
        existing = await self._store.find_message(partner.id, fid)
        if existing is not None:
            return replay(existing, digest)
        received_at = self._clock.now()
        work = partial(parse_feed, body, mapping, partner=partner.id, rates=self._rates)
        with self._metrics.stage("feed_parse"):
            if len(body) >= self._offload_bytes:
                parsed = await asyncio.get_running_loop().run_in_executor(self._executor, work)
            else:
                parsed = work()
        receipt_id = str(uuid.uuid4())
        results, entries = [], []
        for position, row in enumerate(parsed.rows, 1):
            obs = row.observation
            if obs is None:
                results.append(RowResult(row.row, row.findings, None))
                continue
            obs.observation_id = str(uuid.uuid5(_NAMESPACE, f"{partner.id}/{digest}/{position}"))
            prov = obs.provenance
            prov.partner, prov.content_digest, prov.receipt_id = partner.id, digest, receipt_id
            prov.received_at.FromDatetime(received_at)
            results.append(RowResult(row.row, row.findings, obs.observation_id))
            entries.append(entry_of(obs))
        receipt = build_feed_receipt(
            receipt_id=receipt_id, partner=partner.id, feed_id=fid, content_digest=digest,
            received_at=received_at, rows=results,
        )  # fmt: skip
        record = MessageRecord(
            partner=partner.id, message_id=fid, content_digest=digest, receipt_id=receipt_id,
            received_at=received_at, status=receipt.status.value,
            http_status=receipt.http_status, receipt=receipt.body,
        )  # fmt: skip
        try:
            with self._metrics.stage("feed_commit"):
                await self._store.commit_feed(record, entries)
        except DuplicateMessage as dup:
            return replay(dup.existing, digest)
        self._metrics.count_items(partner.id, "accepted", receipt.accepted)
        self._metrics.count_items(partner.id, "rejected", receipt.rejected)
        log.info(
            "feed stored",
            extra={
                "partner": partner.id,
                "feed_id": fid,
                "accepted": receipt.accepted,
                "rejected": receipt.rejected,
            },
        )
        return Submission(receipt.http_status, receipt.body, receipt.accepted, receipt.rejected)
