"""Attack fixtures: a real gateway (the end-to-end one) whose partners have a 16 MiB body limit,
a loopback canary that records every connection, and a secret file an attack may aim at."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import CpuSettings
from tests.attacks.cases import MAX_BODY_BYTES, SECRET, Env
from tests.e2e.conftest import POSTS, World, make_settings, running, write_partner


class Canary:
    """A TCP listener on loopback: `hits` counts connections (a fetch would be one)."""

    def __init__(self) -> None:
        self.hits = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._seen, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _seen(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    listener = Canary()
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


@pytest.fixture
def env(tmp_path: Path, canary: Canary) -> Env:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    assert canary.server is not None
    port = canary.server.sockets[0].getsockname()[1]
    return Env(f"http://127.0.0.1:{port}", secret)


@pytest.fixture
async def world(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """The end-to-end world, both posts limited to MAX_BODY_BYTES (set in their partner.toml).

    Indirect parametrisation gives its [cpu] workers (default: the default, a process pool)."""
    root = tmp_path / "partners"
    partners = {pid: write_partner(root, pid, code, cc, alg) for pid, code, cc, alg in POSTS}
    for pid in partners:
        toml = root / pid / "partner.toml"
        text = toml.read_text(encoding="utf-8")
        limited = text.replace("\n\n[[keys]]", f"\nmax_body_bytes = {MAX_BODY_BYTES}\n\n[[keys]]")
        toml.write_text(limited, encoding="utf-8")
    settings = make_settings(tmp_path, root)
    workers = getattr(request, "param", None)
    if workers is not None:
        settings = replace(settings, cpu=CpuSettings(workers=workers))
    async with running(settings, partners) as w:
        yield w
