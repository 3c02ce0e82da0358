"""Key rotation drills while signed traffic flows.

The gateway's key: `gateway keys generate` publishes the next key, `gateway keys rotate --to KID`
activates it, then a bare `gateway keys rotate` switches to a key no partner has seen yet; after
each, SIGHUP makes the running gateway reload its key folder (the handler `gateway serve`
installs). Posts submit concurrently all along: nothing that should pass fails, every answer
verifies, every record and receipt signed with a retired key keeps verifying with the published
keys (JWKS and the gRPC Keys service) up to the end of its validity, and what is signed after a
reload carries the new key id.

A partner's key: its folder gains a new key whose validity overlaps the old one's. SIGHUP makes
the running gateway read the partner keys again; the drill also restarts the gateway while the
partner keeps sending, retrying what the restart cut off.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from gateway.adapters.crypto.dsse import verify_envelope
from gateway.adapters.crypto.httpsig import sign_response, verify_response
from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import (
    SigningKey,
    VerificationKey,
    generate_private_key,
    load_private_key,
    write_public_key,
)
from gateway.adapters.http.client import Answer, PartnerClient
from gateway.config import HttpSettings
from gateway.entrypoints.consumer import grpc_keys
from gateway.errors import SignatureError
from gateway.wire.envelope_pb2 import SignedEnvelope
from tests.e2e.conftest import PartnerKit, World, make_settings, running
from tests.e2e.helpers import document, drain, items

pytestmark = pytest.mark.slow

GATEWAY_CLI = Path(sys.executable).with_name("gateway")


@dataclass
class Sent:
    message_id: str
    started: float  # time.monotonic() when the request was signed and sent
    answer: Answer


@dataclass
class Traffic:
    """Concurrent signed submissions in a loop, until stopped."""

    clients: dict[str, PartnerClient]  # by partner id; may be swapped while running
    partners: dict[str, PartnerKit]
    sent: list[Sent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    retries: int = 0
    retry_cut_off: bool = False  # retry requests a gateway restart cut off
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, workers_per_partner: int = 2) -> None:
        for pid in self.clients:
            for worker in range(workers_per_partner):
                self._tasks.append(asyncio.create_task(self._loop(pid, worker)))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _loop(self, pid: str, worker: int) -> None:
        kit, n = self.partners[pid], 0
        while not self._stop.is_set():
            n += 1
            mid = f"{kit.operator_code}-D{worker}-{n:05d}"
            seed = sorted(self.partners).index(pid) * 10_000_000 + worker * 100_000 + n
            doc = document(mid, kit.operator_code, items(2, kit.country, seed=seed))
            await self._submit(pid, mid, doc)

    async def _submit(self, pid: str, mid: str, doc: bytes) -> None:
        for _attempt in range(100):
            started = time.monotonic()
            try:
                answer = await self.clients[pid].submit_itmatt(doc)
            except (aiohttp.ClientError, OSError) as exc:
                if not self.retry_cut_off:
                    self.failures.append(f"{mid}: {exc!r}")
                    return
                self.retries += 1
                await asyncio.sleep(0.02)
                continue
            except SignatureError as exc:  # the gateway's answer did not verify
                self.failures.append(f"{mid}: answer signature: {exc}")
                return
            if answer.status == 503 and self.retry_cut_off:
                self.retries += 1
                await asyncio.sleep(0.02)
                continue
            # 200: a retry of a message whose first attempt was committed before the cut
            if answer.status != 202 and not (answer.status == 200 and self.retry_cut_off):
                self.failures.append(f"{mid}: {answer.status} {answer.body[:200]!r}")
            self.sent.append(Sent(mid, started, answer))
            return
        self.failures.append(f"{mid}: still refused after 100 attempts")


async def _flow(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def _cli(config: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(GATEWAY_CLI), "--config", str(config), "keys", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def _sighup_reloads(world: World) -> Callable[[], Awaitable[None]]:
    """Install `gateway serve`'s SIGHUP handler on this loop; return 'send SIGHUP and wait'."""
    loop = asyncio.get_running_loop()
    reloaded = asyncio.Event()

    def on_hup() -> None:
        world.running.reload_keys()
        reloaded.set()

    loop.add_signal_handler(signal.SIGHUP, on_hup)

    async def hup() -> None:
        reloaded.clear()
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded.wait(), 5)

    return hup


async def _jwks(world: World) -> dict[str, VerificationKey]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.http_url}/.well-known/jwks.json") as response,
    ):
        return keys_from_jwks(await response.json(content_type=None))


@pytest.fixture
async def clients(world: World) -> dict[str, PartnerClient]:
    return {pid: await world.client(pid) for pid in world.partners}


