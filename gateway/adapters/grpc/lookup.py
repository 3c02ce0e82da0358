"""The Declarations service: one item's latest accepted version and its history."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from gateway.adapters.grpc.auth import ConsumerAuth
from gateway.adapters.grpc.records import feed_record
from gateway.adapters.grpc.status import translate_errors
from gateway.domain.routing import Consumer
from gateway.errors import InputError, NotFound
from gateway.ports import JournalStore
from gateway.wire import feed_pb2, feed_pb2_grpc


class DeclarationsService(feed_pb2_grpc.DeclarationsServicer):
    """`Get(item_id, partner?)`: every journaled version oldest first, the last as `latest`.

    With consumer authentication (`auth.authenticated`) only the versions the caller's routing
    rule routes to it count: "latest" is the latest version routed to the caller, and an item
    with no version routed to it is NOT_FOUND, the same answer as for an item never seen, so a
    lookup reveals nothing the caller's feed would not. A caller that is no consumer gets
    PERMISSION_DENIED. Without authentication every version counts.

    INVALID_ARGUMENT without an item_id; NOT_FOUND when the journal holds no (routed) version
    of it (from that partner, when one is named).
    """

    def __init__(
        self,
        store: JournalStore,
        consumers: Sequence[Consumer] = (),
        auth: ConsumerAuth | None = None,
    ) -> None:
        self._store = store
        self._rules = {consumer.name: consumer.rule for consumer in consumers}
        self._auth = auth or ConsumerAuth(None)

    @translate_errors
    async def Get(  # noqa: N802 (generated name)
        self,
        request: feed_pb2.GetDeclarationRequest,
        context: grpc.aio.ServicerContext,
    ) -> feed_pb2.GetDeclarationResponse:
        callers = self._auth.consumers_of(context)
        if not request.item_id:
            raise InputError("item_id is required")
        rows = await self._store.item_history(request.item_id, request.partner or None)
        if callers is not None:
            rules = [self._rules[name] for name in callers if name in self._rules]
            rows = [row for row in rows if any(rule.matches(row.entry) for rule in rules)]
        if not rows:
            raise NotFound("item", request.item_id)
        history = [feed_record(row) for row in rows]
        return feed_pb2.GetDeclarationResponse(latest=history[-1], history=history)
