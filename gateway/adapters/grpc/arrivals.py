"""The Arrivals service: the domestic post reports items arriving at its office of exchange.

`Report` takes a batch of arrivals and answers each with its outcome, in order (with AED or a
NO_AED record's position; `replayed` for an (item_id, arrived_at) reported before). The batch is
refused as a whole, nothing stored, with the status its refusal maps to
(gateway.adapters.grpc.status): PERMISSION_DENIED (the caller may not report arrivals),
INVALID_ARGUMENT (an arrival without item id or time, in the future, or too many arrivals),
UNAVAILABLE (store trouble: retry the same batch, it is idempotent).

Authentication is the feed's (`auth.ConsumerAuth`): with mTLS the request's `consumer` must be
one of the client certificate's consumers (empty: its only one); without TLS the name is taken
as given (loopback or `[grpc] insecure` only).
"""

from __future__ import annotations

from datetime import UTC

import grpc

from gateway.adapters.grpc.auth import ConsumerAuth
from gateway.adapters.grpc.status import translate_errors
from gateway.domain.arrivals import Arrival, ArrivalResult
from gateway.services.arrivals import ArrivalService
from gateway.wire import decisions_pb2, decisions_pb2_grpc


class ArrivalsServicer(decisions_pb2_grpc.ArrivalsServicer):
    def __init__(self, service: ArrivalService, auth: ConsumerAuth | None = None) -> None:
        self._service = service
        self._auth = auth or ConsumerAuth(None)

    @translate_errors
    async def Report(  # noqa: N802 (generated name)
        self, request: decisions_pb2.ReportArrivalsRequest, context: grpc.aio.ServicerContext
    ) -> decisions_pb2.ReportArrivalsResponse:
        consumer = self._auth.resolve_consumer(request, context)  # type: ignore[arg-type]
        self._service.consumer(consumer)
        arrivals = [arrival_from_wire(consumer, a) for a in request.arrivals]
        results = await self._service.report(consumer, arrivals)
        return decisions_pb2.ReportArrivalsResponse(outcomes=[_outcome(r) for r in results])


def arrival_from_wire(consumer: str, a: decisions_pb2.Arrival) -> Arrival:
    """The domain Arrival a wire Arrival states (arrived_at None when not set)."""
    when = a.arrived_at.ToDatetime(tzinfo=UTC) if a.HasField("arrived_at") else None
    return Arrival(item_id=a.item_id, arrived_at=when, office=a.office, reported_by=consumer)


def _outcome(result: ArrivalResult) -> decisions_pb2.ArrivalOutcome:
    return decisions_pb2.ArrivalOutcome(
        item_id=result.item_id,
        with_aed=result.with_aed,
        replayed=result.replayed,
        position=result.position,
    )
