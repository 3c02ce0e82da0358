"""The gateway keyring: first use, files and modes, rotation with overlap, refusals."""

from __future__ import annotations

import json
import re
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.adapters.crypto.dsse import DsseSigner, verify_envelope
from gateway.adapters.crypto.httpsig import sign_response, verify_response
from gateway.adapters.crypto.keyring import INDEX, Keyring
from gateway.adapters.crypto.keys import (
    ECDSA_P256_SHA256,
    ED25519,
    generate_private_key,
    load_private_key,
    load_public_key,
    write_private_key,
)
from gateway.errors import ConfigError, SignatureError

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TYPE = "application/vnd.aedgw.declaration.v1+protobuf"


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keys"


def test_first_use_creates_folder_index_and_one_active_key(key_dir: Path, clock: FakeClock) -> None:
    keyring = Keyring.load_or_create(key_dir, clock=clock)
    [info] = keyring.list()
    assert re.fullmatch(r"aedgw-20261128-[0-9a-f]{6}", info.kid)
    assert (info.alg, info.active, info.created, info.not_before) == (ED25519, True, T0, T0)
    assert info.not_after is None
    assert keyring.active.keyid == info.kid
    assert _mode(key_dir) == 0o700
    assert _mode(key_dir / f"{info.kid}.key.pem") == 0o600
    assert (key_dir / f"{info.kid}.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
    assert json.loads((key_dir / INDEX).read_text())["keys"][0]["active"] is True


def test_second_load_keeps_the_same_key(key_dir: Path) -> None:
    first = Keyring.load_or_create(key_dir)
    again = Keyring.load_or_create(key_dir)
    assert again.active.keyid == first.active.keyid
    assert again.list() == first.list()
    assert Keyring.load(key_dir).active.keyid == first.active.keyid


def test_ecdsa_keyring_publishes_an_ec_key(key_dir: Path) -> None:
    keyring = Keyring.load_or_create(key_dir, alg=ECDSA_P256_SHA256)
    assert keyring.active.alg == ECDSA_P256_SHA256
    path = key_dir / f"{keyring.active.keyid}.pub.pem"
    assert load_public_key(path, ECDSA_P256_SHA256) is not None


def test_rotation_activates_a_new_key_and_keeps_the_old_one_published(
    key_dir: Path, clock: FakeClock
) -> None:
    keyring = Keyring.load_or_create(key_dir, clock=clock)
    old = keyring.active.keyid
    clock.advance(days=30)
    new = keyring.rotate(timedelta(days=2))
    assert new.active
    assert new.kid != old
    assert keyring.active.keyid == new.kid
    assert new.not_before == clock.current
    retired = next(info for info in keyring.list() if info.kid == old)
    assert not retired.active
    assert retired.not_after == clock.current + timedelta(days=2)
    assert set(keyring.public_keys()) == {old, new.kid}
    assert [info.kid for info in Keyring.load(key_dir).list()] == [old, new.kid]


def test_signatures_made_before_rotation_verify_after_it(key_dir: Path, clock: FakeClock) -> None:
    keyring = Keyring.load_or_create(key_dir, clock=clock)
    envelope = DsseSigner(keyring).sign(TYPE, b"record")
    created = int(clock.current.timestamp())
    response = sign_response(
        status=202, headers={}, body=b"{}", key=keyring.active, created=created
    )
    clock.advance(days=400)
    keyring.rotate(timedelta(hours=1))
    clock.advance(days=400)
    published = Keyring.load(key_dir).public_keys()
    assert verify_envelope(envelope, published) == (TYPE, b"record")
    key = verify_response(
        status=202, headers=response, body=b"{}", keys=published, now=clock.current, window_s=None
    )
    assert not key.valid_at(clock.current)
    assert key.valid_at(datetime.fromtimestamp(created, UTC))


def test_retired_key_does_not_verify_a_signature_claiming_a_time_after_the_overlap(
    key_dir: Path, clock: FakeClock
) -> None:
    keyring = Keyring.load_or_create(key_dir, clock=clock)
    old_key = keyring.active
    keyring.rotate(timedelta(hours=1))
    clock.advance(hours=2)
    response = sign_response(
        status=200, headers={}, body=b"", key=old_key, created=int(clock.current.timestamp())
    )
    with pytest.raises(SignatureError) as caught:
        verify_response(
            status=200, headers=response, body=b"", keys=keyring.public_keys(), now=clock.current
        )
    assert caught.value.reason == "expired-key"


def test_rotation_never_shortens_a_later_not_after(key_dir: Path, clock: FakeClock) -> None:
    Keyring.load_or_create(key_dir, clock=clock)
    index = json.loads((key_dir / INDEX).read_text())
    index["keys"][0]["not_after"] = "2026-12-28T09:00:00Z"
    (key_dir / INDEX).write_text(json.dumps(index))
    keyring = Keyring.load(key_dir, clock=clock)
    old = keyring.active.keyid
    keyring.rotate(timedelta(hours=1))
    retired = next(info for info in keyring.list() if info.kid == old)
    assert retired.not_after == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)


