"""A real gateway (HTTP + gRPC on loopback, SQLite) running on its own event loop thread.

Hypothesis drives synchronous test functions, so the gateway of a test module lives on a
background loop and each example posts to it with `LiveGateway.post` (signed by the partner's
key, the answer's signature verified): one gateway per module, not per example.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from gateway.adapters.crypto.httpsig import verify_response
from gateway.adapters.http.client import Answer, PartnerClient
from gateway.errors import SignatureError
from tests.e2e.conftest import POSTS, PartnerKit, World, make_settings, write_partner

T = TypeVar("T")
TIMEOUT_S = 60.0


class LiveGateway:
    def __init__(self, world: World) -> None:
        self.world = world
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._clients: dict[str, PartnerClient] = {}
        self._session: aiohttp.ClientSession | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(TIMEOUT_S)

    def start(self) -> None:
        self._thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        await self.world.start()
        self._session = aiohttp.ClientSession()

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(TIMEOUT_S)
            self.loop.close()

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.world.stop()

    def post(self, partner: str, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST as `partner` (signed per RFC 9421); `verified_by` is None when the answer's
        signature does not verify."""
        return self.run(self._post(partner, path, body, headers))

    async def _post(
        self, partner: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> Answer:
        client = self._clients.get(partner)
        if client is None:
            assert self._session is not None
            kit = self.world.partners[partner]
            client = PartnerClient(self._session, self.world.http_url, kit.key)
            self._clients[partner] = client
        answer = await client.post(path, body, headers, verify=False)
        try:
            keys = await client.gateway_keys()
            keyid = verify_response(
                status=answer.status, headers=answer.headers, body=answer.body, keys=keys
            ).keyid
        except SignatureError:
            keyid = None  # the test asserts the status first, then the signature
        return Answer(answer.status, answer.headers, answer.body, keyid)


def post_partners(root: Path) -> dict[str, PartnerKit]:
    """The end-to-end posts (tests/e2e/conftest.py), written under `root`."""
    return {pid: write_partner(root, pid, code, cc, alg) for pid, code, cc, alg in POSTS}


def live_gateway(tmp: Path, partners: dict[str, PartnerKit], root: Path) -> LiveGateway:
    live = LiveGateway(World(make_settings(tmp, root), partners))
    live.start()
    return live
