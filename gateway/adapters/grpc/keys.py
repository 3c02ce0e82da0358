"""The Keys service: the gateway's public keys, so consumers verify records offline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from gateway.adapters.grpc.auth import ConsumerAuth
from gateway.adapters.grpc.status import translate_errors
from gateway.wire import feed_pb2, feed_pb2_grpc


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """One gateway signing key as published. Datetimes are timezone-aware; None is unbounded."""

    kid: str
    alg: str  # "ed25519"
    public_key: bytes  # raw key bytes (32 for Ed25519)
    not_before: datetime | None = None
    not_after: datetime | None = None
    active: bool = False  # the key new signatures are made with


PublicKeys = Callable[[], Sequence[PublicKeyInfo]]
"""Supplies the current keys; called on every request, so a reloaded keyring shows at once."""


def rfc3339(moment: datetime | None) -> str:
    """`moment` in UTC as RFC 3339 with a `Z` ("" for None); a naive datetime is taken as UTC."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def public_key_message(key: PublicKeyInfo) -> feed_pb2.PublicKey:
    return feed_pb2.PublicKey(
        kid=key.kid,
        alg=key.alg,
        public_key=key.public_key,
        not_before=rfc3339(key.not_before),
        not_after=rfc3339(key.not_after),
        active=key.active,
    )


class KeysService(feed_pb2_grpc.KeysServicer):
    """`List()`: every key `public_keys()` returns, in its order.

    With consumer authentication, only to a caller whose certificate is a consumer's.
    """

    def __init__(self, public_keys: PublicKeys, auth: ConsumerAuth | None = None) -> None:
        self._public_keys = public_keys
        self._auth = auth or ConsumerAuth(None)

    @translate_errors
    async def List(  # noqa: N802 (generated name)
        self,
        request: feed_pb2.ListKeysRequest,  # noqa: ARG002
        context: grpc.aio.ServicerContext,
    ) -> feed_pb2.ListKeysResponse:
        self._auth.check(context)
        keys = [public_key_message(key) for key in self._public_keys()]
        return feed_pb2.ListKeysResponse(keys=keys)
