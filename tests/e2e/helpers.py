"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from typing import Any

import aiohttp

from gateway.adapters.crypto.httpsig import sign_request
from gateway.adapters.crypto.keys import SigningKey
from gateway.entrypoints.consumer import ConsumeResult, consume_verified
from gateway.formats.itmatt.samples import ItemSpec, build_itmatt, generate_items


def items(n: int, country: str, *, seed: int, bad_every: int = 0) -> list[ItemSpec]:
    return generate_items(random.Random(seed), n, sender_country=country, bad_every=bad_every)


def document(message_id: str, sender: str, specs: list[ItemSpec], *, test: bool = False) -> bytes:
    return build_itmatt(message_id, sender, specs, test=test)


async def raw_post(
    url: str,
    body: bytes,
    *,
    key: SigningKey | None,
    headers: Mapping[str, str] | None = None,
    tamper: Mapping[str, str] | None = None,
    sign_url: str | None = None,
    created: int | None = None,
    nonce: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST with full control: sign (or not) as `key`, then override headers with `tamper`."""
    sent = {"Content-Type": "application/xml", **(headers or {})}
    if key is not None:
        sent |= sign_request(
            method="POST", target_uri=sign_url or url, headers=sent, body=body, key=key,
            created=created, nonce=nonce,
        )  # fmt: skip
    sent |= dict(tamper or {})
    data = io.BytesIO(body) if len(body) > 1 << 20 else body  # aiohttp warns on large bytes
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=sent) as r:
        data = await r.read()
        try:
            doc = await r.json(content_type=None)
        except ValueError:
            doc = {"raw": data.decode(errors="replace")}
        return r.status, doc, dict(r.headers)


async def drain(target: str, consumer: str, **kwargs: Any) -> ConsumeResult:
    """Everything `consumer` has pending, verified; stops after a short idle period."""
    return await consume_verified(target, consumer, None, idle=kwargs.pop("idle", 1.0), **kwargs)
