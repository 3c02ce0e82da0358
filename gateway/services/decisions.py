"""Decisions: internal services decide on items, requests are answered by amendments.

`DecisionService.decide_many` takes decisions as consumers state them and, for each, either
refuses it with the error a caller can act on or journals it, signed, before answering:

1. the consumer exists and may decide (`may_decide`), else ConsumerDenied;
2. the decision is well formed (`domain.decisions.check_decision`), else InputError;
3. the same (consumer, decision_id) stored already: the same content is replayed (nothing new),
   other content is DecisionConflict;
4. the item exists (NotFound), from one post (InputError asking for `partner` otherwise);
   the decided version is the latest accepted one (StaleVersion), and is routed to the
   consumer (ConsumerDenied);
5. the DecisionRecord (with the item's status once it counts) is signed and stored with its
   event in one transaction per batch (`Store.commit_decisions`); a decision that raced another
   on the same item is re-read and decided again.

`AnswerService` folds the journal: an accepted AMENDMENT closes each consumer's open request on
that item made before it, and an ANSWER record naming the request goes to the consumer that
asked. It keeps its own position ('answers'), so an amendment is answered exactly once, by
whichever replica gets there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from gateway.domain.decisions import (
    Answer,
    AnswerCommit,
    Decision,
    DecisionAsk,
    DecisionCommit,
    DecisionInputs,
    DecisionOutcome,
    EventEntry,
    EventKind,
    StoredDecision,
    answer_id,
    check_decision,
    decision_event_id,
    item_status,
    open_requests,
)
from gateway.domain.journal import JournalEntry, JournalRow
from gateway.domain.messages import ItemFunction
from gateway.domain.notify import JournalNotifier
from gateway.domain.partners import Partner
from gateway.domain.routing import Consumer
from gateway.errors import (
    AggregationMoved,
    ConsumerDenied,
    DecisionConflict,
    DecisionMoved,
    DecisionTaken,
    GatewayError,
    InputError,
    NotFound,
    StaleVersion,
    StoreError,
)
from gateway.ports import Clock, DecisionStore, JournalStore, Signer
from gateway.wire import decisions_pb2

DECISION_TYPE = "application/vnd.aedgw.decision.v1+protobuf"
ANSWER_TYPE = "application/vnd.aedgw.answer.v1+protobuf"
NO_AED_TYPE = "application/vnd.aedgw.no-aed.v1+protobuf"
MAX_RETRIES = 8  # a decision re-read after racing others on the same item

log = logging.getLogger(__name__)


class DecisionsStore(JournalStore, DecisionStore, Protocol):
    """The store roles deciding uses: the journal (the item's versions) and the decisions."""


@dataclass(frozen=True, slots=True)
class _Pending:
    """A decision checked against the store, its record to sign."""

    decision: StoredDecision  # provisional position: after + 1
    entry: JournalEntry  # the decided version
    after: int
    status: str
    payload: bytes
    push: bool  # the post's response is also pushed (it has a responses_url)

    def commit(self, envelope: bytes) -> DecisionCommit:
        d = self.decision.decision
        event = _event_of(
            self.entry,
            decision_event_id(d.consumer, d.decision_id),
            EventKind.DECISION,
            envelope,
        )
        decided_at = self.decision.decided_at
        return DecisionCommit(d, self.entry.message_id, decided_at, event, self.after, self.push)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A decision checked against the store, signed, ready to commit."""

    index: int
    commit: DecisionCommit
    status: str


class DecisionService:
    def __init__(
        self,
        store: DecisionsStore,
        consumers: Sequence[Consumer],
        signer: Signer,
        clock: Clock,
        notifier: JournalNotifier | None = None,
        *,
        partners: Mapping[str, Partner] | None = None,
    ) -> None:
        self._store, self._signer, self._clock, self._notifier = store, signer, clock, notifier
        self._consumers: Mapping[str, Consumer] = {c.name: c for c in consumers}
        self._partners: Mapping[str, Partner] = partners or {}

    def pushes_responses(self, partner: str) -> bool:
        """Whether the post's responses are also pushed (its partner.toml names a
        responses_url): then each decision's outbox row is written with it."""
        known = self._partners.get(partner)
        return known is not None and bool(known.responses_url)

    def consumer(self, name: str) -> Consumer:
        """The deciding consumer; ConsumerDenied unless it exists and may decide."""
        consumer = self._consumers.get(name)
        if consumer is None:
            raise ConsumerDenied(f"{name!r} is not a configured consumer")
        if not consumer.may_decide:
            raise ConsumerDenied(
                f"consumer {name!r} may not decide (set may_decide = true in its [[consumers]])"
            )
        return consumer

    async def decide(self, decision: Decision) -> DecisionOutcome:
        """One decision; raises the GatewayError that refused it."""
        [outcome] = await self.decide_many([decision])
        if isinstance(outcome, GatewayError):
            raise outcome
        return outcome

    async def decide_many(
        self, decisions: Sequence[Decision]
    ) -> list[DecisionOutcome | GatewayError]:
        """Each decision's outcome, in order: stored (or replayed), or the error refusing it.
        The ones ready to store go in one store transaction."""
        outcomes: dict[int, DecisionOutcome | GatewayError] = {}
        pending = list(range(len(decisions)))
        for _ in range(MAX_RETRIES):
            ready = await self._prepare_all(decisions, pending, outcomes)
            pending = await self._commit(ready, outcomes) if ready else []
            if not pending:
                break
        for index in pending:
            outcomes[index] = DecisionMoved(decisions[index].item_id)
        return [outcomes[index] for index in range(len(decisions))]

    async def _prepare_all(
        self,
        decisions: Sequence[Decision],
        indexes: Sequence[int],
        outcomes: dict[int, DecisionOutcome | GatewayError],
    ) -> list[_Ready]:
        """Check `decisions[indexes]` against one read of the store; sign the ones to store
        under one Merkle root (as a message's records are) and return them ready to commit."""
        checked: list[int] = []
        for index in indexes:
            try:
                self.consumer(decisions[index].consumer)
                check_decision(decisions[index])
            except GatewayError as exc:
                outcomes[index] = exc
                continue
            checked.append(index)
        asks = [
            DecisionAsk(d.consumer, d.decision_id, d.item_id, d.partner)
            for d in (decisions[i] for i in checked)
        ]
        inputs = await self._store.decision_inputs(asks) if asks else []
        now = self._clock.now()  # the batch's decisions are made at one moment
        stamp = _timestamp(now)
        pending: list[tuple[int, _Pending]] = []
        for index, found in zip(checked, inputs, strict=True):
            try:
                result = self._check(decisions[index], found, now, stamp)
            except GatewayError as exc:
                outcomes[index] = exc
                continue
            if isinstance(result, DecisionOutcome):
                outcomes[index] = result
            else:
                pending.append((index, result))
        if not pending:
            return []
        envelopes = self._signer.sign_batch([(DECISION_TYPE, p.payload) for _, p in pending])
        return [
            _Ready(index, p.commit(envelope), p.status)
            for (index, p), envelope in zip(pending, envelopes, strict=True)
        ]

    def _check(
        self, decision: Decision, found: DecisionInputs, now: datetime, stamp: Timestamp
    ) -> DecisionOutcome | _Pending:
        """The replay of a stored decision, or the decision ready to sign; raises the error
        that refuses it."""
        if found.existing is not None:
            return _replay(found.existing, decision, found.decisions)
        versions = found.versions
        if not versions:
            raise NotFound("item", decision.item_id)
        partners = {v.partner for v in versions}
        if len(partners) > 1:
            raise InputError(
                f"item {decision.item_id!r} was sent by {', '.join(sorted(partners))}: "
                "name the partner"
            )
        entry = max(versions, key=lambda v: v.version)
        if decision.version != entry.version:
            if decision.version > entry.version:
                raise NotFound("item version", f"{decision.item_id} v{decision.version}")
            raise StaleVersion(decision.item_id, decision.version, entry.version)
        if entry.function is ItemFunction.CANCELLATION:
            raise StaleVersion(decision.item_id, decision.version, entry.version)
        consumer = self.consumer(decision.consumer)
        if not consumer.rule.matches(entry):
            raise ConsumerDenied(
                f"item {decision.item_id!r} version {decision.version} is not routed to "
                f"{consumer.name}: a consumer decides only on the items its routing takes"
            )
        if decision.partner != entry.partner:
            decision = _with_partner(decision, entry.partner)
        after = max((d.position for d in found.decisions), default=0)
        provisional = StoredDecision(after + 1, decision, entry.message_id, now)
        # The first decision on an item is its status (the common case: no need to rank).
        status = (
            item_status([*found.decisions, provisional]) if found.decisions else decision.code.value
        )
        payload = _decision_record(provisional, status, stamp).SerializeToString(deterministic=True)
        push = self.pushes_responses(entry.partner)
        return _Pending(provisional, entry, after, status, payload, push)

    async def _commit(
        self, ready: Sequence[_Ready], outcomes: dict[int, DecisionOutcome | GatewayError]
    ) -> list[int]:
        """Store `ready`; return the indexes to decide again (they raced another decision)."""
        results = await self._store.commit_decisions([r.commit for r in ready])
        again: list[int] = []
        last = 0
        for r, result in zip(ready, results, strict=True):
            if isinstance(result, int):
                c = r.commit
                stored = StoredDecision(result, c.decision, c.message_id, c.decided_at)
                outcomes[r.index] = DecisionOutcome(stored, replayed=False, status=r.status)
                last = max(last, result)
            elif isinstance(result, DecisionMoved | DecisionTaken):
                again.append(r.index)
            else:
                outcomes[r.index] = result
        if last and self._notifier is not None:
            self._notifier.notify(last)
        return again


