"""The aiohttp application: routes, partner authentication, limits and signed answers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from gateway.adapters.crypto.httpsig import (
    RequestBinding,
    RequestVerifier,
    body_sha256,
    content_digest,
    sign_response,
)
from gateway.adapters.crypto.keys import SigningKey
from gateway.domain.bodies import Body, SpooledBody
from gateway.domain.journal import RejectionRecord
from gateway.domain.limits import STREAM_BYTES
from gateway.domain.partners import B5_FEED_FORMAT, Partner, PartnerKind
from gateway.domain.receipts import rfc3339_millis
from gateway.errors import (
    BadQuery,
    BodyTimeout,
    Forbidden,
    GatewayError,
    MessageConflict,
    Overloaded,
    PayloadTooLarge,
    SignatureError,
    StoreError,
    UnsupportedMediaType,
)
from gateway.formats import DeclarationFormat, registry
from gateway.formats.hardened import GUNZIP_INPUT_STEP, gunzip_stream
from gateway.formats.responses import (
    JSON_TYPE,
    XML_TYPE,
    responses_json,
    responses_xml,
    wants_json,
)
from gateway.observability import Metrics
from gateway.ports import Clock, RejectionStore, ReportStore, ResponseStore, StoreLifecycle
from gateway.services.b5_intake import FeedPipeline
from gateway.services.itmatt_intake import Pipeline

from .problems import PROBLEM_JSON, problem, problem_for, status_of
from .problems import page as problems_page
from .ratelimit import Admission, RateLimiter

log = logging.getLogger(__name__)
# Which of these fits the partner is the feed mapping's business: the body decides, and one
# plainly in another layout than the mapping's is refused whole (415 wrong-feed-layout).
FEED_TYPES = frozenset(
    {"text/csv", "application/x-ndjson", "application/jsonl", "application/xml", "text/xml"}
)
_CHUNK = 256 * 1024
# Request heads: aiohttp bounds each line and field to 8190 bytes; with at most this many fields a
# connection holds at most ~0.5 MiB of head, and only for [http] header_timeout_s.
_MAX_HEADERS = 64
# After an early answer (413, 429, 503, 408) the rest of the body is read and dropped this long
# at most, so the client sees the answer rather than a reset; then the connection is closed.
_LINGER_S = 2.0


class EdgeStore(StoreLifecycle, RejectionStore, ReportStore, ResponseStore, Protocol):
    """The store roles the edge uses itself: readiness (ping), rejection records, report and
    response pulls."""


@dataclass(frozen=True, slots=True)
class EdgeDeps:
    """What the edge needs, handed over by the composition root."""

    pipeline: Pipeline
    feeds: FeedPipeline
    verifier: RequestVerifier
    partners: Mapping[str, Partner]  # by partner id
    response_key: Callable[[], SigningKey]  # the gateway's active key, read per response
    jwks: Callable[[], Mapping[str, Any]]
    store: EdgeStore
    metrics: Metrics
    clock: Clock
    limiter: RateLimiter
    public_base_url: str = ""
    max_concurrent_requests: int = 256  # authenticated requests in progress (Admission)
    max_open_requests: int = 1024  # POSTs in progress, bodies still arriving included
    header_timeout_s: float = 20.0  # request head deadline; idle keep-alive connections too
    body_timeout_s: float = 60.0  # request body deadline
    spool_dir: Path | None = None  # large bodies' files (the system's temporary folder if None)
    spool_bytes: int = STREAM_BYTES  # bodies from this size are written to a file as they come


DEPS = web.AppKey("deps", EdgeDeps)
ADMISSION = web.AppKey("admission", Admission)
PARTNER = web.RequestKey("partner", Partner)
KEYID = web.RequestKey("keyid", str)  # the key that signed an authenticated request
# The authenticated request an answer is bound to (RFC 9421 §2.4 `req`): set by the routes
# whose answers a partner must be able to tie to its own request (response pulls).
BOUND = web.RequestKey("bound", RequestBinding)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(deps: EdgeDeps) -> web.Application:
    # Bodies are bounded per partner by _read_body, not by aiohttp's global client_max_size.
    # Slow clients: a connection that has not sent a whole request head header_timeout_s after
    # it opened (or after its previous answer) is closed (aiohttp's keep-alive timer, which runs
    # from the connection's start); a body gets body_timeout_s (_read_body).
    app = web.Application(
        middlewares=[_errors_middleware, _open_bound_middleware(deps.max_open_requests)],
        client_max_size=max((p.max_body_bytes for p in deps.partners.values()), default=1) + 1,
        handler_args={
            "keepalive_timeout": deps.header_timeout_s,
            "lingering_time": min(_LINGER_S, deps.body_timeout_s),
            "max_headers": _MAX_HEADERS,
        },
    )
    app[DEPS] = deps
    app[ADMISSION] = Admission(deps.max_concurrent_requests)
    for fmt in registry.FORMATS.values():  # one intake route per declaration format
        app.router.add_post(fmt.route, submit_declarations(fmt))
    app.router.add_post("/v1/b5/feeds", submit_feed)
    app.router.add_get("/v1/b5/reports", pull_reports)
    app.router.add_get("/v1/aed/responses", pull_responses)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/problems/{slug}", problem_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    deps = request.app[DEPS]
    try:
        response = await handler(request)
    except GatewayError as exc:
        response = _problem_response(request, exc)
        if isinstance(exc, BodyTimeout):
            response.force_close()  # the rest of a slow body is not awaited
        await _record(request, exc, response.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = problem(exc.status, "http", exc.reason, exc.text or exc.reason)
        response = web.Response(status=exc.status, body=body, content_type=PROBLEM_JSON)
    partner = request.get(PARTNER)
    deps.metrics.count_request(
        _route_name(request), str(response.status), partner.id if partner else "-"
    )
    return response


def _problem_response(request: web.Request, exc: GatewayError) -> web.Response:
    status, body, headers = problem_for(exc)
    deps = request.app[DEPS]
    if isinstance(exc, SignatureError):
        deps.metrics.auth_failures.labels(exc.reason).inc()
        log.warning(
            "request signature refused",
            extra={
                "reason": exc.reason,
                "keyid": exc.keyid,
                "path": request.path,
                "peer": request.remote,
                "detail": exc.detail,
            },
        )
    elif status == 403:  # a good signature, a partner acting beyond its role
        deps.metrics.auth_failures.labels("forbidden").inc()
        partner = request.get(PARTNER)
        log.warning(
            "request forbidden",
            extra={
                "partner": partner.id if partner else None,
                "keyid": request.get(KEYID),
                "path": request.path,
                "peer": request.remote,
                "detail": str(exc),
            },
        )
    elif status >= 500:
        log.error("request failed", extra={"path": request.path, "error": str(exc)})
    return _signed(request, status, body, PROBLEM_JSON, headers)


async def _record(request: web.Request, exc: GatewayError, status: int) -> None:
    """Keep a record of a refused submission (never its body); a store outage only logs."""
    if request.method != "POST" or status in {408, 429, 503}:
        return  # load shedding answers store nothing
    deps = request.app[DEPS]
    partner = request.get(PARTNER)
    reason = exc.reason if isinstance(exc, SignatureError) else status_of(exc)[1]
    rejection = RejectionRecord(
        at=deps.clock.now(),
        route=request.path,
        http_status=status,
        reason=reason,
        detail=str(exc)[:1000],
        partner=partner.id if partner else None,
        keyid=exc.keyid if isinstance(exc, SignatureError) else request.get(KEYID),
        message_id=exc.message_id if isinstance(exc, MessageConflict) else None,
        content_digest=request.headers.get("Content-Digest", "")[:200] or None,
        peer=request.remote,
    )
    try:
        await deps.store.record_rejection(rejection)
    except StoreError:
        log.exception("could not record a rejection")


def _open_bound_middleware(limit: int) -> Any:
    """A bound on POSTs in progress, bodies still arriving included: beyond it, 503 at once.

    It bounds the memory held by bodies being received (at most `limit` x the largest partner
    max_body_bytes). The work done once a request is authenticated has its own, smaller bound
    per partner and in all (Admission). GETs (health, metrics, keys, reports) are not counted.
    """
    semaphore = asyncio.Semaphore(limit)

    @web.middleware
    async def bound(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET":
            return await handler(request)
        if semaphore.locked():
            raise Overloaded(retry_after=1)
        async with semaphore:
            return await handler(request)

    return bound


def _signed(
    request: web.Request,
    status: int,
    body: bytes,
    content_type: str,
    extra: Mapping[str, str] | None = None,
) -> web.Response:
    """A response signed per RFC 9421 with the gateway's key, so a partner can prove it; its
    `created` is the gateway clock's now (the key's validity is judged against it). On a route
    that binds its answers (BOUND), the signature also covers the partner's request (`req`)."""
    deps = request.app[DEPS]
    headers = {"Content-Type": content_type, **(extra or {})}
    created = int(deps.clock.now().timestamp())
    headers |= sign_response(
        status=status, headers=headers, body=body, key=deps.response_key(), created=created,
        request=request.get(BOUND),
    )  # fmt: skip
    return web.Response(status=status, body=body, headers=headers)


