"""Share reports: built per customs partner and ISO week from the cells, signed, stored, queued.

The same signed bytes are served to pull requests (`GET /v1/b5/reports`) and pushed from the
outbox to partners that name an endpoint. Everything that leaves passes through
`gateway.share.report.build_report`, whose disclosure control is the one gate for personal data
and small cells.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.adapters.crypto.dsse import DsseSigner, sign_json_envelope
from gateway.domain.partners import Partner, PartnerKind
from gateway.domain.weeks import trailing
from gateway.ports import CellCounts, CellKey, Clock, ReportRecord, Store
from gateway.share.report import DEFAULT_TRENDS, build_report, report_bytes
from gateway.share.trends import TrendConfig
from gateway.wire.b5_pb2 import TrendObservation

log = logging.getLogger(__name__)
REPORT_TYPE = "application/vnd.aedgw.b5-report.v1+json"


@dataclass(frozen=True, slots=True)
class Built:
    position: int
    report: ReportRecord
    queued: bool  # an outbox row waits to push it


class ShareService:
    def __init__(
        self,
        *,
        store: Store,
        signer: DsseSigner,
        clock: Clock,
        partners: Mapping[str, Partner],
        home_country: str,
        trends: TrendConfig = DEFAULT_TRENDS,
    ) -> None:
        self._store, self._signer, self._clock = store, signer, clock
        self._partners, self._home, self._trends = partners, home_country, trends

    def recipients(self, only: Iterable[str] | None = None) -> list[Partner]:
        wanted = set(only) if only is not None else None
        return [
            p
            for p in self._partners.values()
            if p.kind is PartnerKind.CUSTOMS
            and p.share is not None
            and (wanted is None or p.id in wanted)
        ]

    async def build(
        self, week: str, only: Iterable[str] | None = None, *, first_of_week: bool = False
    ) -> list[Built]:
        """Build, sign and store this week's report for each customs partner (or `only` those).

        With `first_of_week` (the automatic builder), a partner that already has a report of
        the week gets none (another replica stored it first); an operator's explicit build
        always adds one.
        """
        history_weeks = trailing(week, self._trends.weeks)
        cells = await self._store.cells([week, *history_weeks])
        by_week: dict[str, dict[CellKey, CellCounts]] = {w: {} for w in [week, *history_weeks]}
        for key, counts in cells.items():
            by_week[key.week][key] = counts
        observations = [
            TrendObservation.FromString(o.record) for o in await self._store.observations([week])
        ]
        built = []
        for partner in self.recipients(only):
            assert partner.share is not None
            report_id = str(uuid.uuid4())
            now = self._clock.now()
            doc = build_report(
                partner=partner.id,
                agreement=partner.share,
                week=week,
                home_country=self._home,
                cells=by_week[week],
                history={w: by_week[w] for w in history_weeks},
                observations=observations,
                generated_at=now,
                report_id=report_id,
                trend_config=self._trends,
            )
            envelope = sign_json_envelope(self._signer, REPORT_TYPE, report_bytes(doc))
            record = ReportRecord(report_id, partner.id, week, now, envelope)
            queued = bool(partner.share.push_url)
            store = self._store
            add = store.add_first_report if first_of_week else store.add_report
            position = await add(record, push=queued)
            if position is None:
                log.info(
                    "share report already built for this week",
                    extra={"partner": partner.id, "week": week},
                )
                continue
            log.info(
                "share report built",
                extra={
                    "partner": partner.id,
                    "week": week,
                    "report_id": report_id,
                    "queued": queued,
                },
            )
            built.append(Built(position, record, queued))
        return built
