"""A problem's `type` resolves, against the gateway's own address, to a page it serves."""

from __future__ import annotations

from urllib.parse import urljoin

import aiohttp
import pytest

from tests.e2e.conftest import World

pytestmark = pytest.mark.slow


async def test_an_unsigned_submission_is_refused_with_a_type_the_gateway_serves(
    world: World,
) -> None:
    url = f"{world.http_url}/v1/aed/itmatt"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=b"<x/>", headers={"Content-Type": "application/xml"}
        ) as r:
            assert r.status == 401
            doc = await r.json(content_type=None)
        async with session.get(urljoin(url, doc["type"])) as page:
            assert page.status == 200
            assert page.content_type == "text/html"
            text = await page.text()
        async with session.get(f"{world.http_url}/problems/no-such-type") as missing:
            assert missing.status == 404
    assert doc["type"] == "/problems/signature"
    assert "<h1>Signature refused</h1>" in text
    assert "What to do" in text