def _target_uri(request: web.Request, base: str) -> str:
    return (base or f"{request.scheme}://{request.host}") + request.raw_path


async def _read_body(request: web.Request, limit: int, deps: EdgeDeps) -> Body:
    """The whole body, at most `limit` bytes, within `deps.body_timeout_s` (BodyTimeout: 408):
    its bytes, or from `deps.spool_bytes` on a SpooledBody in `deps.spool_dir` (hashed as it is
    written; the caller deletes it)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(limit)
    body = _Receiving(limit, deps.spool_bytes, deps.spool_dir)
    try:
        async with asyncio.timeout(deps.body_timeout_s):
            async for chunk in request.content.iter_chunked(_CHUNK):
                body.add(chunk)
    except TimeoutError:
        body.discard()
        raise BodyTimeout(deps.body_timeout_s) from None
    except BaseException:
        body.discard()
        raise
    return body.received()


class _Receiving:
    """A body arriving: held in memory up to `spool_bytes`, then written to a _Spool."""

    def __init__(self, limit: int, spool_bytes: int, folder: Path | None) -> None:
        self._limit, self._spool_bytes, self._folder = limit, spool_bytes, folder
        self._chunks: list[bytes] = []
        self._size = 0
        self._spool: _Spool | None = None

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise PayloadTooLarge(self._limit)
        if self._spool is None and self._size >= self._spool_bytes:
            self._spool = _Spool(self._folder)
            for held in self._chunks:
                self._spool.write(held)
            self._chunks.clear()
        if self._spool is not None:
            self._spool.write(chunk)
        else:
            self._chunks.append(chunk)

    def received(self) -> Body:
        return self._spool.close() if self._spool is not None else b"".join(self._chunks)

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.discard()


class _Spool:
    """A body being written to a file in `folder` as it arrives, hashed on the way.

    Writes go to the page cache (a 256 KiB chunk at a time), so they are done on the event loop.
    """

    def __init__(self, folder: Path | None) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="body-", dir=folder)
        self._file, self.path = os.fdopen(handle, "wb"), Path(name)
        self._hash, self._size = hashlib.sha256(), 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self._size += len(chunk)

    def close(self) -> SpooledBody:
        self._file.close()
        return SpooledBody(self.path, self._size, self._hash.digest())

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def _discard(body: Body) -> None:
    if isinstance(body, SpooledBody):
        body.path.unlink(missing_ok=True)


def _gunzip(body: Body, limit: int, deps: EdgeDeps) -> Body:
    """The gunzipped body, received like a body off the wire: bytes while it stays under
    `deps.spool_bytes`, else a new spooled file (a small gzip body can hold a large document).
    Runs off the event loop (`asyncio.to_thread`)."""
    out = _Receiving(limit, deps.spool_bytes, deps.spool_dir)
    try:
        if isinstance(body, SpooledBody):
            with body.path.open("rb") as source:
                gunzip_stream(iter(lambda: source.read(GUNZIP_INPUT_STEP), b""), out.add, limit)
        else:
            view = memoryview(body)
            steps = range(0, len(body), GUNZIP_INPUT_STEP)
            gunzip_stream((view[at : at + GUNZIP_INPUT_STEP] for at in steps), out.add, limit)
    except BaseException:
        out.discard()
        raise
    return out.received()


def _authenticate(
    request: web.Request, body: Body, sha256: bytes | None = None, *, bind: bool = False
) -> Partner:
    """The partner whose key signed the request; with `bind`, every answer to it (errors
    included) is then bound to the request (BOUND)."""
    deps = request.app[DEPS]
    uri = _target_uri(request, deps.public_base_url)
    key = deps.verifier.verify(
        request.method, uri, request.headers, body, deps.clock.now(), body_sha256=sha256
    )
    if bind:
        request[BOUND] = RequestBinding(request.method, uri, request.headers)
    partner = deps.partners.get(key.owner)
    if partner is None:  # pragma: no cover - keys are loaded from partner folders only
        raise SignatureError("unknown-key", f"key {key.keyid} belongs to no partner", key.keyid)
    request[PARTNER] = partner
    request[KEYID] = key.keyid
    return partner


@contextlib.asynccontextmanager
async def _submission(
    request: web.Request, fmt: str, media_types: frozenset[str]
) -> AsyncIterator[tuple[Partner, Body, str]]:
    """An authenticated partner's body, gunzipped: (partner, body, content digest as received),
    admitted as work in progress for as long as the caller holds it.

    Order matters: media type and size are checked before any work, the signature before the
    rate limit and the concurrency caps (an unauthenticated flood spends no partner's budget),
    the partner's own cap before the shared bound (a flooding partner gets 429 and leaves room
    for the others), the format last. Nothing is stored before admission.
    """
    deps = request.app[DEPS]
    media = request.content_type
    if media not in media_types:
        raise UnsupportedMediaType(media, " or ".join(sorted(media_types)))
    limit = max(p.max_body_bytes for p in deps.partners.values())
    received = await _read_body(request, limit, deps)
    body = received
    try:
        sha256 = body_sha256(received)  # once: for the Content-Digest check and the receipt
        partner = _authenticate(request, received, sha256)
        deps.limiter.check(partner)
        with request.app[ADMISSION].admit(partner):
            if len(received) > partner.max_body_bytes:
                raise PayloadTooLarge(partner.max_body_bytes)
            if not partner.may_submit(fmt):
                raise Forbidden(partner.id, f"is not allowed to submit {fmt}")
            digest = content_digest(received, sha256)
            encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding == "gzip":
                body = await asyncio.to_thread(_gunzip, received, partner.max_body_bytes, deps)
            elif encoding != "identity":
                raise UnsupportedMediaType(f"Content-Encoding: {encoding}", "identity or gzip")
            yield partner, body, digest
    finally:
        _discard(received)
        if body is not received:
            _discard(body)


def submit_declarations(fmt: DeclarationFormat) -> Handler:
    """The handler of POST `fmt.route` (/v1/aed/itmatt for ITMATT): one signed document of
    declaration format `fmt`, in one of its media types, in; a signed receipt out."""

    async def submit(request: web.Request) -> web.Response:
        async with _submission(request, fmt.name, fmt.media_types) as (partner, body, digest):
            result = await request.app[DEPS].pipeline.submit(fmt.name, partner, body, digest)
        return _signed(request, result.http_status, result.receipt, "application/json")

    return submit


async def submit_feed(request: web.Request) -> web.Response:
    """POST /v1/b5/feeds: a customs partner's trend feed in its agreed layout; a signed receipt."""
    async with _submission(request, B5_FEED_FORMAT, FEED_TYPES) as (partner, received, digest):
        # Feeds are parsed whole (a week's counts): a spooled one is read back.
        body = (
            await asyncio.to_thread(received.path.read_bytes)
            if isinstance(received, SpooledBody)
            else received
        )
        result = await request.app[DEPS].feeds.submit(partner, body, digest)
    return _signed(request, result.http_status, result.receipt, "application/json")


