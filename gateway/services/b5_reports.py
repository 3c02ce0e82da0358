"""Share reports: built per customs partner and ISO week, signed, stored, queued; a week is frozen.

The same signed bytes are served to pull requests (`GET /v1/b5/reports`) and pushed from the
outbox to partners that name an endpoint. Everything that leaves passes through
`gateway.share.report.build_report`, whose disclosure control is the one gate for personal data
and small cells.

A published week is frozen (gateway/share/frozen.py): the first build of any report of week N
freezes N's cells as its snapshot, with the late changes of earlier reported weeks, first writer
wins across replicas. Every report of N is built from that snapshot, and each partner gets ONE
report of N: a second build of (partner, N) (the background builder, an operator's `share
build`, another replica) returns the report already stored and stores nothing. Late items,
amendments and cancellations of a reported week go to the `lateArrivals` of the next week
frozen, once.

A report whose suppression the disclosure audit cannot prove (`Unprotectable`) is not published:
the build logs an error naming the cells and keeps the reason in `refusals`, and the partner gets
nothing for that week until the data or the agreement changes. Building (with its audit, a
linear programme per suppressed number) runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.adapters.crypto.dsse import sign_json_envelope
from gateway.domain.partners import Partner, PartnerKind
from gateway.domain.reports import ReportRecord
from gateway.domain.weeks import last_complete, trailing
from gateway.errors import FreezeMoved, StoreError, Unprotectable
from gateway.ports import ArrivalStore, CellStore, Clock, ObservationStore, ReportStore, Signer
from gateway.share.disclosure import Audit
from gateway.share.frozen import LATE_WINDOW_WEEKS, Published, freeze_rows, published
from gateway.share.report import DEFAULT_TRENDS, build_report, published_pairs, report_bytes
from gateway.share.trends import Pair, TrendConfig
from gateway.wire.b5_pb2 import TrendObservation

log = logging.getLogger(__name__)
REPORT_TYPE = "application/vnd.aedgw.b5-report.v1+json"
FREEZE_ATTEMPTS = 20  # a freeze gives up (retriable) when this many other weeks got in first


def report_document(report: ReportRecord) -> dict[str, Any]:
    """The document a stored report carries (the gateway's own signed envelope, not verified)."""
    envelope = json.loads(report.envelope)
    doc: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return doc


@dataclass(frozen=True, slots=True)
class Built:
    """A partner's report of the week: built now (`fresh`), or the one stored before."""

    position: int
    report: ReportRecord
    queued: bool  # this build added an outbox row to push it
    fresh: bool  # False: the week was reported to this partner already (frozen)


class ShareStore(ReportStore, CellStore, ObservationStore, ArrivalStore, Protocol):
    """The store roles the share service uses: reports and frozen weeks, the gateway's cells,
    the partners' observations and the arrivals (AED coverage)."""


class ShareService:
    def __init__(
        self,
        *,
        store: ShareStore,
        signer: Signer,
        clock: Clock,
        partners: Mapping[str, Partner],
        home_country: str,
        trends: TrendConfig = DEFAULT_TRENDS,
        late_window: int = LATE_WINDOW_WEEKS,
    ) -> None:
        if late_window < 0:
            raise ValueError(f"late_window must be 0 or more weeks, not {late_window}")
        self._store, self._signer, self._clock = store, signer, clock
        self._partners, self._home, self._trends = partners, home_country, trends
        self._late_window = late_window
        # (partner, week) -> why its report was not published (the audit's failures)
        self.refusals: dict[tuple[str, str], str] = {}
        # (partner, week) -> the audits of the tables of the report built here (cells first)
        self.audits: dict[tuple[str, str], list[Audit]] = {}

    async def run(
        self,
        stopping: asyncio.Event,
        *,
        every_s: float,
        before: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """The background builder, until `stopping` is set: every `every_s` seconds, the last
        complete week's report of each recipient that has none yet, after `before` (the cell
        folder's catch-up, so the week's cells are whole when frozen). A failed round only
        logs; the next one tries again."""
        while not stopping.is_set():
            week = last_complete(self._clock.now().date())
            try:
                missing = [
                    p.id
                    for p in self.recipients()
                    if await self._store.report_of(p.id, week) is None
                ]
                if missing:
                    if before is not None:
                        await before()
                    await self.build(week, missing)
            except Exception:
                log.exception("building share reports failed; retrying later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), every_s)

    def recipients(self, only: Iterable[str] | None = None) -> list[Partner]:
        wanted = set(only) if only is not None else None
        return [
            p
            for p in self._partners.values()
            if p.kind is PartnerKind.CUSTOMS
            and p.share is not None
            and (wanted is None or p.id in wanted)
        ]

    async def build(self, week: str, only: Iterable[str] | None = None) -> list[Built]:
        """Each customs partner's (or `only` those's) report of `week`, in recipients' order.

        A partner that has a report of the week gets it back (`fresh` False): nothing is built
        or stored. Otherwise its report is built from the week's frozen cells (frozen now if
        this is the week's first report), signed and stored; a replica that stored the
        partner's report first wins, and its report is returned.
        """
        out: list[Built] = []
        content: tuple[Published, list[TrendObservation], dict[str, tuple[int, int]]] | None = None
        for partner in self.recipients(only):
            existing = await self._store.report_of(partner.id, week)
            if existing is None:
                if content is None:
                    content = (
                        await self._published(week),
                        await self._observations(week),
                        await self._coverage(week),
                    )
                try:
                    made = await self._build_one(partner, week, *content)
                except Unprotectable as exc:
                    self.refusals[partner.id, week] = str(exc)
                    log.error(  # noqa: TRY400 - the reason is the message; no traceback helps
                        "share report not published: its suppression cannot be proved",
                        extra={"partner": partner.id, "week": week, "reason": str(exc)},
                    )
                    continue
                self.refusals.pop((partner.id, week), None)
                if made is not None:
                    out.append(made)
                    continue
                existing = await self._store.report_of(partner.id, week)
                if existing is None:  # only a report stored by someone else makes it None
                    raise StoreError(f"the report of {week} for {partner.id} vanished")
            log.info(
                "share report already built for this week (frozen)",
                extra={"partner": partner.id, "week": week},
            )
            out.append(Built(existing.position, existing.report, queued=False, fresh=False))
        return out

    async def _build_one(
        self,
        partner: Partner,
        week: str,
        content: Published,
        observations: list[TrendObservation],
        coverage: dict[str, tuple[int, int]],
    ) -> Built | None:
        """Build, sign and store `partner`'s first report of `week`; None when one was stored
        meanwhile (another replica's)."""
        assert partner.share is not None
        report_id = str(uuid.uuid4())
        now = self._clock.now()
        baseline = await self.baseline(partner.id, week)
        audits: list[Audit] = []
        doc = await asyncio.to_thread(
            build_report,
            partner=partner.id,
            agreement=partner.share,
            week=week,
            home_country=self._home,
            cells=content.cells,
            baseline=baseline,
            observations=observations,
            generated_at=now,
            report_id=report_id,
            trend_config=self._trends,
            late=content.late,
            before=content.before,
            audits=audits,
            coverage=coverage,
        )
        envelope = sign_json_envelope(self._signer, REPORT_TYPE, report_bytes(doc))
        record = ReportRecord(report_id, partner.id, week, now, envelope)
        queued = bool(partner.share.push_url)
        position = await self._store.add_first_report(record, push=queued)
        if position is None:
            return None
        self.audits[partner.id, week] = audits
        narrowest = audits[0].narrowest if audits else None
        log.info(
            "share report built",
            extra={
                "partner": partner.id,
                "week": week,
                "report_id": report_id,
                "queued": queued,
                "audited": sum(a.nodes for a in audits),
                "narrowest": str(narrowest) if narrowest else None,
            },
        )
        return Built(position, record, queued, fresh=True)

    async def _coverage(self, week: str) -> dict[str, tuple[int, int]]:
        """The week's arrivals per origin country: (arrived, with AED before arrival)."""
        out: dict[str, tuple[int, int]] = {}
        for row in await self._store.arrival_coverage(week):
            country = row.origin_country or "ZZ"
            arrived, with_aed = out.get(country, (0, 0))
            out[country] = (arrived + row.arrivals, with_aed + row.with_aed)
        return out

    async def _observations(self, week: str) -> list[TrendObservation]:
        return [
            TrendObservation.FromString(o.record) for o in await self._store.observations([week])
        ]

    async def baseline(self, partner: str, week: str) -> dict[str, dict[Pair, int | None]]:
        """Per trailing week of `week` reported to `partner`, the pair totals its report
        published: the only history a trend of `week` may use (a week never reported to this
        partner is left out)."""
        out: dict[str, dict[Pair, int | None]] = {}
        for earlier in trailing(week, self._trends.weeks):
            stored = await self._store.report_of(partner, earlier)
            if stored is not None:
                out[earlier] = published_pairs(report_document(stored.report))
        return out

    async def _published(self, week: str) -> Published:
        """What every report of `week` publishes of our cells: frozen now unless it is already
        (first writer wins; a loser reads the winner's)."""
        window = trailing(week, self._late_window)
        weeks = [week, *window]
        moved = 0
        while True:
            frozen = await self._store.frozen(weeks)
            if week in frozen.numbers:  # frozen weeks stay frozen: this loop ends
                return published(week, frozen)
            live = await self._store.cells([week, *window])
            rows = freeze_rows(week, live, frozen, window)
            try:
                if await self._store.freeze_week(week, rows, generation=frozen.generation):
                    log.info(
                        "share week frozen",
                        extra={"week": week, "rows": len(rows), "freeze": frozen.generation + 1},
                    )
            except FreezeMoved:
                moved += 1
                if moved >= FREEZE_ATTEMPTS:
                    raise
                log.info("another week was frozen meanwhile; reading again", exc_info=True)
