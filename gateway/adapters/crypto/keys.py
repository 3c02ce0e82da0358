"""Signature keys: the two algorithms the gateway speaks, their PEM files, raw sign and verify.

Algorithm names are the RFC 9421 registry names:

    ed25519            Ed25519 (RFC 8032), 64-byte signatures
    ecdsa-p256-sha256  ECDSA on P-256 with SHA-256; signatures are the raw 64-byte r||s form
                       (RFC 9421 §3.3.4), never DER

Private keys are written as unencrypted PKCS#8 PEM with mode 0600, atomically (a crash leaves the
old file or the new one, never half of one); public keys as SubjectPublicKeyInfo PEM. Loaded key
objects are kept in `SigningKey` / `VerificationKey` so a hot path never parses a key again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.errors import ConfigError

ED25519: Final = "ed25519"
ECDSA_P256_SHA256: Final = "ecdsa-p256-sha256"
ALGORITHMS: Final = frozenset({ED25519, ECDSA_P256_SHA256})

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey

_P256_COORD = 32  # bytes in one P-256 coordinate / one of r, s
_ECDSA = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key a signature may be checked against, with who owns it and when it is valid.

    `not_before` / `not_after` are inclusive bounds on the instant a signature may have been made
    with the key; None leaves that side open. Both must be timezone-aware when set.
    """

    keyid: str
    alg: str
    public_key: PublicKey
    owner: str
    not_before: datetime | None = None
    not_after: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        """True when `when` (timezone-aware) lies within [not_before, not_after]."""
        if self.not_before is not None and when < self.not_before:
            return False
        return self.not_after is None or when <= self.not_after

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's signature over `data` under `alg`."""
        return verify_bytes(self.alg, self.public_key, data, signature)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with its key id and algorithm."""

    keyid: str
    alg: str
    private_key: PrivateKey

    def sign(self, data: bytes) -> bytes:
        """The signature over `data` (Ed25519: 64 bytes; ECDSA P-256: raw r||s, 64 bytes)."""
        return sign_bytes(self.alg, self.private_key, data)

    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def verification_key(
        self,
        owner: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> VerificationKey:
        """The matching public VerificationKey."""
        return VerificationKey(
            self.keyid, self.alg, self.public_key(), owner, not_before, not_after
        )


def check_alg(alg: str) -> str:
    """Return `alg` when it is one of ALGORITHMS; raise ValueError naming the choices otherwise."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unknown key algorithm {alg!r}; use one of {sorted(ALGORITHMS)}")
    return alg


def generate_private_key(alg: str) -> PrivateKey:
    """A fresh private key for `alg`."""
    if check_alg(alg) == ED25519:
        return Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def alg_of(key: PrivateKey | PublicKey) -> str:
    """The algorithm name that fits a key object; ValueError for other key types or curves."""
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return ED25519
    if isinstance(key.curve, ec.SECP256R1):
        return ECDSA_P256_SHA256
    raise ValueError(f"unsupported elliptic curve {key.curve.name}; use P-256 or Ed25519")


def sign_bytes(alg: str, key: PrivateKey, data: bytes) -> bytes:
    """Sign `data` with `key` under `alg`; ECDSA signatures come out as raw r||s."""
    if alg == ED25519 and isinstance(key, Ed25519PrivateKey):
        return key.sign(data)
    if alg == ECDSA_P256_SHA256 and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, _ECDSA))
        return r.to_bytes(_P256_COORD, "big") + s.to_bytes(_P256_COORD, "big")
    raise ValueError(f"key type {type(key).__name__} does not fit algorithm {alg!r}")


def verify_bytes(alg: str, key: PublicKey, data: bytes, signature: bytes) -> bool:
    """True when `signature` over `data` verifies; False on any mismatch (never raises on input)."""
    try:
        if alg == ED25519 and isinstance(key, Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if alg == ECDSA_P256_SHA256 and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 2 * _P256_COORD:
                return False
            r = int.from_bytes(signature[:_P256_COORD], "big")
            s = int.from_bytes(signature[_P256_COORD:], "big")
            key.verify(encode_dss_signature(r, s), data, _ECDSA)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def private_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write `key` as PKCS#8 PEM to `path` with mode 0600, atomically and durably."""
    atomic_write(path, private_pem(key), mode=0o600)


def write_public_key(path: Path, key: PublicKey) -> None:
    """Write `key` as SubjectPublicKeyInfo PEM to `path` (mode 0644), atomically."""
    atomic_write(path, public_pem(key), mode=0o644)


def atomic_write(path: Path, data: bytes, *, mode: int) -> None:
    """Replace `path` with `data`: temp file in the same folder (created 0600), fsync, rename.

    The file never exists with wider permissions than `mode`, and readers see either the old
    content or the new, never a partial write. A missing folder is created with mode 0700.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(path: Path, alg: str | None = None) -> PrivateKey:
    """Load a PKCS#8 (or traditional) unencrypted PEM private key.

    Raises ConfigError naming the file when it is unreadable, not a key, encrypted, of an
    unsupported type, or not of `alg` when `alg` is given.
    """
    data = _read(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            str(path),
            "private key",
            f"not an unencrypted PEM private key ({exc})",
            "replace it with a PKCS#8 PEM key or generate a new one",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(
            str(path),
            "private key",
            f"{type(key).__name__} is not supported",
            "use an Ed25519 or ECDSA P-256 key",
        )
    _check_fits(path, key, alg)
    return key


def load_public_key(path: Path, alg: str | None = None) -> PublicKey:
    """Load a SubjectPublicKeyInfo PEM public key; ConfigError as for `load_private_key`."""
    return parse_public_pem(_read(path), alg, source=str(path))


def parse_public_pem(data: bytes, alg: str | None = None, *, source: str = "<pem>") -> PublicKey:
    """Parse SubjectPublicKeyInfo PEM bytes; ConfigError naming `source` when unusable."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            source,
            "public key",
            f"not a PEM public key ({exc})",
            "give a SubjectPublicKeyInfo PEM file ('-----BEGIN PUBLIC KEY-----')",
        ) from exc
    if not isinstance(key, Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ConfigError(
            source,
            "public key",
            f"{type(key).__name__} is not supported",
            "use an Ed25519 or ECDSA P-256 key",
        )
    _check_fits(Path(source), key, alg)
    return key


def _check_fits(path: Path, key: PrivateKey | PublicKey, alg: str | None) -> None:
    try:
        found = alg_of(key)
    except ValueError as exc:
        raise ConfigError(str(path), "key", str(exc), "use an Ed25519 or P-256 key") from exc
    if alg is not None and found != alg:
        raise ConfigError(
            str(path),
            "alg",
            f"the key is {found}, but {alg} was declared for it",
            f"declare alg = {found!r} or supply a {alg} key",
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            str(path),
            "key file",
            f"cannot be read ({exc.strerror})",
            "check the path and the file's owner and permissions",
        ) from exc
