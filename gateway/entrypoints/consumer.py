"""A verifying consumer (`gateway consume`, the demo, tests): every record's signature checked.

Keys come from the gateway's gRPC Keys service (or a JWKS); a record signed by a key not yet
known triggers one refresh, so a key rotation during consumption is followed.

A feed carries four record kinds (FeedRecord.kind, and the envelope's payload type says the
same): declarations, decisions, answers to requests and NO_AED events; each is verified and
decoded as its kind, and a record whose payload type is not its kind's fails.

Records come signed per record or, per message, under one Merkle root signature with an
inclusion proof each (gateway.adapters.crypto.dsse); both verify. The verifier's `cache` holds
the root signatures already checked, so a message's records cost one signature check between
them and a hash path each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from google.protobuf.json_format import MessageToDict

from gateway.adapters.crypto.dsse import EnvelopeVerifier, RootCache
from gateway.adapters.crypto.keys import VerificationKey
from gateway.adapters.crypto.raw import public_key_from_raw
from gateway.adapters.grpc.client import consume, list_keys
from gateway.domain.decisions import decision_event_id
from gateway.domain.records import DECLARATION_TYPE
from gateway.errors import SignatureError
from gateway.services.decisions import ANSWER_TYPE, DECISION_TYPE, NO_AED_TYPE
from gateway.wire import feed_pb2
from gateway.wire.decisions_pb2 import AnswerRecord, DecisionRecord, NoAedRecord
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.feed_pb2 import FeedRecord

#: What a verified feed record holds, by kind.
Payload = Declaration | DecisionRecord | AnswerRecord | NoAedRecord
_KINDS: dict[int, tuple[str, type[Payload], str]] = {
    feed_pb2.DECLARATION: (DECLARATION_TYPE, Declaration, "declaration"),
    feed_pb2.DECISION: (DECISION_TYPE, DecisionRecord, "decision"),
    feed_pb2.ANSWER: (ANSWER_TYPE, AnswerRecord, "answer"),
    feed_pb2.NO_AED: (NO_AED_TYPE, NoAedRecord, "noAed"),
}

GATEWAY = "gateway"


@dataclass
class ConsumeResult:
    received: int = 0
    verified: int = 0
    failed: int = 0
    record_ids: list[str] = field(default_factory=list)
    keyids: set[str] = field(default_factory=set)


async def grpc_keys(target: str) -> dict[str, VerificationKey]:
    """The gateway's published keys, from its gRPC Keys service."""
    return {
        k.kid: VerificationKey(
            k.kid,
            k.alg,
            public_key_from_raw(k.alg, k.public_key),
            GATEWAY,
            _when(k.not_before),
            _when(k.not_after),
        )
        for k in await list_keys(target)
    }


def _when(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class RecordVerifier:
    """Verifies FeedRecords; refreshes keys once when a record names an unknown key.

    Each distinct root signature (statement, keyid, signature) is verified once: `cache`.
    """

    def __init__(
        self,
        keys: Mapping[str, VerificationKey],
        target: str | None = None,
        cache: RootCache | None = None,
    ) -> None:
        self._verifier = EnvelopeVerifier(dict(keys), cache)
        self._target = target

    @property
    def cache(self) -> RootCache:
        return self._verifier.cache

    async def verify(self, record: FeedRecord) -> tuple[str, Declaration]:
        """(keyid, declaration) or SignatureError (also for a record of another kind)."""
        keyid, payload = await self.verify_any(record)
        if not isinstance(payload, Declaration):
            raise SignatureError("malformed", f"a {type(payload).__name__}, not a declaration")
        return keyid, payload

    async def verify_any(self, record: FeedRecord) -> tuple[str, Payload]:
        """(keyid, the record's payload decoded as its kind) or SignatureError."""
        try:
            kind, payload, keyid = self._verifier.verify(record.envelope)
        except SignatureError as exc:
            if exc.reason != "unknown-key" or self._target is None:
                raise
            self._verifier.keys = await grpc_keys(self._target)
            self._verifier.cache.clear()  # what a withdrawn key signed must not stay accepted
            kind, payload, keyid = self._verifier.verify(record.envelope)
        expected, message_type, _ = _KINDS.get(record.kind, ("", Declaration, ""))
        if kind != expected:
            raise SignatureError("malformed", f"unexpected payload type {kind!r}")
        message = message_type.FromString(payload)
        if isinstance(message, Declaration):
            if message.declaration_id != record.record_id:
                raise SignatureError(
                    "malformed", "record id differs from the signed declaration id"
                )
        elif isinstance(message, DecisionRecord):
            if decision_event_id(message.consumer, message.decision_id) != record.record_id:
                raise SignatureError("malformed", "record id differs from the signed decision's")
        elif message.item_id != record.item_id:
            raise SignatureError("malformed", "item id differs from the signed record's")
        return keyid, message


async def consume_verified(
    target: str,
    consumer: str,
    out: TextIO | None,
    *,
    max_records: int | None = None,
    idle: float | None = None,
    keys: Mapping[str, VerificationKey] | None = None,
    on_declaration: Callable[[FeedRecord, Declaration], None] | None = None,
    on_event: Callable[[FeedRecord, Payload], None] | None = None,
) -> ConsumeResult:
    """Receive `consumer`'s feed, verify each record, write it as a JSON line to `out`."""
    verifier = RecordVerifier(keys if keys is not None else await grpc_keys(target), target)
    result = ConsumeResult()

    async def handle(record: FeedRecord) -> None:
        result.received += 1
        try:
            keyid, payload = await verifier.verify_any(record)
        except SignatureError as exc:
            result.failed += 1
            if out is not None:
                out.write(json.dumps({"position": record.position, "error": str(exc)}) + "\n")
            return
        result.verified += 1
        result.record_ids.append(record.record_id)
        result.keyids.add(keyid)
        if isinstance(payload, Declaration):
            if on_declaration is not None:
                on_declaration(record, payload)
        elif on_event is not None:
            on_event(record, payload)
        if out is not None:
            line = {
                "position": record.position,
                "recordId": record.record_id,
                "keyid": keyid,
                _KINDS[record.kind][2]: MessageToDict(payload),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")

    await consume(target, consumer, on_record=handle, idle_timeout=idle, max_records=max_records)
    return result
