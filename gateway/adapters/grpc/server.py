"""Assemble the gateway's gRPC server: Feed, Declarations, Keys, Decisions, Arrivals, health,
reflection.

Lifecycle (owned by the composition root): `server, port = await build_grpc_server(...)`, then
`await server.start()`; to stop, `notifier.close()` (open feed streams end with UNAVAILABLE
after persisting their acks) and then `await server.stop(grace)`. Without `notifier.close()`
open feed streams are cancelled when the grace period runs out, also persisting their acks.

Security (see `auth`): with `tls` the server speaks TLS only and requires a client certificate
issued by `tls.client_ca`; the peer certificate is the consumer identity. Without `tls` it is
plaintext and nobody is authenticated: allowed only on a loopback address, or anywhere with
`insecure=True`, and logged as a warning either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from gateway.adapters.grpc.arrivals import ArrivalsServicer
from gateway.adapters.grpc.auth import ConsumerAuth
from gateway.adapters.grpc.decisions import DecisionsServicer
from gateway.adapters.grpc.keys import KeysService, PublicKeys
from gateway.adapters.grpc.lookup import DeclarationsService
from gateway.adapters.grpc.record_feed import FeedService, FeedSettings, FeedStore
from gateway.adapters.grpc.tls import ServerTls, is_loopback, load_server_tls
from gateway.domain.notify import JournalNotifier
from gateway.domain.routing import Consumer
from gateway.errors import ConfigError
from gateway.services.arrivals import ArrivalService
from gateway.services.decisions import DecisionService
from gateway.wire import decisions_pb2, decisions_pb2_grpc, feed_pb2, feed_pb2_grpc

GATEWAY_SERVICES: tuple[str, ...] = tuple(
    service.full_name
    for module in (feed_pb2, decisions_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
)
HEALTH_SERVICE: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

log = logging.getLogger(__name__)


class GrpcStore(FeedStore, Protocol):
    """The store roles the gRPC services use: the journal (feeds and lookups) and the consumer
    cursors (every Store satisfies it)."""


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
    on_sent: Callable[[str, int], None] | None = None,
    tls: ServerTls | None = None,
    client_cert_names: Mapping[str, str] | None = None,
    insecure: bool = False,
    decisions: DecisionService | None = None,
    arrivals: ArrivalService | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A configured, bound, not yet started server and the port it is bound to.

    `listen` is "host:port" (port 0 picks a free one). Health reports SERVING for "" and for
    each gateway service. `client_cert_names` maps a consumer to the certificate name that
    identifies it (default: its own name); it matters only with `tls`. Raises ConfigError
    when the address cannot be bound, or is not loopback while plaintext and not `insecure`.
    """
    if tls is None:
        _check_plaintext(listen, insecure=insecure)
        auth = ConsumerAuth(None)
    else:
        names = dict(client_cert_names or {})
        auth = ConsumerAuth({c.name: names.get(c.name, c.name) for c in consumers})
    server = grpc.aio.server(interceptors=tuple(interceptors))
    settings = FeedSettings(
        max_in_flight=max_in_flight, poll_interval=poll_interval, on_sent=on_sent
    )
    feed_pb2_grpc.add_FeedServicer_to_server(
        FeedService(store, consumers, notifier, settings, auth.resolve_consumer), server
    )
    feed_pb2_grpc.add_DeclarationsServicer_to_server(
        DeclarationsService(store, consumers, auth), server
    )
    feed_pb2_grpc.add_KeysServicer_to_server(KeysService(public_keys, auth), server)
    if decisions is not None:
        decisions_pb2_grpc.add_DecisionsServicer_to_server(
            DecisionsServicer(decisions, auth), server
        )
    if arrivals is not None:
        decisions_pb2_grpc.add_ArrivalsServicer_to_server(ArrivalsServicer(arrivals, auth), server)
    await _add_health(server)
    reflection.enable_server_reflection(
        (*GATEWAY_SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME), server
    )
    return server, _bind(server, listen, tls)


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """TLS that requires (and verifies) a client certificate issued by the consumer CA."""
    return grpc.ssl_server_credentials(
        [(tls.private_key, tls.cert_chain)],
        root_certificates=tls.client_ca,
        require_client_auth=True,
    )


def _check_plaintext(listen: str, *, insecure: bool) -> None:
    if not is_loopback(listen) and not insecure:
        raise ConfigError(
            "settings",
            "grpc.listen",
            f"{listen!r} is not a loopback address and the gRPC server has no TLS: every feed"
            " would be open to anyone who can reach it",
            "set [grpc] tls_cert, tls_key and client_ca (consumers authenticate with client"
            " certificates), or listen on 127.0.0.1, or set [grpc] insecure = true",
        )
    log.warning(
        "gRPC without TLS: consumer identity is NOT authenticated (any caller may subscribe"
        " as any consumer); set [grpc] tls_cert, tls_key and client_ca to require client"
        " certificates",
        extra={"grpc_listen": listen, "insecure": insecure},
    )


async def _add_health(server: grpc.aio.Server) -> None:
    health = health_aio.HealthServicer()
    for service in ("", *GATEWAY_SERVICES):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)


def _bind(server: grpc.aio.Server, listen: str, tls: ServerTls | None) -> int:
    try:
        if tls is None:
            port: int = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, server_credentials(tls))
    except RuntimeError as exc:
        raise ConfigError("settings", "grpc.listen", f"cannot bind {listen!r}: {exc}") from exc
    if port == 0:
        raise ConfigError("settings", "grpc.listen", f"cannot bind {listen!r}")
    return port


class _TlsPaths(Protocol):
    @property
    def tls_cert(self) -> Path | None: ...
    @property
    def tls_key(self) -> Path | None: ...
    @property
    def client_ca(self) -> Path | None: ...


class _GrpcSettingsOwner(Protocol):
    @property
    def grpc(self) -> _TlsPaths: ...
    @property
    def config_file(self) -> Path | None: ...


def grpc_server_tls(settings: _GrpcSettingsOwner) -> ServerTls | None:
    """The server's TLS material from `Settings` ([grpc] tls_cert, tls_key, client_ca), checked;
    None when none of the three is set. Raises ConfigError naming the configuration file."""
    paths = (settings.grpc.tls_cert, settings.grpc.tls_key, settings.grpc.client_ca)
    if all(path is None for path in paths):
        return None
    source = str(settings.config_file) if settings.config_file else "settings"

    def fail(key: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError(source, f"grpc.{key}", problem, fix)

    cert, key, ca = paths
    if cert is None or key is None or ca is None:
        raise fail(
            "tls_cert", "tls_cert, tls_key and client_ca go together", "set all three or none"
        )
    return load_server_tls(cert, key, ca, fail)
