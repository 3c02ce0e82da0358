"""Assemble the gateway's gRPC server: Feed, Declarations, Keys, health and reflection.

Lifecycle (owned by the composition root): `server, port = await build_grpc_server(...)`, then
`await server.start()`; to stop, `notifier.close()` (open feed streams end with UNAVAILABLE
after persisting their acks) and then `await server.stop(grace)`. Without `notifier.close()`
open feed streams are cancelled when the grace period runs out, also persisting their acks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from gateway.adapters.grpc.feed import FeedService, FeedSettings, FeedStore
from gateway.adapters.grpc.keys import KeysService, PublicKeys
from gateway.adapters.grpc.lookup import DeclarationsService, HistoryStore
from gateway.domain.notify import JournalNotifier
from gateway.domain.routing import Consumer
from gateway.errors import ConfigError
from gateway.wire import feed_pb2, feed_pb2_grpc

GATEWAY_SERVICES: tuple[str, ...] = tuple(
    service.full_name for service in feed_pb2.DESCRIPTOR.services_by_name.values()
)
HEALTH_SERVICE: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class GrpcStore(FeedStore, HistoryStore, Protocol):
    """What the gRPC services need of `gateway.ports.Store` (every Store satisfies it)."""


async def build_grpc_server(
    *,
    store: GrpcStore,
    consumers: Sequence[Consumer],
    notifier: JournalNotifier,
    public_keys: PublicKeys,
    listen: str,
    max_in_flight: int = 1000,
    poll_interval: float = 0.5,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    on_sent: Callable[[str], None] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A configured, bound, not yet started server and the port it is bound to.

    `listen` is "host:port" (port 0 picks a free one). Health reports SERVING for "" and for
    each gateway service. Raises ConfigError when the address cannot be bound.
    """
    server = grpc.aio.server(interceptors=tuple(interceptors))
    settings = FeedSettings(
        max_in_flight=max_in_flight, poll_interval=poll_interval, on_sent=on_sent
    )
    feed_pb2_grpc.add_FeedServicer_to_server(
        FeedService(store, consumers, notifier, settings), server
    )
    feed_pb2_grpc.add_DeclarationsServicer_to_server(DeclarationsService(store), server)
    feed_pb2_grpc.add_KeysServicer_to_server(KeysService(public_keys), server)
    await _add_health(server)
    reflection.enable_server_reflection(
        (*GATEWAY_SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME), server
    )
    return server, _bind(server, listen)


async def _add_health(server: grpc.aio.Server) -> None:
    health = health_aio.HealthServicer()
    for service in ("", *GATEWAY_SERVICES):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)


def _bind(server: grpc.aio.Server, listen: str) -> int:
    try:
        port: int = server.add_insecure_port(listen)
    except RuntimeError as exc:
        raise ConfigError("settings", "grpc.listen", f"cannot bind {listen!r}: {exc}") from exc
    if port == 0:
        raise ConfigError("settings", "grpc.listen", f"cannot bind {listen!r}")
    return port