@dataclass(frozen=True)
class Rotations:
    kids: tuple[str, str, str]  # first, second (published ahead), third (published on use)
    at: tuple[float, float]  # time.monotonic() once the second, then the third, signs


async def _rotate_three_times(world: World, config: Path) -> Rotations:
    """What an operator does, with traffic flowing: generate, rotate --to, rotate; SIGHUP each."""
    hup = _sighup_reloads(world)
    first = world.running.keyring.active.keyid
    try:
        await _flow(0.4)
        # 1. publish the next key ahead of its use: the gateway still signs with the first
        await _cli(config, "generate")
        await hup()
        (second,) = set(await _jwks(world)) - {first}
        assert world.running.keyring.active.keyid == first
        await _flow(0.3)
        # 2. activate it (the old key stays published, valid one more day), reload
        await _cli(config, "rotate", "--to", second, "--overlap-days", "1")
        await hup()
        second_at = time.monotonic()
        assert world.running.keyring.active.keyid == second
        await _flow(0.5)
        # 3. rotate to a key nobody has fetched yet: clients learn it from the JWKS on the fly
        await _cli(config, "rotate", "--overlap-days", "1")
        await hup()
        third_at = time.monotonic()
        third = world.running.keyring.active.keyid
        assert third not in {first, second}
        await _flow(0.5)
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
    return Rotations((first, second, third), (second_at, third_at))


def _expected_kids(r: Rotations, started: float) -> set[str]:
    """Which keys may sign for a request sent at `started` (in flight across a reload: either)."""
    first, second, third = r.kids
    if started > r.at[1]:
        return {third}
    if started > r.at[0]:
        return {second, third}
    return {first, second, third}


async def test_the_gateway_key_rotates_while_posts_submit(
    world: World, clients: dict[str, PartnerClient], tmp_path: Path
) -> None:
    config = tmp_path / "keys.toml"
    config.write_text(f'[signing]\nkey_dir = "{world.settings.signing.key_dir}"\n')
    traffic = Traffic(clients, world.partners)
    traffic.start()
    try:
        rotations = await _rotate_three_times(world, config)
    finally:
        await traffic.stop()

    # nothing that should pass failed; traffic flowed through each phase; new key after a reload
    assert traffic.failures == []
    assert traffic.retries == 0
    assert {s.answer.verified_by for s in traffic.sent} == set(rotations.kids)
    for sent in traffic.sent:
        assert sent.answer.verified_by in _expected_kids(rotations, sent.started)

    # every receipt verifies afterwards with the published keys, from both publications
    jwks, grpc = await _jwks(world), await grpc_keys(world.grpc_target)
    assert set(jwks) == set(grpc) == set(rotations.kids)
    for keys in (jwks, grpc):
        for sent in traffic.sent:
            a = sent.answer
            used = verify_response(
                status=a.status, headers=a.headers, body=a.body, keys=keys, window_s=None
            )
            assert used.keyid == a.verified_by
    await _check_records(world, traffic, rotations, jwks, grpc)
    for retired in rotations.kids[:2]:
        _check_retired_key_ends(world.settings.signing.key_dir, jwks[retired])


async def _check_records(
    world: World,
    traffic: Traffic,
    rotations: Rotations,
    jwks: Mapping[str, VerificationKey],
    grpc: Mapping[str, VerificationKey],
) -> None:
    """Every journal record verifies with both key sets and through the feed; records of
    messages sent after a reload carry the new key id."""
    rows = await world.running.store.read_journal(0, 100_000)
    assert len(rows) == sum(s.answer.json()["accepted"] for s in traffic.sent)
    started = {s.message_id: s.started for s in traffic.sent}
    for row in rows:
        for keys in (jwks, grpc):
            verify_envelope(row.entry.envelope, keys)
        kid = _envelope_keyid(row.entry.envelope)
        assert kid in _expected_kids(rotations, started[row.entry.message_id]), row
    result = await drain(world.grpc_target, "analytics", keys=grpc)
    assert (result.received, result.verified, result.failed) == (len(rows), len(rows), 0)
    assert result.keyids == set(rotations.kids)


def _check_retired_key_ends(key_dir: Path, retired: VerificationKey) -> None:
    """A retired key is published with its end (rotation + 1 day): a signature made with it up
    to that instant verifies, one claiming a second later does not."""
    assert retired.not_after is not None
    assert timedelta(hours=23) < retired.not_after - datetime.now(UTC) <= timedelta(days=1)
    old = SigningKey(
        retired.keyid, retired.alg, load_private_key(key_dir / f"{retired.keyid}.key.pem")
    )
    end = int(retired.not_after.timestamp())
    body, headers = b"{}", {"Content-Type": "application/json"}
    keys = {retired.keyid: retired}
    at_end = headers | sign_response(status=202, headers=headers, body=body, key=old, created=end)
    verify_response(status=202, headers=at_end, body=body, keys=keys, window_s=None)
    late = headers | sign_response(status=202, headers=headers, body=body, key=old, created=end + 1)
    with pytest.raises(SignatureError) as refused:
        verify_response(status=202, headers=late, body=body, keys=keys, window_s=None)
    assert refused.value.reason == "expired-key"


