"""The assembled gRPC server (lookup, keys, health, reflection, error mapping) and the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.adapters.grpc.client import consume, get_declaration, list_keys
from gateway.adapters.grpc.keys import PublicKeyInfo
from gateway.adapters.grpc.server import (
    GATEWAY_SERVICES,
    HEALTH_SERVICE,
    GrpcStore,
    build_grpc_server,
)
from gateway.adapters.grpc.status import NotFound, status_code
from gateway.domain.notify import JournalNotifier
from gateway.domain.routing import Consumer, RoutingRule
from gateway.errors import (
    AuthError,
    ConfigError,
    DuplicateMessage,
    GatewayError,
    InputError,
    MessageConflict,
    Overloaded,
    SignatureError,
    StoreError,
)
from gateway.ports import JournalRow, Store, StoredMessage
from gateway.wire import feed_pb2, feed_pb2_grpc
from tests.unit.grpc_fakes import FakeStore, make_entry

GUARD = 10.0  # seconds: only a hang guard, never a measure of speed
ITEM = "RB000000042GB"
KEYS = (
    PublicKeyInfo("gw-2025", "ed25519", b"\x01" * 32, None, datetime(2026, 1, 31, tzinfo=UTC)),
    PublicKeyInfo("gw-2026", "ed25519", b"\x02" * 32, datetime(2026, 1, 1, tzinfo=UTC), None, True),
)
EVERYTHING = Consumer("everything", RoutingRule())


class UnavailableStore(FakeStore):
    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        raise StoreError("the journal cannot be reached")


@dataclass
class Gateway:
    target: str
    store: FakeStore
    notifier: JournalNotifier


async def serve(store: FakeStore, *, max_in_flight: int = 1000) -> AsyncIterator[Gateway]:
    notifier = JournalNotifier()
    server, port = await build_grpc_server(
        store=store,
        consumers=[EVERYTHING],
        notifier=notifier,
        public_keys=lambda: KEYS,
        listen="127.0.0.1:0",
        max_in_flight=max_in_flight,
    )
    await server.start()
    try:
        yield Gateway(f"127.0.0.1:{port}", store, notifier)
    finally:
        notifier.close()
        await server.stop(grace=None)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async for running in serve(FakeStore()):
        yield running


@pytest.fixture
async def narrow_gateway() -> AsyncIterator[Gateway]:
    """A gateway allowing only two records in flight."""
    async for running in serve(FakeStore(), max_in_flight=2):
        yield running


def grpc_store_of(store: Store) -> GrpcStore:
    """Type-checked by mypy: every gateway Store serves the gRPC adapter."""
    return store


def test_the_fake_store_is_what_the_grpc_services_need() -> None:
    store: GrpcStore = FakeStore()
    assert grpc_store_of is not None
    assert store is not None


async def test_lookup_returns_latest_and_history_oldest_first(gateway: Gateway) -> None:
    gateway.store.append(
        make_entry(1, item_id=ITEM, version=1),
        make_entry(2),
        make_entry(3, item_id=ITEM, version=2),
        make_entry(4, item_id=ITEM, partner="nz-post"),
    )
    mine = await get_declaration(gateway.target, ITEM, partner="gb-royal-mail")
    everyone = await get_declaration(gateway.target, ITEM)
    assert mine is not None
    assert everyone is not None
    assert [(r.position, r.version) for r in mine.history] == [(1, 1), (3, 2)]
    assert (mine.latest.position, mine.latest.version, mine.latest.item_id) == (3, 2, ITEM)
    assert mine.latest.envelope.payload == b"decl-3"
    assert [r.position for r in everyone.history] == [1, 3, 4]


async def test_lookup_of_an_unknown_item_is_not_found(gateway: Gateway) -> None:
    gateway.store.append(make_entry(1))
    assert await get_declaration(gateway.target, "RB999999999GB") is None
    assert await get_declaration(gateway.target, ITEM, partner="nobody") is None


async def test_lookup_without_item_id_is_invalid(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = feed_pb2_grpc.DeclarationsStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Get(feed_pb2.GetDeclarationRequest(), timeout=GUARD)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_store_errors_are_unavailable_and_marked_retriable() -> None:
    async for running in serve(UnavailableStore()):
        async with grpc.aio.insecure_channel(running.target) as channel:
            stub = feed_pb2_grpc.DeclarationsStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Get(feed_pb2.GetDeclarationRequest(item_id=ITEM), timeout=GUARD)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ("retriable", "true") in tuple(caught.value.trailing_metadata() or ())


async def test_keys_lists_the_published_keys(gateway: Gateway) -> None:
    keys = await list_keys(gateway.target)
    assert [(k.kid, k.alg, k.public_key, k.active) for k in keys] == [
        ("gw-2025", "ed25519", b"\x01" * 32, False),
        ("gw-2026", "ed25519", b"\x02" * 32, True),
    ]
    assert (keys[0].not_before, keys[0].not_after) == ("", "2026-01-31T00:00:00Z")
    assert (keys[1].not_before, keys[1].not_after) == ("2026-01-01T00:00:00Z", "")


async def test_health_reports_serving_for_the_server_and_each_service(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", *GATEWAY_SERVICES):
            request = health_pb2.HealthCheckRequest(service=service)
            response = await stub.Check(request, timeout=GUARD)
            assert response.status == health_pb2.HealthCheckResponse.SERVING, service


async def test_reflection_lists_the_services(gateway: Gateway) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        async with asyncio.timeout(GUARD):
            responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert names >= {"aedgw.v1.Feed", "aedgw.v1.Declarations", "aedgw.v1.Keys", HEALTH_SERVICE}


async def test_client_acknowledges_after_processing(gateway: Gateway) -> None:
    gateway.store.append(*(make_entry(n) for n in range(1, 11)))
    seen: list[str] = []

    async def on_record(record: feed_pb2.FeedRecord) -> None:
        await asyncio.sleep(0)
        seen.append(record.record_id)

    count = await asyncio.wait_for(
        consume(gateway.target, EVERYTHING.name, on_record=on_record, ack_every=3, max_records=8),
        GUARD,
    )
    assert count == 8
    assert seen == [row.entry.record_id for row in gateway.store.rows[:8]]
    assert gateway.store.cursors[EVERYTHING.name] == 8


async def test_client_acks_partial_batches_so_a_small_window_never_stalls(
    narrow_gateway: Gateway,
) -> None:
    narrow_gateway.store.append(*(make_entry(n) for n in range(1, 8)))
    count = await asyncio.wait_for(
        consume(
            narrow_gateway.target,
            EVERYTHING.name,
            on_record=lambda _: None,
            ack_every=100,
            max_records=7,
        ),
        GUARD,
    )
    assert count == 7


async def test_client_stops_on_the_stop_event_and_when_idle(gateway: Gateway) -> None:
    stop = asyncio.Event()
    stop.set()
    assert (
        await asyncio.wait_for(
            consume(gateway.target, EVERYTHING.name, on_record=lambda _: None, stop=stop), GUARD
        )
        == 0
    )
    assert (
        await asyncio.wait_for(
            consume(gateway.target, EVERYTHING.name, on_record=lambda _: None, idle_timeout=0.01),
            GUARD,
        )
        == 0
    )


async def test_client_sees_an_unknown_consumer_as_not_found(gateway: Gateway) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(consume(gateway.target, "nobody", on_record=print), GUARD)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_build_refuses_an_address_it_cannot_bind() -> None:
    with pytest.raises(ConfigError, match=r"grpc\.listen"):
        await build_grpc_server(
            store=FakeStore(),
            consumers=[],
            notifier=JournalNotifier(),
            public_keys=lambda: (),
            listen="256.0.0.1:1",
        )


STORED = StoredMessage("gb-royal-mail", "M-1", "sha-256=:x:", 202, b"{}")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StoreError("down"), grpc.StatusCode.UNAVAILABLE),
        (DuplicateMessage(STORED), grpc.StatusCode.ALREADY_EXISTS),
        (InputError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (MessageConflict("gb-royal-mail", "M-1"), grpc.StatusCode.ALREADY_EXISTS),
        (AuthError("no"), grpc.StatusCode.PERMISSION_DENIED),
        (SignatureError("stale", "too old"), grpc.StatusCode.UNAUTHENTICATED),
        (Overloaded(), grpc.StatusCode.UNAVAILABLE),
        (ConfigError("f", "k", "p"), grpc.StatusCode.FAILED_PRECONDITION),
        (NotFound("item", ITEM), grpc.StatusCode.NOT_FOUND),
        (GatewayError("?"), grpc.StatusCode.INTERNAL),
    ],
)
def test_errors_map_to_their_most_specific_status(error: GatewayError, code: object) -> None:
    assert status_code(error) == code


async def test_notifier_wakes_a_waiter_beyond_its_position() -> None:
    notifier = JournalNotifier()
    waiter = asyncio.create_task(notifier.wait_beyond(5, timeout=GUARD))
    await asyncio.sleep(0)
    notifier.notify(5)  # not beyond: the waiter keeps waiting
    notifier.notify(6)
    assert await waiter is True
    assert await notifier.wait_beyond(5) is True  # already beyond: returns at once


async def test_notifier_times_out_and_close_releases_everyone() -> None:
    notifier = JournalNotifier()
    assert await notifier.wait_beyond(0, timeout=0) is False
    waiter = asyncio.create_task(notifier.wait_beyond(0))
    closed = asyncio.create_task(notifier.wait_closed())
    await asyncio.sleep(0)
    notifier.close()
    assert await asyncio.wait_for(waiter, GUARD) is False
    await asyncio.wait_for(closed, GUARD)
    assert await notifier.wait_beyond(0) is False
