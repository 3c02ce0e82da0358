"""The Decisions service: consumers report decisions on the items routed to them.

`Decide` is one decision, answered with its position and the item's status, or ended with the
status its refusal maps to (gateway.adapters.grpc.status): PERMISSION_DENIED (the caller may
not decide, or the item is not routed to it), NOT_FOUND (no such item or version),
FAILED_PRECONDITION (a newer version was accepted since: decide on it), ALREADY_EXISTS (the
decision id names another decision of the caller's), INVALID_ARGUMENT (malformed), UNAVAILABLE
(store trouble: retry).

`DecideStream` is the bulk form: the client streams DecideBatches (up to `BATCH` decisions
each), the server answers each with a DecideOutcomes in the same order, one outcome per decision
(a refused decision is answered with its status code and reason, and the stream goes on). A
batch is decided in one store transaction, and the next one is checked and signed while it is
stored, so a stream acknowledges thousands per second.

Authentication is the feed's (`auth.ConsumerAuth`): with mTLS the request's `consumer` must be
one of the client certificate's consumers (empty: its only one); without TLS the name is taken
as given (loopback or `[grpc] insecure` only).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence

import grpc

from gateway.adapters.grpc.auth import ConsumerAuth
from gateway.adapters.grpc.status import abort_with, status_code, translate_errors
from gateway.domain.decisions import Decision, DecisionCode, DecisionOutcome, Detection, Question
from gateway.errors import GatewayError, InputError
from gateway.services.decisions import DecisionService
from gateway.wire import decisions_pb2, decisions_pb2_grpc

BATCH = 1000  # most decisions in one DecideBatch
PIPELINE = 8  # DecideBatches of one stream being decided at once


class DecisionsServicer(decisions_pb2_grpc.DecisionsServicer):
    def __init__(self, service: DecisionService, auth: ConsumerAuth | None = None) -> None:
        self._service = service
        self._auth = auth or ConsumerAuth(None)

    @translate_errors
    async def Decide(  # noqa: N802 (generated name)
        self, request: decisions_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> decisions_pb2.DecideResponse:
        outcome = await self._service.decide(self._decision(request, context))
        return _response(outcome)

    async def DecideStream(  # type: ignore[override]  # noqa: N802 (generated name)
        self,
        request_iterator: AsyncIterator[decisions_pb2.DecideBatch],
        context: grpc.aio.ServicerContext,
    ) -> None:
        """Answer each DecideBatch in order. The requests that arrive while a batch is stored
        are checked and signed meanwhile (at most `PIPELINE` batches in flight): a decision
        that raced one in the batch before it is re-read and decided again by the service."""
        in_flight: deque[asyncio.Task[list[decisions_pb2.DecideOutcome]]] = deque()
        try:
            async for batch in request_iterator:
                requests = list(batch.requests)
                if len(requests) > BATCH:
                    raise InputError(f"a DecideBatch holds at most {BATCH} decisions")
                in_flight.append(asyncio.create_task(self._decide_batch(requests, context)))
                while len(in_flight) >= PIPELINE:
                    outcomes = await in_flight.popleft()
                    await context.write(decisions_pb2.DecideOutcomes(outcomes=outcomes))
            while in_flight:
                outcomes = await in_flight.popleft()
                await context.write(decisions_pb2.DecideOutcomes(outcomes=outcomes))
        except GatewayError as exc:  # store trouble (UNAVAILABLE), an oversized batch
            await abort_with(context, exc)
        finally:
            for task in in_flight:
                task.cancel()
            for task in in_flight:
                with contextlib.suppress(asyncio.CancelledError, GatewayError):
                    await task

    async def _decide_batch(
        self, requests: Sequence[decisions_pb2.DecideRequest], context: grpc.aio.ServicerContext
    ) -> list[decisions_pb2.DecideOutcome]:
        answers: list[decisions_pb2.DecideOutcome | None] = [None] * len(requests)
        decisions: list[Decision] = []
        where: list[int] = []
        for i, request in enumerate(requests):
            try:
                decisions.append(self._decision(request, context))
                where.append(i)
            except GatewayError as exc:
                answers[i] = _refused(request.decision.decision_id, exc)
        results = await self._service.decide_many(decisions)
        for i, result in zip(where, results, strict=True):
            decision_id = requests[i].decision.decision_id
            if isinstance(result, GatewayError):
                answers[i] = _refused(decision_id, result)
            else:
                answers[i] = decisions_pb2.DecideOutcome(
                    response=_response(result), decision_id=decision_id
                )
        return [a for a in answers if a is not None]

    def _decision(
        self, request: decisions_pb2.DecideRequest, context: grpc.aio.ServicerContext
    ) -> Decision:
        consumer = self._auth.resolve_consumer(request, context)  # type: ignore[arg-type]
        self._service.consumer(consumer)
        return decision_from_wire(consumer, request.decision)


_CODES = {decisions_pb2.DecisionCode.Value(c.value): c for c in DecisionCode}
_DETECTIONS = {decisions_pb2.Detection.Value(d.value): d for d in Detection}


def decision_from_wire(consumer: str, d: decisions_pb2.Decision) -> Decision:
    """The domain Decision a wire Decision states (InputError for unknown enum values)."""
    code = _CODES.get(d.code)
    if code is None:
        known = ", ".join(c.value for c in DecisionCode)
        raise InputError(f"code is required and must be one of {known} (got {d.code})")
    detection = None
    if d.detection != decisions_pb2.DETECTION_UNSPECIFIED:
        detection = _DETECTIONS.get(d.detection)
        if detection is None:
            raise InputError(f"unknown detection {d.detection}")
    return Decision(
        decision_id=d.decision_id,
        consumer=consumer,
        partner=d.partner,
        item_id=d.item_id,
        version=d.version,
        code=code,
        questions=tuple(Question(q.code, q.path) for q in d.questions),
        detection=detection,
        note=d.note,
    )


def _response(outcome: DecisionOutcome) -> decisions_pb2.DecideResponse:
    return decisions_pb2.DecideResponse(
        decision_id=outcome.decision.decision.decision_id,
        position=outcome.decision.position,
        replayed=outcome.replayed,
        item_status=outcome.status,
    )


def _refused(decision_id: str, error: GatewayError) -> decisions_pb2.DecideOutcome:
    return decisions_pb2.DecideOutcome(
        code=status_code(error).value[0], error=str(error), decision_id=decision_id
    )
