"""RFC 9457 problem documents, and the one table mapping gateway errors to HTTP statuses."""

from __future__ import annotations

import json
from collections.abc import Sequence

from gateway.domain.findings import Finding
from gateway.errors import (
    AuthError,
    BodyTimeout,
    Forbidden,
    GatewayError,
    InputError,
    MessageConflict,
    MessageRejected,
    Overloaded,
    PartnerBusy,
    PayloadTooLarge,
    RateLimited,
    SignatureError,
    StoreError,
    UnsupportedMediaType,
    WrongLayout,
)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://aedgw.example/problems/"


# Most specific first: the first class the error is an instance of decides.
STATUS: tuple[tuple[type[GatewayError], int, str], ...] = (
    # a feed in another layout than the partner's mapping (the body inspected, RFC 9110 15.5.16)
    (WrongLayout, 415, "wrong-feed-layout"),
    (MessageRejected, 400, "message-rejected"),
    (PayloadTooLarge, 413, "payload-too-large"),
    (UnsupportedMediaType, 415, "unsupported-media-type"),
    (MessageConflict, 409, "message-conflict"),
    (InputError, 400, "bad-request"),
    (SignatureError, 401, "signature"),
    (Forbidden, 403, "forbidden"),
    (AuthError, 403, "forbidden"),
    (BodyTimeout, 408, "request-timeout"),
    (PartnerBusy, 429, "too-many-in-progress"),
    (RateLimited, 429, "rate-limited"),
    (Overloaded, 503, "overloaded"),
    (StoreError, 503, "store-unavailable"),
    (GatewayError, 500, "internal"),
)


def status_of(exc: GatewayError) -> tuple[int, str]:
    for cls, status, slug in STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 500, "internal"  # pragma: no cover - GatewayError closes the table


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: Sequence[Finding] = (),
    **extra: object,
) -> bytes:
    doc: dict[str, object] = {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        doc["errors"] = [{k: v for k, v in f.as_json().items() if k != "severity"} for f in errors]
    doc.update(extra)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def problem_for(exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and extra headers (Retry-After) for a gateway error."""
    status, slug = status_of(exc)
    headers: dict[str, str] = {}
    extra: dict[str, object] = {}
    errors: Sequence[Finding] = ()
    title = slug.replace("-", " ").capitalize()
    if isinstance(exc, MessageRejected):
        title, errors = exc.title, exc.findings
    if isinstance(exc, WrongLayout):
        extra |= {"expectedLayout": exc.expected, "seenLayout": exc.seen}
    if isinstance(exc, SignatureError):
        extra["reason"] = exc.reason
        headers["WWW-Authenticate"] = 'Signature realm="aedgw"'
    if isinstance(exc, RateLimited | Overloaded):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, StoreError):
        headers["Retry-After"] = "1"
    detail = exc.detail if isinstance(exc, SignatureError | Forbidden) else str(exc)
    return status, problem(status, slug, title, detail, errors, **extra), headers
