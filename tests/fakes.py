"""Hand-written fakes of the ports, for unit tests of the layers above them.

`InMemoryStore` honours the whole Store contract and runs the same contract suite as the real
backends (tests/contract). close() then open() keeps the data, as reopening a file would.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from gateway.adapters.store.arrivals import new_result
from gateway.adapters.store.cells import add, check_span
from gateway.adapters.store.cursors import advance
from gateway.adapters.store.decisions import ANSWERS
from gateway.adapters.store.frozen import check_rows
from gateway.adapters.store.journal import clash_is_a_race
from gateway.adapters.store.outbox import as_utc, bounded_error, check_lease
from gateway.adapters.store.rejections import DEFAULT_MAX_REJECTIONS, bounded, check_max_rejections
from gateway.domain.arrivals import (
    ArrivalCommit,
    ArrivalResult,
    ArrivalRow,
    Coverage,
    coverage_of,
    lead_ms,
)
from gateway.domain.cells import CellCounts, CellKey, Frozen, FrozenRow, ObservationEntry
from gateway.domain.decisions import (
    AnswerCommit,
    DecisionAsk,
    DecisionCommit,
    DecisionInputs,
    Detection,
    EventEntry,
    EventRow,
    StoredDecision,
)
from gateway.domain.journal import (
    DecisionMark,
    FoldRow,
    ItemState,
    JournalEntry,
    JournalRow,
    MessageRecord,
    RecordRow,
    RejectionRecord,
    StoredMessage,
)
from gateway.domain.partners import ITMATT_FORMAT, Partner, PartnerKind
from gateway.domain.reports import Delivery, OutboxKind, ReportRecord, StoredReport
from gateway.domain.responses import Response
from gateway.errors import (
    AggregationMoved,
    DecisionMoved,
    DecisionTaken,
    DuplicateMessage,
    FreezeMoved,
    GatewayError,
    ItemVersionTaken,
    NotInOutbox,
    StaleVersion,
    StoreError,
)


@dataclass(slots=True)
class OutboxRow:
    """One report or response to push, as the SQL backends' `outbox` table holds it."""

    next_attempt_at: datetime
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


