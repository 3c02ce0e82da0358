"""The Declarations service: one item's latest accepted version and its history."""

from __future__ import annotations

from typing import Protocol

import grpc

from gateway.adapters.grpc.records import feed_record
from gateway.adapters.grpc.status import NotFound, translate_errors
from gateway.errors import InputError
from gateway.ports import JournalRow
from gateway.wire import feed_pb2, feed_pb2_grpc


class HistoryStore(Protocol):
    """The part of `gateway.ports.Store` the lookup uses."""

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]: ...


class DeclarationsService(feed_pb2_grpc.DeclarationsServicer):
    """`Get(item_id, partner?)`: every journaled version oldest first, the last as `latest`.

    INVALID_ARGUMENT without an item_id; NOT_FOUND when the journal holds no version of it
    (from that partner, when one is named).
    """

    def __init__(self, store: HistoryStore) -> None:
        self._store = store

    @translate_errors
    async def Get(  # noqa: N802 (generated name)
        self,
        request: feed_pb2.GetDeclarationRequest,
        context: grpc.aio.ServicerContext,  # noqa: ARG002 (grpc passes it)
    ) -> feed_pb2.GetDeclarationResponse:
        if not request.item_id:
            raise InputError("item_id is required")
        rows = await self._store.item_history(request.item_id, request.partner or None)
        if not rows:
            raise NotFound("item", request.item_id)
        history = [feed_record(row) for row in rows]
        return feed_pb2.GetDeclarationResponse(latest=history[-1], history=history)
