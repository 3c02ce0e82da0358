"""JWKS: the gateway's published keys as RFC 7517 / RFC 8037 JWKs, and back again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.crypto.dsse import DsseSigner, keys_from_jwks, verify_envelope
from gateway.adapters.crypto.jwk import b64url, b64url_decode, public_jwk
from gateway.adapters.crypto.keyring import Keyring
from gateway.adapters.crypto.keys import (
    ECDSA_P256_SHA256,
    ED25519,
    SigningKey,
    VerificationKey,
    generate_private_key,
)
from gateway.adapters.crypto.raw import public_key_from_raw, raw_public_bytes
from gateway.errors import ConfigError

TYPE = "application/vnd.aedgw.declaration.v1+protobuf"
# RFC 8037 appendix A.2: the public half of its Ed25519 example key.
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def _signing(alg: str, kid: str = "k1") -> SigningKey:
    return SigningKey(kid, alg, generate_private_key(alg))


def test_ed25519_jwk_is_an_okp_key_per_rfc8037() -> None:
    jwk = public_jwk(_signing(ED25519).verification_key("gateway"))
    assert {k: jwk[k] for k in ("kty", "crv", "kid", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": "k1",
        "use": "sig",
        "alg": "EdDSA",
    }
    assert len(b64url_decode(jwk["x"])) == 32
    assert "=" not in jwk["x"]
    assert "y" not in jwk
    assert "d" not in jwk


def test_p256_jwk_is_an_ec_key_with_both_coordinates() -> None:
    jwk = public_jwk(_signing(ECDSA_P256_SHA256).verification_key("gateway"))
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    assert len(b64url_decode(jwk["x"])) == len(b64url_decode(jwk["y"])) == 32
    assert "d" not in jwk


def test_validity_window_travels_as_nbf_and_exp() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    key = _signing(ED25519).verification_key("gateway", start, end)
    [back] = keys_from_jwks({"keys": [public_jwk(key)]}).values()
    assert (back.not_before, back.not_after, back.owner) == (start, end, "gateway")


@pytest.mark.parametrize("alg", [ED25519, ECDSA_P256_SHA256])
def test_keyring_jwks_round_trip_verifies_envelopes(tmp_path: Path, alg: str) -> None:
    keyring = Keyring.load_or_create(tmp_path / "keys", alg=alg)
    data = DsseSigner(keyring).sign(TYPE, b"payload")
    published = keys_from_jwks(keyring.jwks())
    assert set(published) == {keyring.active.keyid}
    assert published[keyring.active.keyid].alg == alg
    assert verify_envelope(data, published) == (TYPE, b"payload")


def test_rfc8037_example_public_key_is_read() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "rfc8037"}
    key = keys_from_jwks({"keys": [jwk]})["rfc8037"]
    assert (key.alg, key.not_before, key.not_after) == (ED25519, None, None)
    assert public_jwk(key)["x"] == RFC8037_X


def test_keys_of_other_types_or_uses_are_skipped() -> None:
    ours = public_jwk(_signing(ED25519, "ours").verification_key("gateway"))
    others: list[dict[str, Any]] = [
        {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": RFC8037_X},
        {**ours, "kid": "enc", "use": "enc"},
    ]
    assert set(keys_from_jwks({"keys": [*others, ours]})) == {"ours"}


def _bad(jwk: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        keys_from_jwks({"keys": [jwk]}, source="https://gw/.well-known/jwks.json")
    return caught.value


def test_malformed_keys_are_refused_naming_the_member() -> None:
    good = public_jwk(_signing(ECDSA_P256_SHA256).verification_key("gateway"))
    assert _bad({**good, "x": "!!"}).key == "keys[0]"
    assert _bad({**good, "y": b64url(b"\x01" * 32)}).key == "keys[0]"  # not on the curve
    assert _bad({k: v for k, v in good.items() if k != "kid"}).key == "keys[0].kid"
    assert _bad({**good, "alg": "EdDSA"}).key == "keys[0].alg"
    assert _bad({**good, "exp": "tomorrow"}).file == "https://gw/.well-known/jwks.json"


def test_a_set_without_keys_or_with_a_repeated_kid_is_refused() -> None:
    jwk = public_jwk(_signing(ED25519).verification_key("gateway"))
    with pytest.raises(ConfigError, match="'keys' array"):
        keys_from_jwks({})
    with pytest.raises(ConfigError, match="appears twice"):
        keys_from_jwks({"keys": [jwk, jwk]})


@pytest.mark.parametrize(("alg", "size"), [(ED25519, 32), (ECDSA_P256_SHA256, 65)])
def test_raw_public_key_bytes_round_trip(alg: str, size: int) -> None:
    key = _signing(alg).verification_key("gateway")
    raw = raw_public_bytes(key.public_key)
    assert len(raw) == size
    again = VerificationKey("k1", alg, public_key_from_raw(alg, raw), "gateway")
    assert public_jwk(again) == public_jwk(key)


@pytest.mark.parametrize(
    ("alg", "raw"),
    [(ED25519, b"\x01" * 31), (ECDSA_P256_SHA256, b"\x04" + b"\x01" * 64), ("rsa", b"")],
)
def test_unusable_raw_public_key_is_refused(alg: str, raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        public_key_from_raw(alg, raw)