def test_generated_key_is_published_before_it_signs(key_dir: Path, clock: FakeClock) -> None:
    keyring = Keyring.load_or_create(key_dir, clock=clock)
    active = keyring.active.keyid
    staged = keyring.generate(alg=ECDSA_P256_SHA256)
    assert not staged.active
    assert keyring.active.keyid == active
    assert {key["kid"] for key in keyring.jwks()["keys"]} == {active, staged.kid}
    clock.advance(days=1)
    assert keyring.rotate(timedelta(hours=1), to=staged.kid).kid == staged.kid
    assert keyring.active.alg == ECDSA_P256_SHA256


def test_rotate_to_an_unknown_key_is_refused(key_dir: Path) -> None:
    keyring = Keyring.load_or_create(key_dir)
    with pytest.raises(ValueError, match="no key"):
        keyring.rotate(timedelta(hours=1), to="aedgw-20260101-000000")


def test_reload_sees_a_rotation_by_another_process(key_dir: Path) -> None:
    server, operator = Keyring.load_or_create(key_dir), Keyring.load(key_dir)
    new = operator.rotate(timedelta(hours=1))
    server.reload()
    assert server.active.keyid == new.kid


def test_group_writable_key_folder_is_refused_with_the_fix(key_dir: Path) -> None:
    Keyring.load_or_create(key_dir)
    key_dir.chmod(0o770)
    with pytest.raises(ConfigError, match=re.escape(f"chmod 700 {key_dir}")) as caught:
        Keyring.load_or_create(key_dir)
    assert caught.value.file == str(key_dir)


def test_readable_private_key_is_refused_naming_the_file(key_dir: Path) -> None:
    keyring = Keyring.load_or_create(key_dir)
    private = key_dir / f"{keyring.active.keyid}.key.pem"
    private.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        Keyring.load(key_dir)
    assert caught.value.file == str(private)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("{not json", "keyring"),
        ('{"format": "other", "keys": []}', "format"),
        ('{"format": "aedgw-keyring/1", "keys": []}', "keys"),
    ],
)
def test_corrupt_index_is_refused_naming_the_file(key_dir: Path, content: str, key: str) -> None:
    Keyring.load_or_create(key_dir)
    (key_dir / INDEX).write_text(content)
    with pytest.raises(ConfigError, match=r"restore keyring\.json") as caught:
        Keyring.load_or_create(key_dir)
    assert (caught.value.file, caught.value.key) == (str(key_dir / INDEX), key)


def test_index_with_two_active_keys_is_refused(key_dir: Path) -> None:
    keyring = Keyring.load_or_create(key_dir)
    keyring.generate()
    index = json.loads((key_dir / INDEX).read_text())
    for entry in index["keys"]:
        entry["active"] = True
    (key_dir / INDEX).write_text(json.dumps(index))
    with pytest.raises(ConfigError, match="exactly one key must be active"):
        Keyring.load(key_dir)


def test_path_like_kid_in_the_index_is_refused(key_dir: Path) -> None:
    Keyring.load_or_create(key_dir)
    index = json.loads((key_dir / INDEX).read_text())
    index["keys"][0]["kid"] = "../../etc/x"
    (key_dir / INDEX).write_text(json.dumps(index))
    with pytest.raises(ConfigError, match="not a key id"):
        Keyring.load(key_dir)


def test_missing_index_beside_private_keys_is_refused(key_dir: Path) -> None:
    Keyring.load_or_create(key_dir)
    (key_dir / INDEX).unlink()
    with pytest.raises(ConfigError, match="missing while private keys are present"):
        Keyring.load_or_create(key_dir)


def test_missing_private_key_file_is_refused(key_dir: Path) -> None:
    keyring = Keyring.load_or_create(key_dir)
    (key_dir / f"{keyring.active.keyid}.key.pem").unlink()
    with pytest.raises(ConfigError, match="cannot be read"):
        Keyring.load(key_dir)


def test_load_without_a_keyring_names_the_index(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Keyring.load(tmp_path)


def test_private_key_written_into_a_new_folder_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "partners" / "demo.key.pem"
    write_private_key(path, generate_private_key(ED25519))
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert load_private_key(path, ED25519) is not None
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_private_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key.pem"
    write_private_key(path, generate_private_key(ED25519))
    with pytest.raises(ConfigError, match="declare alg = 'ed25519'"):
        load_private_key(path, ECDSA_P256_SHA256)


def test_replicas_starting_together_on_a_new_folder_share_one_first_key(tmp_path: Path) -> None:
    """Replicas of one deployment start at once on the same new key folder (and its new parent):
    every one of them loads the keyring, and they all sign with the one key the first made."""
    for attempt in range(10):
        folder = tmp_path / f"data-{attempt}" / "keys"
        start = threading.Barrier(8)

        def load(folder: Path = folder, start: threading.Barrier = start) -> str:
            start.wait()
            return Keyring.load_or_create(folder).active.keyid

        with ThreadPoolExecutor(8) as pool:
            keyids = list(pool.map(lambda _: load(), range(8)))
        assert len(set(keyids)) == 1