def _replay(
    existing: StoredDecision, decision: Decision, history: Sequence[StoredDecision]
) -> DecisionOutcome:
    """The stored decision again (the same content), or DecisionConflict."""
    stated = decision if decision.partner else _with_partner(decision, existing.decision.partner)
    if stated.digest() != existing.decision.digest():
        raise DecisionConflict(decision.consumer, decision.decision_id)
    return DecisionOutcome(existing, replayed=True, status=item_status(history))


class AnswerStore(JournalStore, DecisionStore, Protocol):
    """The store roles answering uses."""


class AnswerService:
    """Closes open requests when the item's amendment arrives (see the module docstring)."""

    def __init__(
        self,
        store: AnswerStore,
        signer: Signer,
        clock: Clock,
        notifier: JournalNotifier | None = None,
        page: int = 1000,
    ) -> None:
        self._store, self._signer, self._clock = store, signer, clock
        self._notifier, self._page = notifier, page

    async def fold_once(self) -> int:
        """Fold up to one page of journal rows after the 'answers' position; return the rows
        folded (0: caught up, or another replica folded them first)."""
        after = await self._store.fold_position("answers")
        rows = await self._store.read_journal(after, self._page)
        if not rows:
            return 0
        answers: list[AnswerCommit] = []
        for row in rows:
            if row.entry.function is ItemFunction.AMENDMENT:
                answers.extend(await self._answers(row))
        try:
            await self._store.commit_answers(after, rows[-1].position, answers)
        except AggregationMoved:
            return 0  # another replica folded these rows
        if answers and self._notifier is not None:
            self._notifier.notify(await self._store.last_position())
        return len(rows)

    async def catch_up(self) -> None:
        while await self.fold_once() >= self._page:
            pass

    async def run(
        self, notifier: JournalNotifier, stop: asyncio.Event, *, poll_s: float = 2.0
    ) -> None:
        """Fold as the journal grows (woken by commits, or every `poll_s` for other
        replicas'), until `stop` is set."""
        seen = 0
        while not stop.is_set():
            try:
                await self.catch_up()
            except StoreError:
                log.warning("answering requests paused: store unavailable", exc_info=True)
            seen = max(seen, notifier.latest)
            await notifier.wait_beyond(seen, timeout=poll_s)

    async def _answers(self, row: JournalRow) -> list[AnswerCommit]:
        entry = row.entry
        requests = [
            d
            for d in open_requests(await self._store.item_decisions(entry.partner, entry.item_id))
            if d.position < row.position
        ]
        commits = []
        for request in requests:
            answer = Answer(request, entry.record_id, row.position, entry.version, entry.message_id)
            payload = _answer_record(answer, self._clock.now()).SerializeToString(
                deterministic=True
            )
            event = _event_of(
                entry,
                answer_id(request, entry.record_id),
                EventKind.ANSWER,
                self._signer.sign(ANSWER_TYPE, payload),
                addressee=request.decision.consumer,
            )
            commits.append(AnswerCommit(request.position, entry.record_id, event))
        return commits