def _envelope_keyid(envelope: bytes) -> str:
    parsed = SignedEnvelope.FromString(envelope)  # per record, or one signature over its root
    (signature,) = parsed.signatures or parsed.root_signatures
    keyid: str = signature.keyid
    return keyid


# -- a partner's key --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_partner_key(root: Path, kit: PartnerKit, kid: str, overlap: timedelta) -> SigningKey:
    """The partner's folder gains `kid` (valid from a minute ago); the old key ends in `overlap`."""
    now = datetime.now(UTC).replace(microsecond=0)
    private = generate_private_key(kit.key.alg)
    write_public_key(root / kit.id / "keys" / f"{kid}.pem", private.public_key())
    toml = root / kit.id / "partner.toml"
    text = toml.read_text(encoding="utf-8").replace(
        "not_before = 2026-01-01T00:00:00Z\n",
        f"not_before = 2026-01-01T00:00:00Z\nnot_after = {_stamp(now + overlap)}\n",
    )
    text += (
        f'\n[[keys]]\nid = "{kid}"\nalg = "{kit.key.alg}"\npublic_key = "keys/{kid}.pem"\n'
        f"not_before = {_stamp(now - timedelta(minutes=1))}\n"
    )
    toml.write_text(text, encoding="utf-8")
    return SigningKey(kid, kit.key.alg, private)


@pytest.fixture
async def fixed_world(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    """A gateway on a fixed HTTP port, so that partners reach it again after a restart."""
    root, partners = partners_dir
    http = HttpSettings(listen=f"127.0.0.1:{_free_port()}")
    async with running(make_settings(tmp_path, root, http=http), partners) as w:
        yield w


async def test_a_partner_key_rotates_across_a_gateway_restart_while_it_submits(
    fixed_world: World, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    world, (root, _) = fixed_world, partners_dir
    gb = world.partners["gb-royal-mail"]
    url = world.http_url
    async with aiohttp.ClientSession() as session:
        old = PartnerClient(session, url, gb.key)
        clients = {
            pid: PartnerClient(session, url, world.partners[pid].key) for pid in world.partners
        }
        traffic = Traffic(clients, world.partners, retry_cut_off=True)
        traffic.start()
        try:
            await _flow(0.3)
            new_key = _add_partner_key(root, gb, "gb-royal-mail-2027", timedelta(days=7))
            await world.running.stop(grace=1)  # a restart reads the partner folders again
            await world.start()
            assert world.http_url == url
            await _flow(0.3)
            clients["gb-royal-mail"] = PartnerClient(session, url, new_key)  # the post switches
            switch = time.monotonic()
            await _flow(0.4)
            # during the overlap the old key is still good
            late = await old.submit_itmatt(document("GBA-OLD-1", "GBA", items(1, "GB", seed=9)))
            assert late.status == 202
        finally:
            await traffic.stop()

    assert traffic.failures == []
    assert traffic.retries > 0, "the restart cut nothing off: it did not happen under load"
    journal = await world.running.store.read_journal(0, 100_000)
    accepted = {s.message_id for s in traffic.sent} | {"GBA-OLD-1"}
    assert {row.entry.message_id for row in journal} == accepted
    assert await world.running.store.rejections(10_000) == [], "no request was refused"
    switched = [s for s in traffic.sent if s.message_id.startswith("GBA") and s.started > switch]
    assert switched, "the post sent with its new key"


async def test_a_partner_key_added_to_its_folder_is_picked_up_on_sighup(
    world: World, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    root, _ = partners_dir
    gb = world.partners["gb-royal-mail"]
    new_key = _add_partner_key(root, gb, "gb-royal-mail-2027", timedelta(days=7))
    world.running.reload_keys()  # what SIGHUP does
    async with aiohttp.ClientSession() as session:
        client = PartnerClient(session, world.http_url, new_key)
        answer = await client.submit_itmatt(document("GBA-NEW-1", "GBA", items(1, "GB", seed=8)))
        assert answer.status == 202, answer.body
        # within the overlap the old key keeps working
        old = PartnerClient(session, world.http_url, gb.key)
        late = await old.submit_itmatt(document("GBA-OLD-2", "GBA", items(1, "GB", seed=10)))
        assert late.status == 202, late.body
