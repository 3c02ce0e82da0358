"""RFC 9457 problem documents, and the one table mapping gateway errors to HTTP statuses."""

from __future__ import annotations

import html
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
#: A problem's `type` is this path and its slug: a URI reference the gateway itself serves
#: (GET /problems/<slug>, a page saying what went wrong and what to do; docs/problems.md).
TYPE_BASE = "/problems/"

#: slug -> (title, what it means, what to do). Every slug a problem document may carry has its
#: page here (a test keeps this table, STATUS and docs/problems.md in step).
PAGES: dict[str, tuple[str, str, str]] = {
    "wrong-feed-layout": (
        "Wrong feed layout",
        (
            "The B5 feed is plainly in another layout than the partner's agreed mapping (e.g. "
            "XML where the mapping reads CSV). Nothing was stored."
        ),
        (
            "Send the feed in the layout of your mapping (expectedLayout names it), or agree a new "
            "mapping with the agency."
        ),
    ),
    "message-rejected": (
        "Message rejected",
        (
            "The message as a whole could not be read (not well-formed, not the profile's "
            "namespace, no items). `errors` lists each finding with its code, line and path. "
            "Nothing was stored."
        ),
        "Fix what the findings name and send the message again under the same messageId.",
    ),
    "payload-too-large": (
        "Payload too large",
        "The body exceeds your partner limit (max_body_bytes) or a decompression bound.",
        "Split the items over several messages.",
    ),
    "unsupported-media-type": (
        "Unsupported media type",
        "The Content-Type (or Content-Encoding) is not one this route accepts.",
        "Send application/xml for ITMATT (gzip allowed), or the media type of your feed layout.",
    ),
    "message-conflict": (
        "Message conflict",
        (
            "This messageId was already received from you with other content. The first message "
            "stands."
        ),
        "Use a new messageId for new content; resending the same bytes returns the first receipt.",
    ),
    "bad-request": (
        "Bad request",
        "A parameter or header is malformed (the detail names it).",
        "Correct the request as the detail says.",
    ),
    "signature": (
        "Signature refused",
        (
            "The RFC 9421 signature is missing or does not verify; `reason` says why (unknown-key, "
            "stale, replayed, digest-mismatch, bad-signature, …). Nothing was stored."
        ),
        (
            "Sign the request with a key published in your partner folder, with a fresh created "
            "time and nonce, covering the components the gateway requires."
        ),
    ),
    "forbidden": (
        "Forbidden",
        (
            "You are authenticated but may not use this route (e.g. a customs partner asking "
            "for responses to posts)."
        ),
        "Use the routes of your partner kind, or ask the agency to change your partner file.",
    ),
    "request-timeout": (
        "Request timeout",
        "The body did not arrive within the gateway's body timeout; the connection is closed.",
        "Send again; check the link if it keeps happening.",
    ),
    "too-many-in-progress": (
        "Too many requests in progress",
        "You have as many requests in progress as your partner limit allows (max_concurrent).",
        "Wait for an answer before sending more; retry after Retry-After seconds.",
    ),
    "rate-limited": (
        "Rate limited",
        "You sent more than your partner rate (rate_per_s, burst).",
        "Retry after Retry-After seconds; spread the messages out.",
    ),
    "overloaded": (
        "Overloaded",
        "The gateway is at its bound of work in progress. Nothing was stored.",
        "Retry after Retry-After seconds, with backoff.",
    ),
    "store-unavailable": (
        "Store unavailable",
        "The gateway's store cannot be reached for now. Nothing was stored.",
        "Retry after Retry-After seconds, with backoff; the same messageId is safe to resend.",
    ),
    "internal": (
        "Internal error",
        "An error the gateway did not expect. The agency's operators see it in the log.",
        "Retry later; if it persists, tell the agency the time and your messageId.",
    ),
    "http": (
        "HTTP error",
        (
            "The request did not reach a gateway route (an unknown path, a method the route does "
            "not take); the title is the HTTP reason."
        ),
        "Check the path and method against the gateway's API.",
    ),
}


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
        "type": TYPE_BASE + slug,
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


def page(slug: str) -> str | None:
    """The HTML page of a problem type (what it means, what to do), None for an unknown slug."""
    entry = PAGES.get(slug)
    if entry is None:
        return None
    title, meaning, fix = (html.escape(part) for part in entry)
    statuses = sorted({str(status) for _, status, s in STATUS if s == slug}) or ["4xx"]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>\n<h1>{title}</h1>\n"
        f"<p>Problem type <code>{TYPE_BASE}{html.escape(slug)}</code>, "
        f"HTTP {', '.join(statuses)}.</p>\n"
        f"<h2>What it means</h2>\n<p>{meaning}</p>\n<h2>What to do</h2>\n<p>{fix}</p>\n"
        "</body></html>\n"
    )
