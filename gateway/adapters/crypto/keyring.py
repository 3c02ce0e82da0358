"""The gateway's own signing keys, kept in one folder (`[signing] key_dir`, e.g. data/keys).

    key_dir/                  mode 0700 when created; refused when group- or world-writable
      keyring.json            the index: kid, alg, created, not_before, not_after, active
      <kid>.key.pem           PKCS#8 private key, mode 0600 (refused when wider)
      <kid>.pub.pem           SubjectPublicKeyInfo public key
      .lock                   flock'ed while the index is read or rewritten

Exactly one key is active: it signs DSSE records and responses. Every key in the index is
published (`public_keys`, `jwks`), retired ones included, so that what was signed stays verifiable.

Rotation (`rotate(overlap)`): a new key becomes active with not_before = now; the previous key
stops signing here and keeps being published, its not_after moved to now + overlap (never earlier
than it was). The validity window bounds when a signature may have been *made*: a verifier checks
it against the signature's own time (RFC 9421 `created`), not against its clock, so a response
signed before the rotation verifies for ever, while a signature claiming a time after the overlap
does not. The overlap covers other processes still signing with the old key until they reload, and
clock skew. DSSE envelopes carry no time: they verify for as long as their key is published, which
is why rotation never unpublishes a key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from gateway.adapters.clock import SystemClock
from gateway.adapters.crypto.jwk import public_jwk
from gateway.adapters.crypto.keys import (
    ED25519,
    SigningKey,
    VerificationKey,
    atomic_write,
    check_alg,
    generate_private_key,
    load_private_key,
    load_public_key,
    public_pem,
    write_private_key,
    write_public_key,
)
from gateway.errors import ConfigError
from gateway.ports import Clock

INDEX: Final = "keyring.json"
FORMAT: Final = "aedgw-keyring/1"
OWNER: Final = "gateway"
_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_Infos = list["KeyInfo"]  # `list` is also a Keyring method, which hides the builtin there
_FRESH_START = (
    "move the folder aside to start a new keyring (partners must then fetch the new JWKS)"
)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key of the index. Times are timezone-aware UTC, whole seconds."""

    kid: str
    alg: str
    created: datetime
    not_before: datetime | None
    not_after: datetime | None
    active: bool


@dataclass(frozen=True, slots=True)
class _State:
    """The folder as read: index entries, every public key, the active private key."""

    infos: tuple[KeyInfo, ...]
    public: dict[str, VerificationKey]
    active: SigningKey

    @classmethod
    def read(cls, folder: Path) -> _State:
        infos = _read_index(folder)
        public = {info.kid: _load_public(folder, info) for info in infos}
        return cls(tuple(infos), public, _load_active(folder, infos, public))


