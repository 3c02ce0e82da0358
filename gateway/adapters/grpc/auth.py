"""Who is calling: the consumer identity of a gRPC peer.

With TLS (`[grpc] tls_cert`, `tls_key`, `client_ca`) the server requires a client certificate
issued by the consumer CA; the handshake refuses anyone else (no certificate, another CA, an
expired or not yet valid certificate). A verified certificate acts as every configured consumer
whose `client_cert_name` (default: the consumer's name) is one of its names (subject CN, DNS or
URI subject alternative names, see `tls.certificate_names`). Every gateway RPC then needs such a
consumer, else PERMISSION_DENIED:

- Feed: `Subscribe.consumer` must be one of the caller's consumers (empty: the caller's only
  one); acks travel on that stream, so a consumer acknowledges only its own cursor.
- Declarations: only versions the caller's routing rule(s) route to it are returned; an item
  with none is NOT_FOUND, exactly like an item the gateway never saw (no existence leak).
- Keys: any caller with a consumer identity.

Without TLS (`ConsumerAuth(None)`) nobody is authenticated: the name in `Subscribe` is taken as
given and lookups are not restricted. The server allows that only on loopback or with
`[grpc] insecure = true`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.adapters.grpc.tls import certificate_names
from gateway.errors import ConsumerDenied
from gateway.wire import feed_pb2

PEM_CERT_PROPERTY = "x509_pem_cert"


class ConsumerAuth:
    """Maps a peer to the consumers it may act as.

    `cert_names` maps each consumer to its certificate name; None means no TLS (unauthenticated).
    """

    def __init__(self, cert_names: Mapping[str, str] | None) -> None:
        self._consumers_by_name: dict[str, set[str]] | None = None
        if cert_names is not None:
            self._consumers_by_name = {}
            for consumer, name in cert_names.items():
                self._consumers_by_name.setdefault(name, set()).add(consumer)

    @property
    def authenticated(self) -> bool:
        return self._consumers_by_name is not None

    def consumers_of(self, context: Any) -> frozenset[str] | None:
        """The consumers the caller may act as (never empty), or None when unauthenticated.

        Raises ConsumerDenied when the caller's certificate names no configured consumer.
        """
        if self._consumers_by_name is None:
            return None
        names = peer_certificate_names(context)
        consumers = frozenset(
            consumer for name in names for consumer in self._consumers_by_name.get(name, ())
        )
        if not consumers:
            shown = ", ".join(sorted(names)) or "none"
            raise ConsumerDenied(
                f"the client certificate (names: {shown}) is not any configured consumer's"
            )
        return consumers

    def resolve_consumer(self, subscribe: feed_pb2.Subscribe, context: Any) -> str:
        """The consumer a Subscribe stream is for (the feed's `ConsumerResolver`)."""
        allowed = self.consumers_of(context)
        if allowed is None:
            return subscribe.consumer
        if not subscribe.consumer and len(allowed) == 1:
            return next(iter(allowed))
        if subscribe.consumer not in allowed:
            raise ConsumerDenied(
                f"this client certificate may not subscribe as {subscribe.consumer!r}"
                f" (it is {', '.join(sorted(allowed))})"
            )
        return subscribe.consumer

    def check(self, context: Any) -> None:
        """Raise ConsumerDenied unless the caller is a consumer (or nobody is authenticated)."""
        self.consumers_of(context)


def peer_certificate_names(context: Any) -> frozenset[str]:
    """The names of the peer's verified certificate (empty without one)."""
    auth: Mapping[str, Any] = context.auth_context()
    pems = auth.get(PEM_CERT_PROPERTY) or ()
    if not pems:
        return frozenset()
    return certificate_names(pems[0])