class InMemoryStore:
    def __init__(self, *, max_rejections: int = DEFAULT_MAX_REJECTIONS) -> None:
        self.messages: dict[tuple[str, str], MessageRecord] = {}
        self.journal: list[JournalEntry] = []
        self.journal_positions: list[int] = []  # journal[i] is at journal_positions[i]
        self.events: list[EventRow] = []  # decisions, answers, NO_AED: the same positions
        self.sequence = 0  # the last position given (journal rows and events share it)
        self.decision_rows: dict[int, StoredDecision] = {}  # by position
        self.fold_positions: dict[str, int] = {ANSWERS: 0}
        # (item_id, arrived_at) -> the arrival and its outcome, in storage order
        self.arrival_rows: dict[tuple[str, datetime], tuple[ArrivalCommit, ArrivalResult]] = {}
        self.cursors: dict[str, int] = {}
        # Oldest first; the deque drops the oldest beyond the bound, as the backends prune.
        self.rejection_log: deque[RejectionRecord] = deque(
            maxlen=check_max_rejections(max_rejections)
        )
        self.observation_log: list[ObservationEntry] = []  # storage order
        self.cell_counts: dict[CellKey, CellCounts] = {}  # all-zero cells are deleted
        self.aggregated = 0
        self.report_log: list[ReportRecord] = []  # position = index + 1
        self.frozen_numbers: dict[str, int] = {}  # report week -> its freeze number
        self.frozen_rows: list[FrozenRow] = []
        # By (kind, position), in insertion order: the SQL backends' `id` order.
        self.outbox_rows: dict[tuple[OutboxKind, int], OutboxRow] = {}
        self.is_open = False

    async def open(self) -> None:
        self.is_open = True

    async def close(self) -> None:
        self.is_open = False

    async def ping(self) -> None:
        if not self.is_open:
            raise StoreError("the in-memory store is not open")

    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """Nothing to watch: no other process shares this store."""

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        await self.ping()
        m = self.messages.get((partner, message_id))
        if m is None:
            return None
        return StoredMessage(m.partner, m.message_id, m.content_digest, m.http_status, m.receipt)

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        if stored := await self.find_message(message.partner, message.message_id):
            raise DuplicateMessage(stored)
        self._check_unique(entries)
        refs = {(e.partner, e.message_id) for e in entries} - {
            (message.partner, message.message_id)
        }
        if refs - self.messages.keys():
            raise StoreError(f"FOREIGN KEY constraint failed: entries refer to {refs}")
        self.messages[message.partner, message.message_id] = message
        positions = list(range(self.sequence + 1, self.sequence + len(entries) + 1))
        self.sequence += len(entries)
        self.journal.extend(entries)
        self.journal_positions.extend(positions)
        return positions

    def _check_unique(self, entries: Sequence[JournalEntry]) -> None:
        all_entries = [*self.journal, *entries]
        record_ids = [e.record_id for e in all_entries]
        versions = [(e.partner, e.item_id, e.version) for e in all_entries]
        if clash_is_a_race(record_ids, versions):
            return
        problem = "UNIQUE constraint failed: journal keys (record_id or partner, item_id, version)"
        mine = len(self.journal)
        if clash_is_a_race(record_ids[mine:], versions[mine:]):  # a clash with a stored row
            raise ItemVersionTaken(problem)
        raise StoreError(problem)

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        await self.ping()
        wanted, states = set(item_ids), dict[str, ItemState]()
        mine = [e for e in self.journal if e.partner == partner and e.item_id in wanted]
        for e in sorted(mine, key=lambda e: e.version):
            states[e.item_id] = ItemState(e.version, e.function)
        return states

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        await self.ping()
        start = bisect.bisect_right(self.journal_positions, after)
        end = start + max(limit, 0)
        return [
            JournalRow(p, e)
            for p, e in zip(self.journal_positions[start:end], self.journal[start:end], strict=True)
        ]

    async def read_feed(self, after: int, limit: int) -> list[JournalRow | EventRow]:
        rows: list[JournalRow | EventRow] = [*await self.read_journal(after, limit)]
        rows += await self.read_events(after, limit)
        return sorted(rows, key=lambda row: row.position)[: max(limit, 0)]

    async def read_events(self, after: int, limit: int) -> list[EventRow]:
        await self.ping()
        return [row for row in self.events if row.position > after][: max(limit, 0)]

    async def read_records(self, after: int, limit: int) -> list[RecordRow]:
        return [
            RecordRow(row.position, row.entry.partner, row.entry.item_id, row.entry.function,
                      row.entry.envelope)
            for row in await self.read_journal(after, limit)
        ]  # fmt: skip

    async def last_position(self) -> int:
        await self.ping()
        return self.sequence

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        rows = await self.read_journal(0, len(self.journal))
        return [
            r for r in rows if r.entry.item_id == item_id and partner in {None, r.entry.partner}
        ]

    async def get_cursor(self, consumer: str) -> int:
        await self.ping()
        return self.cursors.get(consumer, 0)

    async def ack(self, consumer: str, position: int) -> None:
        current = await self.get_cursor(consumer)
        self.cursors[consumer] = advance(consumer, current, position, self.sequence)

    async def record_rejection(self, rejection: RejectionRecord) -> None:
        kept = bounded(rejection)
        await self.ping()
        self.rejection_log.append(kept)

    async def rejections(self, limit: int = 100) -> list[RejectionRecord]:
        await self.ping()
        return list(reversed(self.rejection_log))[: max(limit, 0)]

    # -- B5 feeds (every method checks before it changes anything: all or nothing) -----------

    async def commit_feed(
        self, message: MessageRecord, observations: Sequence[ObservationEntry]
    ) -> None:
        if stored := await self.find_message(message.partner, message.message_id):
            raise DuplicateMessage(stored)
        ids = [o.observation_id for o in [*self.observation_log, *observations]]
        if len(set(ids)) < len(ids):
            raise StoreError("UNIQUE constraint failed: observations.observation_id")
        if any(o.partner != message.partner for o in observations):
            refs = {(o.partner, message.message_id) for o in observations}
            if refs - self.messages.keys() - {(message.partner, message.message_id)}:
                raise StoreError(f"FOREIGN KEY constraint failed: observations refer to {refs}")
        self.messages[message.partner, message.message_id] = message
        self.observation_log.extend(observations)

    async def observations(self, weeks: Iterable[str]) -> list[ObservationEntry]:
        await self.ping()
        wanted = set(weeks)
        return [o for o in self.observation_log if o.week in wanted]

    # -- responses to posts (semantics: gateway/adapters/store/decisions.py, outbox.py) -----

    async def responses_after(self, partner: str, after: int, limit: int) -> list[Response]:
        await self.ping()
        mine = [
            _response(d) for p, d in sorted(self.decision_rows.items())
            if p > after and d.decision.partner == partner
        ]  # fmt: skip
        return mine[: max(limit, 0)]

    # -- decisions (semantics: gateway/adapters/store/decisions.py) -------------------------

    def _add_event(self, event: EventEntry) -> int:
        self.sequence += 1
        self.events.append(EventRow(self.sequence, event))
        return self.sequence

    async def find_decision(self, consumer: str, decision_id: str) -> StoredDecision | None:
        await self.ping()
        for stored in self.decision_rows.values():
            if (stored.decision.consumer, stored.decision.decision_id) == (consumer, decision_id):
                return stored
        return None

    async def decision_inputs(self, asks: Sequence[DecisionAsk]) -> list[DecisionInputs]:
        found = []
        for ask in asks:
            versions = tuple(
                replace(e, envelope=b"")
                for e in self.journal
                if e.item_id == ask.item_id and ask.partner in ("", e.partner)
            )
            partners = {v.partner for v in versions}
            decisions = (
                tuple(await self.item_decisions(partners.pop(), ask.item_id))
                if len(partners) == 1
                else ()
            )
            existing = await self.find_decision(ask.consumer, ask.decision_id)
            found.append(DecisionInputs(existing, versions, decisions))
        return found

    async def item_decisions(self, partner: str, item_id: str) -> list[StoredDecision]:
        await self.ping()
        return [
            d for _, d in sorted(self.decision_rows.items())
            if (d.decision.partner, d.decision.item_id) == (partner, item_id)
        ]  # fmt: skip

    async def commit_decisions(self, commits: Sequence[DecisionCommit]) -> list[int | GatewayError]:
        await self.ping()
        outcomes: list[int | GatewayError] = []
        for commit in commits:
            d = commit.decision
            versions = [
                e.version for e in self.journal if (e.partner, e.item_id) == (d.partner, d.item_id)
            ]
            if versions and max(versions) != d.version:
                outcomes.append(StaleVersion(d.item_id, d.version, max(versions)))
            elif await self.find_decision(d.consumer, d.decision_id) is not None:
                outcomes.append(DecisionTaken(d.consumer, d.decision_id))
            elif (
                max(
                    (s.position for s in await self.item_decisions(d.partner, d.item_id)), default=0
                )
                != commit.after
            ):
                outcomes.append(DecisionMoved(d.item_id))
            else:
                position = self._add_event(commit.event)
                decided_at = as_utc(commit.decided_at, "decided_at")
                self.decision_rows[position] = StoredDecision(
                    position, d, commit.message_id, decided_at
                )
                if commit.push:  # the post's response, in the same step as the decision
                    self.outbox_rows[OutboxKind.RESPONSE, position] = OutboxRow(decided_at)
                outcomes.append(position)
        return outcomes

    async def fold_position(self, name: str) -> int:
        await self.ping()
        return self.fold_positions.get(name, 0)

    async def commit_answers(self, after: int, upto: int, answers: Sequence[AnswerCommit]) -> None:
        await self.ping()
        if self.fold_positions[ANSWERS] != after:
            raise AggregationMoved(after, self.fold_positions[ANSWERS])
        for answer in answers:
            stored = self.decision_rows[answer.request_position]
            if stored.answered_by is None:
                self.decision_rows[answer.request_position] = replace(
                    stored, answered_by=answer.amendment_record_id
                )
                self._add_event(answer.event)
        self.fold_positions[ANSWERS] = upto

    # -- arrivals and AED coverage (semantics: gateway/adapters/store/arrivals.py) ------------

    async def commit_arrivals(self, commits: Sequence[ArrivalCommit]) -> list[ArrivalResult]:
        await self.ping()
        results: list[ArrivalResult] = []
        for commit in commits:
            key = (commit.item_id, as_utc(commit.arrived_at, "arrived_at"))
            stored = self.arrival_rows.get(key)
            if stored is not None:
                results.append(replace(stored[1], replayed=True))
                continue
            first = next((e for e in self.journal if e.item_id == commit.item_id), None)
            message = None if first is None else self.messages[first.partner, first.message_id]
            result = new_result(commit, None if message is None else message.received_at)
            if not result.with_aed:
                result = replace(result, position=self._add_event(commit.event))
            self.arrival_rows[key] = (commit, result)
            results.append(result)
        return results

    async def arrival_coverage(
        self, week: str | None = None, partner: str | None = None
    ) -> list[Coverage]:
        await self.ping()
        return coverage_of(
            ArrivalRow(c.week, c.partner, c.origin_country,
                       None if r.lead is None else lead_ms(r.lead))
            for c, r in self.arrival_rows.values()
            if week in {None, c.week} and partner in {None, c.partner}
        )  # fmt: skip

    # -- aggregation -------------------------------------------------------------------------

    async def aggregation_position(self) -> int:
        await self.ping()
        return self.aggregated

    async def apply_aggregation(
        self, after: int, upto: int, increments: Mapping[CellKey, CellCounts]
    ) -> None:
        await self.ping()
        check_span(after, upto, has_increments=bool(increments), last_position=self.sequence)
        if self.aggregated != after:
            raise AggregationMoved(after, self.aggregated)
        for key, increment in increments.items():
            total = add(self.cell_counts.get(key, CellCounts()), increment)
            if total is None:
                self.cell_counts.pop(key, None)
            else:
                self.cell_counts[key] = total
        self.aggregated = upto

    async def cells(self, weeks: Iterable[str]) -> dict[CellKey, CellCounts]:
        await self.ping()
        wanted = set(weeks)
        return {k: c for k, c in self.cell_counts.items() if k.week in wanted}

    # -- detections in the cells (semantics: gateway/adapters/store/cells.py) ----------------

    def _may_detect(self, position: int, decision: StoredDecision) -> bool:
        item = (decision.decision.partner, decision.decision.item_id)
        return any(
            (d.decision.partner, d.decision.item_id) == item
            and d.decision.detection not in (None, Detection.NONE)
            for p, d in self.decision_rows.items()
            if p <= position
        )

    async def read_fold(self, after: int, limit: int) -> list[FoldRow]:
        await self.ping()
        rows: list[FoldRow] = [*await self.read_records(after, limit)]
        marks = sorted(self.decision_rows.items())
        rows += [
            DecisionMark(p, d.decision.partner, d.decision.item_id, self._may_detect(p, d))
            for p, d in marks
            if p > after
        ]
        return sorted(rows, key=lambda row: row.position)[: max(limit, 0)]

    # -- reports and the outbox (semantics: gateway/adapters/store/outbox.py) ----------------

    async def add_first_report(self, report: ReportRecord, *, push: bool) -> int | None:
        await self.ping()
        if any((r.partner, r.week) == (report.partner, report.week) for r in self.report_log):
            return None
        return await self.add_report(report, push=push)

    async def add_report(self, report: ReportRecord, *, push: bool) -> int:
        stored = replace(report, created_at=as_utc(report.created_at, "created_at"))
        await self.ping()
        if any(r.report_id == report.report_id for r in self.report_log):
            raise StoreError("UNIQUE constraint failed: reports.report_id")
        self.report_log.append(stored)
        position = len(self.report_log)
        if push:
            self.outbox_rows[OutboxKind.REPORT, position] = OutboxRow(stored.created_at)
        return position

    async def reports_after(self, partner: str, after: int, limit: int) -> list[StoredReport]:
        await self.ping()
        mine = [
            StoredReport(n, r)
            for n, r in enumerate(self.report_log, 1)
            if n > after and r.partner == partner
        ]
        return mine[: max(limit, 0)]

    async def report_of(self, partner: str, week: str) -> StoredReport | None:
        await self.ping()
        return next(
            (
                StoredReport(n, r)
                for n, r in enumerate(self.report_log, 1)
                if (r.partner, r.week) == (partner, week)
            ),
            None,
        )

    # -- frozen weeks (semantics: gateway/adapters/store/frozen.py) --------------------------

    async def frozen(self, weeks: Iterable[str]) -> Frozen:
        await self.ping()
        wanted = set(weeks)
        rows = sorted(
            (r for r in self.frozen_rows if r.key.week in wanted),
            key=lambda r: (r.report_week, _key_order(r.key)),
        )
        return Frozen(dict(self.frozen_numbers), tuple(rows))

    async def freeze_week(
        self, report_week: str, rows: Sequence[FrozenRow], *, generation: int
    ) -> bool:
        check_rows(report_week, rows)
        await self.ping()
        if report_week in self.frozen_numbers:
            return False
        if len(self.frozen_numbers) != generation:
            raise FreezeMoved(report_week, generation, len(self.frozen_numbers))
        self.frozen_numbers[report_week] = generation + 1
        self.frozen_rows += rows
        return True

    async def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Delivery]:
        until = as_utc(now + check_lease(lease), "now")
        at = as_utc(now, "now")
        await self.ping()
        claimed: list[Delivery] = []
        for (kind, position), row in self.outbox_rows.items():
            if len(claimed) >= limit:
                break
            free = row.lease_until is None or row.lease_until <= at or row.lease_owner == owner
            if row.delivered_at is None and row.next_attempt_at <= at and free:
                row.lease_owner, row.lease_until = owner, until
                item = self._outbox_item(kind, position)
                claimed.append(Delivery(position, item, row.attempts, owner, until))
        return claimed

    async def delivery_succeeded(
        self, position: int, owner: str, kind: OutboxKind = OutboxKind.REPORT
    ) -> None:
        row = await self._outbox_row(kind, position)
        if row.delivered_at is None:
            row.delivered_at = datetime.now(UTC)
            row.attempts += 1
            row.lease_owner = row.lease_until = None

    async def delivery_failed(
        self,
        position: int,
        owner: str,
        next_attempt: datetime,
        error: str,
        kind: OutboxKind = OutboxKind.REPORT,
    ) -> None:
        retry_at = as_utc(next_attempt, "next_attempt")
        row = await self._outbox_row(kind, position)
        if row.delivered_at is None and row.lease_owner == owner:
            row.attempts += 1
            row.next_attempt_at, row.last_error = retry_at, bounded_error(error)
            row.lease_owner = row.lease_until = None

    async def outbox(self) -> list[Delivery]:
        await self.ping()
        return [
            Delivery(
                position,
                self._outbox_item(kind, position),
                row.attempts,
                row.lease_owner or "",
                row.lease_until if row.lease_owner and row.lease_until else row.next_attempt_at,
            )
            for (kind, position), row in self.outbox_rows.items()
            if row.delivered_at is None
        ]

    async def _outbox_row(self, kind: OutboxKind, position: int) -> OutboxRow:
        await self.ping()
        row = self.outbox_rows.get((kind, position))
        if row is None:
            raise NotInOutbox(position, kind.value)
        return row

    def _outbox_item(self, kind: OutboxKind, position: int) -> ReportRecord | Response:
        if kind is OutboxKind.REPORT:
            return self.report_log[position - 1]
        return _response(self.decision_rows[position])


def _response(stored: StoredDecision) -> Response:
    d = stored.decision
    return Response(
        stored.position, d.partner, d.item_id, d.version, stored.message_id, d.code,
        stored.decided_at, d.questions,
    )  # fmt: skip


def _key_order(key: CellKey) -> tuple[str, ...]:
    return (key.week, key.channel, key.origin_country, key.hs_chapter, key.category, key.value_band)


@dataclass(frozen=True)
class FixedClock:
    """A Clock that always reads `at`."""

    at: datetime

    def now(self) -> datetime:
        return self.at


ROYAL_MAIL = Partner(
    id="gb-royal-mail",
    name="Royal Mail",
    kind=PartnerKind.POST,
    country="GB",
    operator_code="GBA",
    formats=frozenset({ITMATT_FORMAT}),
    max_body_bytes=50 * 1024 * 1024,
    key_ids=("gb-royal-mail-2026",),
)
"""A post allowed to submit ITMATT, as the pipeline tests use it."""
