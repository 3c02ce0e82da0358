"""Arrivals: the domestic post reports items arriving; arrivals without AED become NO_AED events.

`ArrivalService.report` takes one request's arrivals from a consumer and either refuses the
whole request with the error a caller can act on, or stores every arrival in ONE store
transaction before answering:

1. the consumer exists and may report arrivals (`may_report_arrivals`), else ConsumerDenied;
2. every arrival is well formed (`domain.arrivals.check_arrival`: an item id, a timezone-aware
   time not in the future by the injected clock), else InputError naming the first bad one;
3. each arrival gets its week (ISO week of `arrived_at` in UTC), its origin country (the S10
   identifier's last two letters), its origin post (the configured post of that country, else
   "") and a signed NoAedRecord, its would-be NO_AED event (payload type NO_AED_TYPE, signed
   by the Signer as decisions are);
4. the store decides each arrival against the journal inside its transaction
   (`ArrivalStore.commit_arrivals`): with accepted AED received before `arrived_at` the
   arrival is counted with its lead time, without it the NO_AED event is journaled and goes
   out on the feed to every consumer whose routing takes the origin country and post
   (`Consumer.receives`). A repeated (item_id, arrived_at) is replayed: the first report's
   outcome, nothing new stored, nothing counted again.

Fresh arrivals are counted in the metrics per origin post (arrivals, with AED, NO_AED events,
lead times); `coverage` reads the stored figures per ISO week and post (gateway coverage).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from gateway.domain.arrivals import (
    Arrival,
    ArrivalCommit,
    ArrivalResult,
    Coverage,
    arrival_week,
    check_arrival,
    check_batch,
    origin_country,
)
from gateway.domain.decisions import EventEntry, EventKind, no_aed_event_id
from gateway.domain.notify import JournalNotifier
from gateway.domain.partners import Partner, PartnerKind
from gateway.domain.routing import Consumer
from gateway.errors import ConsumerDenied
from gateway.ports import ArrivalStore, Clock, Signer
from gateway.services.decisions import NO_AED_TYPE
from gateway.wire import decisions_pb2


class ArrivalMetrics(Protocol):
    def count_arrival(self, partner: str, *, with_aed: bool, lead: timedelta | None) -> None:
        """One fresh arrival of `partner`'s items ("" when no post is configured)."""


class ArrivalService:
    def __init__(
        self,
        store: ArrivalStore,
        consumers: Sequence[Consumer],
        partners: Mapping[str, Partner],
        signer: Signer,
        clock: Clock,
        *,
        metrics: ArrivalMetrics | None = None,
        notifier: JournalNotifier | None = None,
    ) -> None:
        self._store, self._signer, self._clock = store, signer, clock
        self._metrics, self._notifier = metrics, notifier
        self._consumers: Mapping[str, Consumer] = {c.name: c for c in consumers}
        self._posts = posts_by_country(partners.values())

    def consumer(self, name: str) -> Consumer:
        """The reporting consumer; ConsumerDenied unless it exists and may report arrivals."""
        consumer = self._consumers.get(name)
        if consumer is None:
            raise ConsumerDenied(f"{name!r} is not a configured consumer")
        if not consumer.may_report_arrivals:
            raise ConsumerDenied(
                f"consumer {name!r} may not report arrivals"
                " (set may_report_arrivals = true in its [[consumers]])"
            )
        return consumer

    async def report(self, consumer: str, arrivals: Sequence[Arrival]) -> list[ArrivalResult]:
        """Every arrival's outcome, in order; raises the GatewayError refusing the request
        (nothing stored then)."""
        self.consumer(consumer)
        check_batch(arrivals)
        now = self._clock.now()
        commits = [self._commit(consumer, a, check_arrival(a, now)) for a in arrivals]
        results = await self._store.commit_arrivals(commits)
        fresh = [r for r in results if not r.replayed]
        if self._metrics is not None:
            for commit, result in zip(commits, results, strict=True):
                if not result.replayed:
                    self._metrics.count_arrival(
                        commit.partner, with_aed=result.with_aed, lead=result.lead
                    )
        last = max((r.position for r in fresh), default=0)
        if last and self._notifier is not None:
            self._notifier.notify(last)
        return results

    async def coverage(self, week: str | None = None, partner: str | None = None) -> list[Coverage]:
        return await self._store.arrival_coverage(week, partner)

    def _commit(self, consumer: str, arrival: Arrival, arrived_at: datetime) -> ArrivalCommit:
        """The arrival to store, with its would-be NO_AED event signed (`arrived_at`: UTC)."""
        country = origin_country(arrival.item_id)
        partner = self._posts.get(country, "")
        event_id = no_aed_event_id(arrival.item_id, arrived_at)
        stamp = Timestamp()
        stamp.FromDatetime(arrived_at)
        record = decisions_pb2.NoAedRecord(
            event_id=event_id,
            item_id=arrival.item_id,
            origin_country=country,
            partner=partner,
            arrived_at=stamp,
            office=arrival.office,
            reported_by=consumer,
        )
        envelope = self._signer.sign(NO_AED_TYPE, record.SerializeToString(deterministic=True))
        event = EventEntry(
            event_id=event_id, kind=EventKind.NO_AED, partner=partner, item_id=arrival.item_id,
            version=0, category="", hs_chapters=(), origin_countries=(country,) if country else (),
            value_amount=Decimal(0), value_currency="", envelope=envelope,
        )  # fmt: skip
        return ArrivalCommit(
            item_id=arrival.item_id,
            arrived_at=arrived_at,
            office=arrival.office,
            reported_by=consumer,
            week=arrival_week(arrived_at),
            partner=partner,
            origin_country=country,
            event=event,
        )


def posts_by_country(partners: Iterable[Partner]) -> dict[str, str]:
    """Country -> the id of its configured post (the first by id when several are)."""
    posts: dict[str, str] = {}
    for partner in sorted(partners, key=lambda p: p.id):
        if partner.kind is PartnerKind.POST:
            posts.setdefault(partner.country.upper(), partner.id)
    return posts
