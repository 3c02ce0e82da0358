"""Public keys as JSON Web Keys (RFC 7517), for `GET /.well-known/jwks.json` and its consumers.

    ed25519            {"kty": "OKP", "crv": "Ed25519", "x": b64url(32 bytes)}  RFC 8037, EdDSA
    ecdsa-p256-sha256  {"kty": "EC", "crv": "P-256", "x": …, "y": …}             RFC 7518, ES256

Every key also carries "kid" and "use": "sig". A key's validity window, when bounded, travels as
"nbf" / "exp" (NumericDate seconds, the JWT claim names): not registered JWK members, which
RFC 7517 §4 lets other readers ignore, but they let `keys_from_jwks` rebuild the same
VerificationKey the gateway publishes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.adapters.crypto.keys import ECDSA_P256_SHA256, ED25519, PublicKey, VerificationKey
from gateway.errors import ConfigError

JWS_ALG = {ED25519: "EdDSA", ECDSA_P256_SHA256: "ES256"}
_COORD = 32


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded (or padded) base64url; ValueError on anything else."""
    if not isinstance(text, str):
        raise TypeError("expected a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from exc


def public_jwk(key: VerificationKey) -> dict[str, Any]:
    """The JWK of `key` (see the module docstring for the members)."""
    jwk: dict[str, Any] = {"kid": key.keyid, "use": "sig", "alg": JWS_ALG[key.alg]}
    jwk.update(_key_members(key.public_key))
    if key.not_before is not None:
        jwk["nbf"] = int(key.not_before.timestamp())
    if key.not_after is not None:
        jwk["exp"] = int(key.not_after.timestamp())
    return jwk


def _key_members(key: PublicKey) -> dict[str, str]:
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(_COORD, "big")),
        "y": b64url(numbers.y.to_bytes(_COORD, "big")),
    }


def keys_from_jwks(
    jwks: Mapping[str, Any], *, owner: str = "gateway", source: str = "jwks"
) -> dict[str, VerificationKey]:
    """Rebuild VerificationKeys from a JWK Set, keyed by kid.

    Keys that are not signature keys of a supported type (other kty/crv, "use" other than "sig")
    are skipped, as RFC 7517 §5 asks. A supported key that is malformed (no kid, bad coordinates,
    point not on the curve, kid repeated) raises ConfigError naming `source` and the member.
    """
    members = jwks.get("keys")
    if not isinstance(members, list):
        raise ConfigError(
            source, "keys", "a JWK Set needs a 'keys' array", "publish {'keys': [...]}"
        )
    found: dict[str, VerificationKey] = {}
    for index, jwk in enumerate(members):
        where = f"keys[{index}]"
        if not isinstance(jwk, Mapping):
            raise ConfigError(source, where, "is not a JSON object")
        key = _from_jwk(jwk, owner, source, where)
        if key is None:
            continue
        if key.keyid in found:
            raise ConfigError(source, f"{where}.kid", f"kid {key.keyid!r} appears twice")
        found[key.keyid] = key
    return found


def _from_jwk(
    jwk: Mapping[str, Any], owner: str, source: str, where: str
) -> VerificationKey | None:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if jwk.get("use", "sig") != "sig" or (kty, crv) not in {("OKP", "Ed25519"), ("EC", "P-256")}:
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ConfigError(source, f"{where}.kid", "missing or not a string")
    try:
        public_key, alg = _public_key(jwk)
        not_before, not_after = _instant(jwk.get("nbf")), _instant(jwk.get("exp"))
    except (ValueError, TypeError) as exc:
        raise ConfigError(source, where, f"key {kid!r} is malformed: {exc}") from exc
    expected_alg = jwk.get("alg")
    if expected_alg is not None and expected_alg not in {JWS_ALG[alg], "Ed25519"}:
        raise ConfigError(source, f"{where}.alg", f"{expected_alg!r} does not fit a {crv} key")
    return VerificationKey(kid, alg, public_key, owner, not_before, not_after)


def _public_key(jwk: Mapping[str, Any]) -> tuple[PublicKey, str]:
    x = b64url_decode(jwk["x"]) if "x" in jwk else b""
    if len(x) != _COORD:
        raise ValueError("x must be 32 bytes")
    if jwk["kty"] == "OKP":
        return Ed25519PublicKey.from_public_bytes(x), ED25519
    y = b64url_decode(jwk["y"]) if "y" in jwk else b""
    if len(y) != _COORD:
        raise ValueError("y must be 32 bytes")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    )
    return numbers.public_key(), ECDSA_P256_SHA256


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("nbf/exp must be integer seconds since the epoch")
    return datetime.fromtimestamp(value, UTC)