async def pull_reports(request: web.Request) -> web.Response:
    """GET /v1/b5/reports?after=CURSOR[&limit=N]: the calling partner's reports, oldest first."""
    deps = request.app[DEPS]
    partner = _authenticate(request, b"")
    deps.limiter.check(partner)
    if partner.kind is not PartnerKind.CUSTOMS:
        raise Forbidden(partner.id, "only customs partners receive share reports")
    after, limit = _cursor(request, "after", 0), min(_cursor(request, "limit", 100), 500)
    with request.app[ADMISSION].admit(partner):
        rows = await deps.store.reports_after(partner.id, after, max(limit, 1))
    doc = {
        "partner": partner.id,
        "reports": [
            {
                "position": r.position,
                "reportId": r.report.report_id,
                "week": r.report.week,
                "createdAt": rfc3339_millis(r.report.created_at),
                "envelope": json.loads(r.report.envelope),
            }
            for r in rows
        ],
        "next": rows[-1].position if rows else after,
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    return _signed(request, 200, body, "application/json")


async def pull_responses(request: web.Request) -> web.Response:
    """GET /v1/aed/responses?after=CURSOR[&limit=N]: the responses to decisions on the calling
    post's items, oldest first, XML by default (JSON with Accept: application/json), bound to
    the request (docs/responses.md)."""
    deps = request.app[DEPS]
    partner = _authenticate(request, b"", bind=True)
    deps.limiter.check(partner)
    if partner.kind is not PartnerKind.POST:
        raise Forbidden(partner.id, "only posts receive responses to their items")
    after, limit = _cursor(request, "after", 0), min(_cursor(request, "limit", 100), 500)
    with request.app[ADMISSION].admit(partner):
        rows = await deps.store.responses_after(partner.id, after, max(limit, 1))
    next_cursor = rows[-1].position if rows else after
    if wants_json(request.headers.get("Accept", "")):
        return _signed(request, 200, responses_json(partner.id, rows, next_cursor), JSON_TYPE)
    return _signed(request, 200, responses_xml(partner.id, rows, next_cursor), XML_TYPE)


def _cursor(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise BadQuery(name, raw)
    return int(raw)


async def jwks(request: web.Request) -> web.Response:
    body = json.dumps(request.app[DEPS].jwks(), separators=(",", ":")).encode()
    return web.Response(
        body=body, content_type="application/jwk-set+json", headers={"Cache-Control": "max-age=300"}
    )


async def problem_page(request: web.Request) -> web.Response:
    """GET /problems/<slug>: the page a problem document's `type` refers to."""
    text = problems_page(request.match_info["slug"])
    if text is None:
        raise web.HTTPNotFound(reason="no such problem type")
    return web.Response(text=text, content_type="text/html")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "up"})


async def readyz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        await deps.store.ping()
        deps.response_key()
    except GatewayError as exc:
        return web.json_response({"status": "not ready", "reason": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[DEPS].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})
