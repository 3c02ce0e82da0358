"""End-to-end fixtures: a real gateway (HTTP + gRPC on loopback, SQLite) and real partners.

Partner folders are written under tmp_path with freshly generated key pairs: the public half in
the folder (as a real partner ships it), the private half kept by the test as the partner would.

A World's gateway and its partner clients read one clock (`World.clock`): the machine's by
default, a `tests.clocks.FrozenClock` in every test whose outcome depends on the date (weeks
built, folded or compared), so that it passes whatever day the suite runs on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from gateway.adapters.clock import SystemClock
from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.adapters.http.client import PartnerClient
from gateway.bootstrap import Gateway, build
from gateway.config import GrpcSettings, HttpSettings, Settings, SigningSettings
from gateway.domain.routing import Consumer, RoutingRule
from gateway.ports import Clock


@dataclass(frozen=True)
class PartnerKit:
    id: str
    operator_code: str
    country: str
    key: SigningKey


POSTS = (
    ("gb-royal-mail", "GBA", "GB", "ed25519"),
    ("cn-china-post", "CNA", "CN", "ecdsa-p256-sha256"),
)
CONSUMERS = (
    Consumer(
        "targeting", RoutingRule(categories=frozenset({"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"}))
    ),
    Consumer("apparel", RoutingRule(hs_chapters=frozenset({"61", "62", "64"}))),
    Consumer("china-desk", RoutingRule(partners=frozenset({"cn-china-post"}))),
    Consumer("analytics", RoutingRule()),
)


def write_partner(root: Path, pid: str, code: str, country: str, alg: str) -> PartnerKit:
    folder = root / pid
    (folder / "keys").mkdir(parents=True)
    private = generate_private_key(alg)
    keyid = f"{pid}-2026"
    write_public_key(folder / "keys" / f"{keyid}.pem", private.public_key())
    (folder / "partner.toml").write_text(
        f'id = "{pid}"\nname = "{pid}"\nkind = "post"\ncountry = "{country}"\n'
        f'operator_code = "{code}"\nformats = ["itmatt-1.5"]\n\n'
        f'[[keys]]\nid = "{keyid}"\nalg = "{alg}"\npublic_key = "keys/{keyid}.pem"\n'
        "not_before = 2026-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    return PartnerKit(pid, code, country, SigningKey(keyid, alg, private))


@dataclass
class World:
    """Everything an end-to-end test needs: settings, partners, and the running gateway.

    `clock` is the gateway's (received_at, key validity, signature window, report weeks, push
    backoff) and its partner clients' (`created`, the age of the gateway's answers).
    """

    settings: Settings
    partners: dict[str, PartnerKit]
    gateway: Gateway | None = None
    clock: Clock = field(default_factory=SystemClock)
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    @property
    def running(self) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    @property
    def http_url(self) -> str:
        assert self.running.endpoints is not None
        return self.running.endpoints.http_url

    @property
    def grpc_target(self) -> str:
        assert self.running.endpoints is not None
        return self.running.endpoints.grpc_target

    async def start(self) -> Gateway:
        self.gateway = build(self.settings, clock=self.clock)
        await self.gateway.start()
        return self.gateway

    async def stop(self) -> None:
        for session in self.sessions:
            await session.close()
        self.sessions.clear()
        if self.gateway is not None:
            await self.gateway.stop(grace=1)
            self.gateway = None

    async def client(self, partner: str) -> PartnerClient:
        session = aiohttp.ClientSession()
        self.sessions.append(session)
        return PartnerClient(session, self.http_url, self.partners[partner].key, clock=self.clock)

    def created(self) -> int:
        """A request signature's `created` by this World's clock (for hand-signed requests)."""
        return int(self.clock.now().timestamp())


def make_settings(tmp_path: Path, partners_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "partners_dir": partners_dir,
        "store": f"sqlite:///{tmp_path / 'data' / 'gateway.db'}",
        "http": HttpSettings(listen="127.0.0.1:0"),
        "grpc": GrpcSettings(listen="127.0.0.1:0", max_in_flight=50),
        "signing": SigningSettings(key_dir=tmp_path / "data" / "keys"),
        "consumers": CONSUMERS,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def partners_dir(tmp_path: Path) -> tuple[Path, dict[str, PartnerKit]]:
    root = tmp_path / "partners"
    partners = {pid: write_partner(root, pid, code, cc, alg) for pid, code, cc, alg in POSTS}
    return root, partners


@pytest.fixture
async def world(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    root, partners = partners_dir
    async with running(make_settings(tmp_path, root), partners) as w:
        yield w


@contextlib.asynccontextmanager
async def running(
    settings: Settings, partners: dict[str, PartnerKit], clock: Clock | None = None
) -> AsyncIterator[World]:
    """A World whose gateway runs for the block, then stops (its client sessions closed); on
    `clock` when given (the machine's otherwise)."""
    w = World(settings, partners) if clock is None else World(settings, partners, clock=clock)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()
