"""Public keys as raw bytes, the form the gRPC Keys service carries (`aedgw.v1.PublicKey`).

ed25519            the 32-byte key (RFC 8032)
ecdsa-p256-sha256  the 65-byte uncompressed SEC 1 point 0x04 || X || Y
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.adapters.crypto.keys import ED25519, PublicKey, check_alg


def raw_public_bytes(key: PublicKey) -> bytes:
    """The raw encoding of `key` (see the module docstring)."""
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key_from_raw(alg: str, data: bytes) -> PublicKey:
    """The public key of `alg` encoded as `data`; ValueError when it is not a valid key."""
    if check_alg(alg) == ED25519:
        return Ed25519PublicKey.from_public_bytes(data)
    if len(data) != 65 or data[0] != 0x04:
        raise ValueError("a P-256 key must be the 65-byte uncompressed point 0x04 || X || Y")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