def _with_partner(decision: Decision, partner: str) -> Decision:
    return Decision(
        decision.decision_id, decision.consumer, partner, decision.item_id, decision.version,
        decision.code, decision.questions, decision.detection, decision.note,
    )  # fmt: skip


def _event_of(
    entry: JournalEntry, event_id: str, kind: EventKind, envelope: bytes, addressee: str = ""
) -> EventEntry:
    return EventEntry(
        event_id=event_id, kind=kind, partner=entry.partner, item_id=entry.item_id,
        version=entry.version, category=entry.category, hs_chapters=entry.hs_chapters,
        origin_countries=entry.origin_countries, value_amount=entry.value_amount,
        value_currency=entry.value_currency, envelope=envelope, addressee=addressee,
    )  # fmt: skip


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _decision_record(
    stored: StoredDecision, status: str, decided_at: Timestamp
) -> decisions_pb2.DecisionRecord:
    d = stored.decision
    return decisions_pb2.DecisionRecord(
        decision_id=d.decision_id,
        consumer=d.consumer,
        partner=d.partner,
        item_id=d.item_id,
        version=d.version,
        message_id=stored.message_id,
        code=decisions_pb2.DecisionCode.Value(d.code.value),
        questions=[decisions_pb2.Question(code=q.code, path=q.path) for q in d.questions],
        detection=decisions_pb2.Detection.Value(d.detection.value)
        if d.detection
        else decisions_pb2.DETECTION_UNSPECIFIED,
        note=d.note,
        decided_at=decided_at,
        item_status=status,
    )


def _answer_record(answer: Answer, now: datetime) -> decisions_pb2.AnswerRecord:
    request = answer.request.decision
    return decisions_pb2.AnswerRecord(
        decision_id=request.decision_id,
        consumer=request.consumer,
        partner=request.partner,
        item_id=request.item_id,
        asked_version=request.version,
        version=answer.version,
        message_id=answer.message_id,
        amendment_record_id=answer.amendment_record_id,
        request_code=decisions_pb2.DecisionCode.Value(request.code.value),
        answered_at=_timestamp(now),
    )
