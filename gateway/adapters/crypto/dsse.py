"""DSSE envelopes (Dead Simple Signing Envelope) around the gateway's canonical records.

Each signature is over the pre-authentication encoding

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with LEN the ASCII decimal byte length, so neither the type nor the body can be shifted into the
other. The envelope travels as the protobuf `aedgw.v1.SignedEnvelope`; a consumer checks it
offline with the keys from the JWKS (`keys_from_jwks`).

Envelopes carry no signing time, so `verify_envelope` does not look at a key's validity window:
a journal record stays verifiable for as long as its key is published (see keyring.rotate).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Protocol

from google.protobuf.message import DecodeError

from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, VerificationKey
from gateway.errors import SignatureError
from gateway.wire.envelope_pb2 import Signature, SignedEnvelope

__all__ = [
    "ActiveKeySource",
    "DsseSigner",
    "keys_from_jwks",
    "pae",
    "sign_json_envelope",
    "verify_envelope",
    "verify_json_envelope",
]


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of (payload_type, payload)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


class ActiveKeySource(Protocol):
    """Anything that names the key to sign with now (the Keyring does)."""

    @property
    def active(self) -> SigningKey: ...


class DsseSigner:
    """gateway.ports.Signer over a key source: each call signs with the source's active key.

    Given a Keyring, a rotation takes effect at the next `sign` without rebuilding the signer.
    """

    __slots__ = ("_source",)

    def __init__(self, source: ActiveKeySource | SigningKey) -> None:
        self._source = source

    def _key(self) -> SigningKey:
        source = self._source
        return source if isinstance(source, SigningKey) else source.active

    @property
    def keyid(self) -> str:
        return self._key().keyid

    def sign(self, payload_type: str, payload: bytes) -> bytes:
        """A serialized SignedEnvelope with one signature by the active key."""
        key = self._key()
        envelope = SignedEnvelope(
            payload=payload,
            payload_type=payload_type,
            signatures=[Signature(keyid=key.keyid, sig=key.sign(pae(payload_type, payload)))],
        )
        return envelope.SerializeToString(deterministic=True)


def verify_envelope(
    data: bytes | SignedEnvelope, keys: Mapping[str, VerificationKey]
) -> tuple[str, bytes]:
    """Return (payload_type, payload) when a signature by one of `keys` verifies.

    The envelope is accepted when any of its signatures whose keyid is in `keys` verifies.
    Raises SignatureError: 'malformed' (not a SignedEnvelope, no signatures, no payload type),
    'unknown-key' (no signature by a key in `keys`), 'bad-signature' (every signature by a
    known key fails).
    """
    envelope = _parse(data)
    message = pae(envelope.payload_type, envelope.payload)
    known = [s for s in envelope.signatures if s.keyid in keys]
    if not known:
        kids = ", ".join(repr(s.keyid) for s in envelope.signatures)
        raise SignatureError("unknown-key", f"no signature by a known key (signed by {kids})")
    if any(keys[s.keyid].verify(message, s.sig) for s in known):
        return envelope.payload_type, envelope.payload
    raise SignatureError(
        "bad-signature", "the envelope's signature does not verify", keyid=known[0].keyid
    )


def _parse(data: bytes | SignedEnvelope) -> SignedEnvelope:
    if isinstance(data, SignedEnvelope):
        envelope = data
    else:
        envelope = SignedEnvelope()
        try:
            envelope.ParseFromString(data)
        except DecodeError as exc:
            raise SignatureError("malformed", f"not a SignedEnvelope: {exc}") from exc
    if not envelope.signatures:
        raise SignatureError("malformed", "the envelope carries no signature")
    if not envelope.payload_type:
        raise SignatureError("malformed", "the envelope has no payload type")
    return envelope


def sign_json_envelope(signer: DsseSigner, payload_type: str, payload: bytes) -> bytes:
    """The DSSE envelope in its standard JSON form (payload and signatures base64), as bytes.

    For documents read by partners outside gRPC (share reports): the same PAE and keys as the
    protobuf envelopes, so the JWKS verifies both.
    """
    envelope = SignedEnvelope.FromString(signer.sign(payload_type, payload))
    doc = {
        "payloadType": envelope.payload_type,
        "payload": base64.b64encode(envelope.payload).decode(),
        "signatures": [
            {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in envelope.signatures
        ],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def verify_json_envelope(
    data: bytes | Mapping[str, object], keys: Mapping[str, VerificationKey]
) -> tuple[str, bytes]:
    """(payload_type, payload) of a JSON DSSE envelope signed by one of `keys`.

    Raises SignatureError ('malformed', 'unknown-key', 'bad-signature').
    """
    try:
        doc: Any = json.loads(data) if isinstance(data, bytes) else data
        envelope = SignedEnvelope(
            payload=base64.b64decode(str(doc["payload"]), validate=True),
            payload_type=str(doc["payloadType"]),
            signatures=[
                Signature(keyid=str(s["keyid"]), sig=base64.b64decode(str(s["sig"]), validate=True))
                for s in doc["signatures"]
            ],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError("malformed", f"not a DSSE JSON envelope: {exc}") from exc
    return verify_envelope(envelope, keys)
