"""DSSE envelopes (Dead Simple Signing Envelope) around the gateway's canonical records.

Signatures are over the pre-authentication encoding

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with LEN the ASCII decimal byte length, so neither the type nor the body can be shifted into the
other. The envelope travels as the protobuf `aedgw.v1.SignedEnvelope`; a consumer checks it
offline with the keys from the JWKS (`keys_from_jwks`). It comes in two forms:

- **per record** (`DsseSigner.sign`): `signatures` over PAE(payload_type, payload). Share
  reports, and every journal record written before the Merkle form, are signed so.
- **per message, Merkle form** (`DsseSigner.sign_batch`, what the pipeline seals a message's
  records with): one signature per message instead of one per record. Each record's leaf is
  `SHA-256(0x00 || PAE(payload_type, payload))`; the leaves, in the message's order, make an
  RFC 9162 tree (interior nodes `SHA-256(0x01 || left || right)`, gateway.domain.merkle); the
  active key signs once the DSSE PAE of

      ROOT_TYPE = "application/vnd.aedgw.merkle-root.v1+json"
      statement = {"alg":"rfc9162-sha256","root":"<64 lowercase hex>","treeSize":<n>}

  (exactly these bytes: keys in this order, no whitespace, `root_statement`). Each record's
  envelope keeps its payload and payload_type, leaves `signatures` empty, and carries
  `inclusion` (leaf index, tree size, audit path) and `root_signatures`. A verifier hashes the
  leaf, walks the path to a root (RFC 9162 §2.1.3.2), rebuilds the statement and checks a root
  signature: what a record proves offline is unchanged (this payload, this type, signed by this
  key), and no record can be moved to another index, tree size or message.

`verify_envelope` accepts both forms. Records of one message share one root signature, so an
`EnvelopeVerifier` (or a `RootCache` passed to `verify_envelope`) checks each distinct
(statement, keyid, signature) once and then costs a hash path per record.

Envelopes carry no signing time, so verification does not look at a key's validity window:
a journal record stays verifiable for as long as its key is published (see keyring.rotate).
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol

from google.protobuf.message import DecodeError

from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, VerificationKey
from gateway.domain.merkle import HASH_SIZE, MerkleTree, leaf_hash, root_from_path
from gateway.errors import SignatureError
from gateway.ports import Signer
from gateway.wire.envelope_pb2 import Signature, SignedEnvelope

ROOT_TYPE: Final = "application/vnd.aedgw.merkle-root.v1+json"
MERKLE_ALG: Final = "rfc9162-sha256"

__all__ = [
    "MERKLE_ALG",
    "ROOT_TYPE",
    "ActiveKeySource",
    "DsseSigner",
    "EnvelopeVerifier",
    "RootCache",
    "RootSeal",
    "Verified",
    "keys_from_jwks",
    "pae",
    "record_leaf",
    "root_statement",
    "sign_json_envelope",
    "verify_envelope",
    "verify_json_envelope",
]


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of (payload_type, payload)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def record_leaf(payload_type: str, payload: bytes) -> bytes:
    """A record's Merkle leaf hash: SHA-256(0x00 || PAE(payload_type, payload))."""
    return leaf_hash(pae(payload_type, payload))


def root_statement(root: bytes, tree_size: int) -> bytes:
    """The canonical statement signed for a Merkle root (the payload of a ROOT_TYPE PAE)."""
    if len(root) != HASH_SIZE or tree_size < 1:
        raise ValueError("a root statement needs a 32-byte root and at least one leaf")
    return b'{"alg":"%b","root":"%b","treeSize":%d}' % (
        MERKLE_ALG.encode(),
        root.hex().encode(),
        tree_size,
    )


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

    def sign_batch(self, items: Sequence[tuple[str, bytes]]) -> list[bytes]:
        """Serialized SignedEnvelopes in the Merkle form, one per (payload_type, payload) in
        order, under ONE signature by the active key over the root of their tree."""
        if not items:
            return []
        seal = self.seal_root([record_leaf(kind, payload) for kind, payload in items])
        return [seal.envelope(index, kind, payload) for index, (kind, payload) in enumerate(items)]

    def leaf(self, payload_type: str, payload: bytes) -> bytes:
        """The record's Merkle leaf hash (`record_leaf`)."""
        return record_leaf(payload_type, payload)

    def seal_root(self, leaves: Sequence[bytes]) -> RootSeal:
        """Sign the root of the tree over `leaves` (record leaf hashes, in order) with the active
        key; the RootSeal then makes each record's envelope from its payload, one at a time (a
        large message's payloads need not all be held at once)."""
        key = self._key()
        tree = MerkleTree(leaves)
        statement = root_statement(tree.root, tree.size)
        signature = Signature(keyid=key.keyid, sig=key.sign(pae(ROOT_TYPE, statement)))
        # The shared root signature (field 5, the last) is serialized once and appended: protobuf
        # concatenation is a merge, and the bytes equal the whole envelope's deterministic form.
        tail = SignedEnvelope(root_signatures=[signature]).SerializeToString(deterministic=True)
        return RootSeal(tree, tail)


