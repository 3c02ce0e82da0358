"""DSSE: the pre-authentication encoding, envelope signing (per record and per batch under one
Merkle root signature) and offline verification of both forms."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.crypto import keys as keys_module
from gateway.adapters.crypto.dsse import (
    ROOT_TYPE,
    DsseSigner,
    EnvelopeVerifier,
    RootCache,
    Verified,
    keys_from_jwks,
    pae,
    root_statement,
    verify_envelope,
)
from gateway.adapters.crypto.keyring import Keyring
from gateway.adapters.crypto.keys import (
    ALGORITHMS,
    ECDSA_P256_SHA256,
    ED25519,
    SigningKey,
    VerificationKey,
    generate_private_key,
)
from gateway.errors import SignatureError
from gateway.ports import Signer
from gateway.wire.envelope_pb2 import Signature, SignedEnvelope

TYPE = "application/vnd.aedgw.declaration.v1+protobuf"


def _key(kid: str = "k1", alg: str = ED25519) -> SigningKey:
    return SigningKey(kid, alg, generate_private_key(alg))


def _published(*keys: SigningKey) -> dict[str, VerificationKey]:
    return {key.keyid: key.verification_key("gateway") for key in keys}


def _reason(data: bytes | SignedEnvelope, keys: dict[str, VerificationKey]) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_envelope(data, keys)
    return caught.value.reason


def test_pae_is_byte_exact_for_a_hand_computed_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters_and_allows_empty_payload() -> None:
    assert pae("t\u00ffpe", b"") == b"DSSEv1 5 t\xc3\xbfpe 0 "
    assert pae(TYPE, b"\x00 \n") == b"DSSEv1 45 " + TYPE.encode() + b" 3 \x00 \n"


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_signed_envelope_verifies_and_returns_type_and_payload(alg: str) -> None:
    key = _key(alg=alg)
    data = DsseSigner(key).sign(TYPE, b"\x08\x01payload")
    assert verify_envelope(data, _published(key)) == (TYPE, b"\x08\x01payload")


def test_envelope_carries_the_keyid_and_a_signature_over_pae() -> None:
    key = _key()
    envelope = SignedEnvelope.FromString(DsseSigner(key).sign(TYPE, b"body"))
    assert envelope.payload == b"body"
    assert envelope.payload_type == TYPE
    [signature] = envelope.signatures
    assert signature.keyid == "k1"
    assert key.verification_key("gateway").verify(pae(TYPE, b"body"), signature.sig)


def test_signer_satisfies_the_port() -> None:
    signer: Signer = DsseSigner(_key("kid-7"))
    assert signer.keyid == "kid-7"


def test_tampered_payload_is_a_bad_signature() -> None:
    key = _key()
    envelope = SignedEnvelope.FromString(DsseSigner(key).sign(TYPE, b"value=1"))
    envelope.payload = b"value=2"
    assert _reason(envelope, _published(key)) == "bad-signature"


def test_tampered_payload_type_is_a_bad_signature() -> None:
    key = _key()
    envelope = SignedEnvelope.FromString(DsseSigner(key).sign(TYPE, b"x"))
    envelope.payload_type = "application/other"
    assert _reason(envelope, _published(key)) == "bad-signature"


def test_signature_by_another_key_under_the_same_kid_is_a_bad_signature() -> None:
    data = DsseSigner(_key("k1")).sign(TYPE, b"x")
    assert _reason(data, _published(_key("k1"))) == "bad-signature"


def test_unknown_kid_is_reported_as_unknown_key() -> None:
    data = DsseSigner(_key("k1")).sign(TYPE, b"x")
    assert _reason(data, _published(_key("k2"))) == "unknown-key"


def test_any_verifying_signature_by_a_known_key_is_enough() -> None:
    known, stranger = _key("known"), _key("stranger")
    envelope = SignedEnvelope.FromString(DsseSigner(known).sign(TYPE, b"x"))
    envelope.signatures.insert(0, Signature(keyid="stranger", sig=stranger.sign(b"other")))
    assert verify_envelope(envelope, _published(known)) == (TYPE, b"x")


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff", SignedEnvelope(payload=b"x", payload_type=TYPE).SerializeToString()],
    ids=["not-protobuf", "no-signature"],
)
def test_unusable_envelope_is_malformed(data: bytes) -> None:
    assert _reason(data, _published(_key())) == "malformed"


def test_signer_over_a_keyring_follows_rotation(tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path / "keys")
    signer = DsseSigner(keyring)
    before = signer.sign(TYPE, b"before")
    first = signer.keyid
    keyring.rotate(timedelta(hours=1))
    after = signer.sign(TYPE, b"after")
    assert signer.keyid != first
    published = keys_from_jwks(keyring.jwks())
    assert verify_envelope(before, published) == (TYPE, b"before")
    assert verify_envelope(after, published) == (TYPE, b"after")


def test_ecdsa_envelope_signature_is_raw_r_s() -> None:
    data = DsseSigner(_key(alg=ECDSA_P256_SHA256)).sign(TYPE, b"x")
    assert len(SignedEnvelope.FromString(data).signatures[0].sig) == 64


# The Merkle form: one signature per message over the root of its records' tree.


def _batch(key: SigningKey, n: int) -> tuple[list[bytes], list[bytes]]:
    payloads = [b"record %d" % i for i in range(n)]
    return payloads, DsseSigner(key).sign_batch([(TYPE, p) for p in payloads])


def _independent_root(payloads: list[bytes]) -> bytes:
    """RFC 9162 MTH over SHA-256(0x00 || PAE), written out here for n <= 4."""
    leaves = [hashlib.sha256(b"\x00" + pae(TYPE, p)).digest() for p in payloads]
    while len(leaves) > 1:
        pairs = [leaves[i : i + 2] for i in range(0, len(leaves), 2)]
        leaves = [
            hashlib.sha256(b"\x01" + b"".join(p)).digest() if len(p) == 2 else p[0] for p in pairs
        ]
    return leaves[0]


def test_root_statement_is_byte_exact() -> None:
    assert root_statement(bytes(range(32)), 3) == (
        b'{"alg":"rfc9162-sha256","root":"' + bytes(range(32)).hex().encode() + b'","treeSize":3}'
    )
    assert ROOT_TYPE == "application/vnd.aedgw.merkle-root.v1+json"
    with pytest.raises(ValueError, match="32-byte root"):
        root_statement(b"short", 1)


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_a_batch_is_signed_once_over_its_root_and_every_record_verifies(alg: str, n: int) -> None:
    key = _key("kb", alg)
    payloads, sealed = _batch(key, n)
    assert len(sealed) == n
    envelopes = [SignedEnvelope.FromString(d) for d in sealed]
    signatures = {bytes(e.root_signatures[0].sig) for e in envelopes}
    assert len(signatures) == 1  # one signature for the whole batch
    [sig] = signatures
    if n <= 4:
        statement = root_statement(_independent_root(payloads), n)
        assert key.verification_key("gateway").verify(pae(ROOT_TYPE, statement), sig)
    verifier = EnvelopeVerifier(_published(key))
    for i, (envelope, payload) in enumerate(zip(envelopes, payloads, strict=True)):
        assert not envelope.signatures
        assert (envelope.inclusion.leaf_index, envelope.inclusion.tree_size) == (i, n)
        assert envelope.payload == payload
        assert envelope.payload_type == TYPE
        assert verify_envelope(sealed[i], _published(key)) == (TYPE, payload)
        assert verifier.verify(envelope) == Verified(TYPE, payload, "kb")


def test_a_one_record_batch_is_a_tree_of_one_leaf() -> None:
    key = _key()
    [data] = DsseSigner(key).sign_batch([(TYPE, b"alone")])
    envelope = SignedEnvelope.FromString(data)
    assert list(envelope.inclusion.audit_path) == []
    assert envelope.inclusion.tree_size == 1
    assert verify_envelope(data, _published(key)) == (TYPE, b"alone")
    assert DsseSigner(key).sign_batch([]) == []


def test_both_forms_verify_with_one_verifier() -> None:
    key = _key()
    verifier = EnvelopeVerifier(_published(key))
    old = DsseSigner(key).sign(TYPE, b"journaled long ago")
    [new] = DsseSigner(key).sign_batch([(TYPE, b"journaled today")])
    assert verifier.verify(old) == Verified(TYPE, b"journaled long ago", "k1")
    assert verifier.verify(new) == Verified(TYPE, b"journaled today", "k1")


def _tampered(key: SigningKey, change: str) -> SignedEnvelope:
    envelope = SignedEnvelope.FromString(_batch(key, 5)[1][2])
    proof = envelope.inclusion
    if change == "payload":
        envelope.payload += b"!"
    elif change == "payload_type":
        envelope.payload_type = "application/other"
    elif change == "index":
        proof.leaf_index = 3
    elif change == "size":
        proof.tree_size = 6
    elif change == "path":
        proof.audit_path[0] = bytes([proof.audit_path[0][0] ^ 1]) + proof.audit_path[0][1:]
    elif change == "root-signature":
        sig = envelope.root_signatures[0].sig
        envelope.root_signatures[0].sig = bytes([sig[0] ^ 1]) + sig[1:]
    return envelope


@pytest.mark.parametrize(
    "change", ["payload", "payload_type", "index", "size", "path", "root-signature"]
)
def test_a_tampered_record_proof_or_root_signature_is_refused(change: str) -> None:
    key = _key()
    assert _reason(_tampered(key, change), _published(key)) == "bad-signature"


def test_a_proof_that_fits_no_tree_is_malformed() -> None:
    key = _key()
    envelope = SignedEnvelope.FromString(_batch(key, 5)[1][1])
    envelope.inclusion.leaf_index = 5
    assert _reason(envelope, _published(key)) == "malformed"
    envelope = SignedEnvelope.FromString(_batch(key, 5)[1][1])
    envelope.inclusion.audit_path.append(bytes(32))
    assert _reason(envelope, _published(key)) in {"malformed", "bad-signature"}


def test_a_record_moved_to_another_message_is_refused() -> None:
    key = _key()
    _, first = _batch(key, 4)
    other = SignedEnvelope.FromString(DsseSigner(key).sign_batch([(TYPE, b"x")] * 4)[0])
    moved = SignedEnvelope.FromString(first[0])
    moved.root_signatures[0].sig = other.root_signatures[0].sig
    assert _reason(moved, _published(key)) == "bad-signature"


def test_stripped_or_foreign_root_signatures_are_refused() -> None:
    key = _key()
    envelope = SignedEnvelope.FromString(_batch(key, 3)[1][0])
    assert _reason(envelope, _published(_key("k2"))) == "unknown-key"
    del envelope.root_signatures[:]
    assert _reason(envelope, _published(key)) == "malformed"
    bare = SignedEnvelope(payload=b"x", payload_type=TYPE)
    bare.root_signatures.add(keyid="k1", sig=b"\x00" * 64)
    assert _reason(bare, _published(key)) == "malformed"  # root signatures but no proof


def test_each_distinct_root_signature_is_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key()
    calls = []
    real = keys_module.verify_bytes

    def counting(alg: str, public: Any, data: bytes, sig: bytes) -> bool:
        calls.append(data)
        return real(alg, public, data, sig)

    monkeypatch.setattr(keys_module, "verify_bytes", counting)
    verifier = EnvelopeVerifier(_published(key))
    batches = [_batch(key, 50)[1], _batch(key, 10)[1]]
    for sealed in batches:
        for data in sealed:
            verifier.verify(data)
    assert len(calls) == 2
    assert len(verifier.cache) == 2
    # a cached root never vouches for an altered record, nor for a withdrawn key
    altered = SignedEnvelope.FromString(batches[0][3])
    altered.payload = b"forged"
    with pytest.raises(SignatureError):
        verifier.verify(altered)
    assert _reason(batches[0][0], {}) == "unknown-key"
    assert verify_envelope(batches[0][0], _published(key), RootCache()) == (TYPE, b"record 0")


def test_the_root_cache_is_bounded() -> None:
    cache = RootCache(max_entries=2)
    for i in range(3):
        cache.add((b"s%d" % i, "k", b"sig"))
    assert len(cache) == 2
    assert not cache.hit((b"s0", "k", b"sig"))
    assert cache.hit((b"s2", "k", b"sig"))
    cache.clear()
    assert len(cache) == 0


def test_a_batch_follows_keyring_rotation(tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path / "keys")
    signer = DsseSigner(keyring)
    [before] = signer.sign_batch([(TYPE, b"before")])
    keyring.rotate(timedelta(hours=1))
    [after] = signer.sign_batch([(TYPE, b"after")])
    verifier = EnvelopeVerifier(keys_from_jwks(keyring.jwks()))
    assert verifier.verify(before).keyid != verifier.verify(after).keyid == signer.keyid


def test_batch_envelopes_are_deterministic_protobuf() -> None:
    key = _key()
    for data in DsseSigner(key).sign_batch([(TYPE, b"a"), (TYPE, b"b"), (TYPE, b"c")]):
        assert SignedEnvelope.FromString(data).SerializeToString(deterministic=True) == data
