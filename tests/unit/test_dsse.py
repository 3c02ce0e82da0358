"""DSSE: the pre-authentication encoding, envelope signing and offline verification."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.adapters.crypto.dsse import DsseSigner, keys_from_jwks, pae, verify_envelope
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