class Keyring:
    """The key folder, loaded: the index, the active private key and every public key in memory.

    Build it with `load_or_create` (or `load`). Methods that change it take the folder lock,
    re-read the index (another process may have changed it), rewrite it atomically and reload.
    Not meant for concurrent use from several threads.
    """

    def __init__(self, key_dir: Path, state: _State, clock: Clock) -> None:
        self._dir, self._state, self._clock = key_dir, state, clock

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def load_or_create(
        cls, key_dir: Path | str, *, alg: str = ED25519, clock: Clock | None = None
    ) -> Keyring:
        """Load the keyring in `key_dir`; on first use create the folder and a first active key.

        Raises ConfigError (file, problem, fix) on a corrupt index, missing key files, or
        permissions that let others write the folder or read a private key.
        """
        folder, clock = Path(key_dir), clock or SystemClock()
        check_alg(alg)
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # replicas may race here
        _check_folder(folder)
        with _locked(folder):
            if not (folder / INDEX).exists():
                _refuse_orphans(folder)
                now = _whole_seconds(clock.now())
                _write_index(folder, [_new_key(folder, alg, now, set(), active=True)])
            return cls(folder, _State.read(folder), clock)

    @classmethod
    def load(cls, key_dir: Path | str, *, clock: Clock | None = None) -> Keyring:
        """Load an existing keyring; ConfigError when there is none or it is unusable."""
        folder = Path(key_dir)
        if not (folder / INDEX).is_file():
            raise ConfigError(
                str(folder / INDEX),
                "keyring",
                "does not exist",
                "run `gateway keys generate` or point [signing] key_dir at the key folder",
            )
        _check_folder(folder)
        with _locked(folder):
            return cls(folder, _State.read(folder), clock or SystemClock())

    def reload(self) -> None:
        """Re-read the folder (after another process rotated); ConfigError as in `load`."""
        _check_folder(self._dir)
        with _locked(self._dir):
            self._state = _State.read(self._dir)

    # -- reading ----------------------------------------------------------------------------

    @property
    def key_dir(self) -> Path:
        return self._dir

    @property
    def active(self) -> SigningKey:
        """The key that signs now."""
        return self._state.active

    def list(self) -> _Infos:
        """Every key of the index, oldest first."""
        return sorted(self._state.infos, key=lambda info: (info.created, info.kid))

    def public_keys(self) -> dict[str, VerificationKey]:
        """Every published key (active and retired) by kid, owner "gateway"."""
        return dict(self._state.public)

    def jwks(self) -> dict[str, Any]:
        """The JWK Set to serve at /.well-known/jwks.json (RFC 7517, OKP per RFC 8037, EC)."""
        return {"keys": [public_jwk(self._state.public[info.kid]) for info in self.list()]}

    # -- changing ---------------------------------------------------------------------------

    def generate(self, *, alg: str | None = None) -> KeyInfo:
        """Add a new, not yet active key, published from now on; return its entry.

        Publishing a key before `rotate(to=kid)` lets partners fetch it ahead of its first use.
        """
        with _locked(self._dir):
            current = _State.read(self._dir)
            now = _whole_seconds(self._clock.now())
            info = _new_key(self._dir, alg or current.active.alg, now, set(current.public))
            self._commit([*current.infos, info])
        return info

    def rotate(
        self, overlap: timedelta, *, alg: str | None = None, to: str | None = None
    ) -> KeyInfo:
        """Make a new key active (or the already published key `to`); retire the previous one.

        The previous key stays published, with not_after = max(its not_after, now + overlap);
        see the module docstring for why. Returns the new active key's entry.
        """
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        with _locked(self._dir):
            current = _State.read(self._dir)
            now = _whole_seconds(self._clock.now())
            infos = list(current.infos)
            if to is None:
                alg = alg or current.active.alg
                infos.append(_new_key(self._dir, alg, now, set(current.public)))
                to = infos[-1].kid
            elif to not in current.public:
                raise ValueError(f"no key {to!r} in {self._dir / INDEX}")
            self._commit([_rotated(info, to, now, overlap) for info in infos])
        return next(info for info in self._state.infos if info.active)

    def _commit(self, infos: _Infos) -> None:
        _write_index(self._dir, infos)
        self._state = _State.read(self._dir)


def _rotated(info: KeyInfo, to: str, now: datetime, overlap: timedelta) -> KeyInfo:
    if info.kid == to:
        not_before = now if info.not_before is None or info.not_before > now else info.not_before
        return replace(info, active=True, not_before=not_before, not_after=None)
    if info.active:
        end = now + overlap
        not_after = end if info.not_after is None else max(info.not_after, end)
        return replace(info, active=False, not_after=not_after)
    return info


# -- files ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on folder/.lock (two processes never rewrite the index at once)."""
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ConfigError(str(folder), "key_dir", "is not a folder", "point key_dir at a folder")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o022:
        raise ConfigError(
            str(folder),
            "permissions",
            f"the key folder is writable by group or others (mode {mode:04o})",
            f"chmod 700 {folder}",
        )


def _refuse_orphans(folder: Path) -> None:
    orphans = sorted(p.name for p in folder.glob("*.key.pem"))
    if orphans:
        raise ConfigError(
            str(folder / INDEX),
            "keyring",
            f"is missing while private keys are present ({', '.join(orphans)})",
            f"restore {INDEX} from a backup, or {_FRESH_START}",
        )


def _new_key(
    folder: Path, alg: str, now: datetime, taken: set[str], *, active: bool = False
) -> KeyInfo:
    """Write a fresh key pair; its entry is valid from `now`, without end."""
    kid = _new_kid(now, taken)
    private_key = generate_private_key(check_alg(alg))
    write_private_key(folder / f"{kid}.key.pem", private_key)
    write_public_key(folder / f"{kid}.pub.pem", private_key.public_key())
    return KeyInfo(kid, alg, now, now, None, active)


