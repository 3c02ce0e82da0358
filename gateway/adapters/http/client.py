"""A partner-side client: signs submissions per RFC 9421 and checks the gateway's signed answers.

Used by `gateway submit`, the demo, the end-to-end tests and the benchmarks, so every one of them
speaks to the gateway exactly as a foreign post would.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from gateway.adapters.crypto.httpsig import RequestBinding, sign_request, verify_response
from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, VerificationKey
from gateway.errors import SignatureError
from gateway.ports import Clock

ITMATT_PATH = "/v1/aed/itmatt"
RESPONSES_PATH = "/v1/aed/responses"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    verified_by: str | None  # the gateway key id whose response signature verified

    def json(self) -> Any:
        return json.loads(self.body)


class PartnerClient:
    """Submits as one partner with its signing key; verifies answers with the gateway's JWKS.

    `clock` (the system clock by default) dates each request signature (`created`) and is the
    "now" a response signature's age is checked against: give the gateway's clock when it runs
    on another time than the machine's (a test freezing today).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        key: SigningKey,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._session, self._base, self._key = session, base_url.rstrip("/"), key
        self._clock = clock
        self._gateway_keys: dict[str, VerificationKey] = {}

    async def gateway_keys(self, *, refresh: bool = False) -> Mapping[str, VerificationKey]:
        if refresh or not self._gateway_keys:
            async with self._session.get(f"{self._base}/.well-known/jwks.json") as response:
                response.raise_for_status()
                self._gateway_keys = keys_from_jwks(await response.json(content_type=None))
        return self._gateway_keys

    async def submit_itmatt(
        self, document: bytes, *, compress: bool = False, verify: bool = True
    ) -> Answer:
        body = gzip.compress(document, mtime=0) if compress else document  # same bytes, same digest
        headers = {"Content-Type": "application/xml"}
        if compress:
            headers["Content-Encoding"] = "gzip"
        return await self.post(ITMATT_PATH, body, headers, verify=verify)

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str], *, verify: bool = True
    ) -> Answer:
        url = self._base + path
        signed = dict(headers)
        signed |= sign_request(
            method="POST", target_uri=url, headers=signed, body=body, key=self._key,
            created=self._created(),
        )  # fmt: skip
        # aiohttp warns (ResourceWarning) on raw bytes over 1 MiB; a BytesIO streams the same bytes.
        data: bytes | io.BytesIO = body if len(body) <= 1 << 20 else io.BytesIO(body)
        async with self._session.post(url, data=data, headers=signed) as response:
            data = await response.read()
            answer_headers = dict(response.headers)
            status = response.status
        keyid = await self._verify(status, answer_headers, data) if verify else None
        return Answer(status, answer_headers, data, keyid)

    async def get(
        self, path: str, *, verify: bool = True, bound: bool = False, accept: str | None = None
    ) -> Answer:
        """A signed GET (covers @method and @target-uri), e.g. /v1/b5/reports?after=0. With
        `bound`, the answer's signature must also cover this very request (RFC 9421 §2.4
        `req`), as the gateway signs its answers to response pulls."""
        url = self._base + path
        headers = sign_request(
            method="GET", target_uri=url, headers={}, body=b"", key=self._key,
            created=self._created(),
        )  # fmt: skip
        binding = RequestBinding("GET", url, dict(headers)) if bound else None
        if accept is not None:
            headers["Accept"] = accept
        async with self._session.get(url, headers=headers) as response:
            data = await response.read()
            answer_headers = dict(response.headers)
            status = response.status
        keyid = await self._verify(status, answer_headers, data, binding) if verify else None
        return Answer(status, answer_headers, data, keyid)

    async def responses(self, after: int = 0, limit: int = 100, *, json: bool = False) -> Answer:
        """One page of the post's responses after the cursor `after` (docs/responses.md), its
        signature verified with the gateway's keys and its binding to this request. XML, or
        JSON with `json`."""
        accept = "application/json" if json else "application/xml"
        path = f"{RESPONSES_PATH}?after={after}&limit={limit}"
        return await self.get(path, bound=True, accept=accept)

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    def _created(self) -> int:
        return int(self._now().timestamp())

    async def _verify(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        request: RequestBinding | None = None,
    ) -> str:
        keys = await self.gateway_keys()
        now = self._now()
        try:
            return verify_response(
                status=status, headers=headers, body=body, keys=keys, now=now, request=request
            ).keyid
        except SignatureError as exc:
            if exc.reason != "unknown-key":
                raise
            keys = await self.gateway_keys(refresh=True)  # the gateway rotated its key
            return verify_response(
                status=status, headers=headers, body=body, keys=keys, now=now, request=request
            ).keyid