class RootSeal:
    """One message's signed Merkle root (gateway.ports.RootSeal)."""

    __slots__ = ("_tail", "_tree")

    def __init__(self, tree: MerkleTree, tail: bytes) -> None:
        self._tree, self._tail = tree, tail

    def envelope(self, index: int, payload_type: str, payload: bytes) -> bytes:
        """The serialized SignedEnvelope of leaf `index`, whose record is (type, payload)."""
        envelope = SignedEnvelope(payload=payload, payload_type=payload_type)
        proof = envelope.inclusion
        proof.leaf_index = index
        proof.tree_size = self._tree.size
        proof.audit_path.extend(self._tree.audit_path(index))
        return envelope.SerializeToString(deterministic=True) + self._tail


class Verified(NamedTuple):
    payload_type: str
    payload: bytes
    keyid: str  # the key whose signature verified (over the record, or over its root)


class RootCache:
    """Root signatures already verified, as (statement, keyid, signature); bounded, least
    recently used first out. A hit stands for a signature check only when the keyid is still
    among the verifier's keys (checked by the caller)."""

    __slots__ = ("_max", "_seen")

    def __init__(self, max_entries: int = 4096) -> None:
        self._seen: OrderedDict[tuple[bytes, str, bytes], None] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._seen)

    def hit(self, entry: tuple[bytes, str, bytes]) -> bool:
        if entry in self._seen:
            self._seen.move_to_end(entry)
            return True
        return False

    def add(self, entry: tuple[bytes, str, bytes]) -> None:
        self._seen[entry] = None
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        self._seen.clear()


class EnvelopeVerifier:
    """Verifies envelopes of both forms with `keys`, each distinct root signature once."""

    __slots__ = ("cache", "keys")

    def __init__(self, keys: Mapping[str, VerificationKey], cache: RootCache | None = None):
        self.keys = keys
        self.cache = cache if cache is not None else RootCache()

    def verify(self, data: bytes | SignedEnvelope) -> Verified:
        """See `verify_envelope`."""
        return _verify(_parse(data), self.keys, self.cache)


def verify_envelope(
    data: bytes | SignedEnvelope,
    keys: Mapping[str, VerificationKey],
    cache: RootCache | None = None,
) -> tuple[str, bytes]:
    """Return (payload_type, payload) when a signature by one of `keys` verifies.

    Per-record form: any of `signatures` whose keyid is in `keys` verifies over the PAE.
    Merkle form: the inclusion proof leads from the record's leaf to a root whose statement
    one of `root_signatures` by a key in `keys` verifies (or, with `cache`, already verified).
    Raises SignatureError: 'malformed' (not a SignedEnvelope, no signatures, no payload type,
    an impossible inclusion proof), 'unknown-key' (no signature by a key in `keys`),
    'bad-signature' (every signature by a known key fails).
    """
    kind, payload, _ = _verify(_parse(data), keys, cache)
    return kind, payload


def _verify(
    envelope: SignedEnvelope, keys: Mapping[str, VerificationKey], cache: RootCache | None
) -> Verified:
    if envelope.HasField("inclusion"):
        return _verify_merkle(envelope, keys, cache)
    message = pae(envelope.payload_type, envelope.payload)
    known = [s for s in envelope.signatures if s.keyid in keys]
    if not known:
        kids = ", ".join(repr(s.keyid) for s in envelope.signatures)
        raise SignatureError("unknown-key", f"no signature by a known key (signed by {kids})")
    for s in known:
        if keys[s.keyid].verify(message, s.sig):
            return Verified(envelope.payload_type, envelope.payload, s.keyid)
    raise SignatureError(
        "bad-signature", "the envelope's signature does not verify", keyid=known[0].keyid
    )


def _verify_merkle(
    envelope: SignedEnvelope, keys: Mapping[str, VerificationKey], cache: RootCache | None
) -> Verified:
    proof = envelope.inclusion
    root = root_from_path(
        record_leaf(envelope.payload_type, envelope.payload),
        proof.leaf_index,
        proof.tree_size,
        proof.audit_path,
    )
    if root is None:
        raise SignatureError(
            "malformed",
            f"the inclusion proof cannot place leaf {proof.leaf_index} in a tree of "
            f"{proof.tree_size} with {len(proof.audit_path)} path hashes",
        )
    known = [s for s in envelope.root_signatures if s.keyid in keys]
    if not known:
        kids = ", ".join(repr(s.keyid) for s in envelope.root_signatures)
        raise SignatureError("unknown-key", f"no root signature by a known key (signed by {kids})")
    statement = root_statement(root, proof.tree_size)
    message = None
    for s in known:
        entry = (statement, s.keyid, s.sig)
        if cache is not None and cache.hit(entry):
            return Verified(envelope.payload_type, envelope.payload, s.keyid)
        if message is None:
            message = pae(ROOT_TYPE, statement)
        if keys[s.keyid].verify(message, s.sig):
            if cache is not None:
                cache.add(entry)
            return Verified(envelope.payload_type, envelope.payload, s.keyid)
    raise SignatureError(
        "bad-signature",
        "the record's Merkle root signature does not verify (record, proof or root altered)",
        keyid=known[0].keyid,
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
    if not envelope.signatures and not envelope.root_signatures:
        raise SignatureError("malformed", "the envelope carries no signature")
    if envelope.root_signatures and not envelope.HasField("inclusion"):
        raise SignatureError("malformed", "root signatures without an inclusion proof")
    if not envelope.payload_type:
        raise SignatureError("malformed", "the envelope has no payload type")
    return envelope


def sign_json_envelope(signer: Signer, payload_type: str, payload: bytes) -> bytes:
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