def _new_kid(now: datetime, taken: set[str]) -> str:
    while True:
        kid = f"aedgw-{now:%Y%m%d}-{secrets.token_hex(3)}"
        if kid not in taken:
            return kid


def _load_public(folder: Path, info: KeyInfo) -> VerificationKey:
    key = load_public_key(folder / f"{info.kid}.pub.pem", info.alg)
    return VerificationKey(info.kid, info.alg, key, OWNER, info.not_before, info.not_after)


def _load_active(
    folder: Path, infos: list[KeyInfo], public: dict[str, VerificationKey]
) -> SigningKey:
    for other in infos:
        _check_private_mode(folder / f"{other.kid}.key.pem")
    info = next(info for info in infos if info.active)
    path = folder / f"{info.kid}.key.pem"
    key = SigningKey(info.kid, info.alg, load_private_key(path, info.alg))
    if public_pem(key.public_key()) != public_pem(public[info.kid].public_key):
        raise ConfigError(
            str(path),
            "private key",
            f"does not match {info.kid}.pub.pem",
            f"restore the matching pair from a backup, or {_FRESH_START}",
        )
    return key


def _check_private_mode(path: Path) -> None:
    """Refuse a private key file that group or others may read or write (when it exists)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        raise ConfigError(
            str(path),
            "permissions",
            f"the private key is readable or writable by group or others (mode {mode:04o})",
            f"chmod 600 {path}",
        )


# -- the index --------------------------------------------------------------------------------


def _write_index(folder: Path, infos: _Infos) -> None:
    document = {"format": FORMAT, "keys": [_entry(info) for info in infos]}
    atomic_write(folder / INDEX, (json.dumps(document, indent=2) + "\n").encode(), mode=0o644)


def _entry(info: KeyInfo) -> dict[str, Any]:
    return {
        "kid": info.kid,
        "alg": info.alg,
        "created": _iso(info.created),
        "not_before": _iso(info.not_before),
        "not_after": _iso(info.not_after),
        "active": info.active,
    }


def _read_index(folder: Path) -> list[KeyInfo]:
    path = folder / INDEX
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise _corrupt(path, "keyring", f"cannot be read as JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _corrupt(path, "format", f"is not {FORMAT!r}")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise _corrupt(path, "keys", "must be a non-empty list")
    infos = [_parse_entry(path, index, entry) for index, entry in enumerate(entries)]
    _check_index(path, infos)
    return infos


def _parse_entry(path: Path, index: int, entry: object) -> KeyInfo:
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise _corrupt(path, where, "is not an object")
    kid, alg, active = entry.get("kid"), entry.get("alg"), entry.get("active")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise _corrupt(path, f"{where}.kid", f"{kid!r} is not a key id")
    if not isinstance(alg, str):
        raise _corrupt(path, f"{where}.alg", "is missing")
    if not isinstance(active, bool):
        raise _corrupt(path, f"{where}.active", "must be true or false")
    try:
        check_alg(alg)
        created = _parse_time(entry.get("created"))
        not_before = _parse_time(entry.get("not_before"))
        not_after = _parse_time(entry.get("not_after"))
    except (TypeError, ValueError) as exc:
        raise _corrupt(path, where, str(exc)) from exc
    if created is None:
        raise _corrupt(path, f"{where}.created", "is missing")
    return KeyInfo(kid, alg, created, not_before, not_after, active)


def _check_index(path: Path, infos: list[KeyInfo]) -> None:
    kids = [info.kid for info in infos]
    if len(set(kids)) != len(kids):
        raise _corrupt(path, "keys", "a kid appears twice")
    active = [info.kid for info in infos if info.active]
    if len(active) != 1:
        raise _corrupt(path, "active", f"exactly one key must be active, found {len(active)}")


def _corrupt(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(str(path), key, problem, f"restore {INDEX} from a backup, or {_FRESH_START}")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not an ISO 8601 time")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return when.astimezone(UTC)


def _whole_seconds(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("the clock must return timezone-aware times")
    return when.astimezone(UTC).replace(microsecond=0)
