"""The gateway's error tree. Each error says what failed and carries the data to act on it.

    GatewayError                     base; `retriable` says whether the same call may succeed later
    ├── ConfigError (ValueError)     configuration or partner folder invalid: file, key, fix
    ├── InputError (ValueError)      the request is wrong; retrying it unchanged fails again
    │   ├── MessageRejected          not well-formed / envelope invalid / DOCTYPE: 400, findings
    │   ├── PayloadTooLarge          over the partner's size limit (also after gunzip): 413
    │   ├── UnsupportedMediaType     not application/xml: 415
    │   ├── BadQuery                 a query parameter out of its domain: 400
    │   └── MessageConflict          same messageId, other content: 409
    ├── AuthError (PermissionError)
    │   ├── SignatureError           RFC 9421 verification failed: 401, `reason` names what
    │   └── Forbidden                partner not allowed this format / operator code: 403
    ├── RateLimited                  partner over its rate: 429, retriable, `retry_after`
    ├── Overloaded                   global work-in-progress bound reached: 503, retriable
    └── StoreError                   the journal could not be read or written: 503, retriable
        ├── DuplicateMessage         (partner, messageId) already stored; carries the stored one
        └── ItemVersionTaken         an item version was journaled first by a concurrent commit

One table in `gateway.adapters.http.problems` maps these to HTTP statuses, one in
`gateway.adapters.grpc.status` to gRPC codes. Library errors are wrapped with `raise … from exc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from gateway.domain.findings import Finding

if TYPE_CHECKING:
    from gateway.ports import StoredMessage


class GatewayError(Exception):
    retriable: ClassVar[bool] = False


class ConfigError(GatewayError, ValueError):
    """Start-up refused: names the file, the key, what is wrong and how to fix it."""

    def __init__(self, file: str, key: str, problem: str, fix: str = "") -> None:
        self.file, self.key, self.problem, self.fix = file, key, problem, fix
        text = f"{file}: {key}: {problem}"
        super().__init__(f"{text} (fix: {fix})" if fix else text)


class InputError(GatewayError, ValueError):
    pass


class MessageRejected(InputError):
    """The message as a whole is refused; nothing but the rejection record is stored."""

    def __init__(self, title: str, findings: Sequence[Finding]) -> None:
        self.title = title
        self.findings = tuple(findings)
        first = self.findings[0].message if self.findings else ""
        super().__init__(f"{title}: {first}" if first else title)


class BadQuery(InputError):
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value
        super().__init__(f"query parameter {name}={value[:40]!r} must be a non-negative integer")


class PayloadTooLarge(InputError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"body exceeds the limit of {limit} bytes")


class UnsupportedMediaType(InputError):
    def __init__(self, got: str, expected: str) -> None:
        self.got, self.expected = got, expected
        super().__init__(f"media type {got!r} is not accepted here; send {expected}")


class MessageConflict(InputError):
    def __init__(self, partner: str, message_id: str) -> None:
        self.partner, self.message_id = partner, message_id
        super().__init__(
            f"messageId {message_id!r} was already received from {partner} with other content; "
            "use a new messageId"
        )


class AuthError(GatewayError, PermissionError):
    pass


class SignatureError(AuthError):
    """RFC 9421 verification failed. `reason` is one of REASONS."""

    REASONS: ClassVar[frozenset[str]] = frozenset(
        {
            "missing",
            "malformed",
            "unknown-key",
            "expired-key",
            "bad-digest",
            "bad-signature",
            "stale",
            "replayed",
            "missing-component",
        }
    )

    def __init__(self, reason: str, detail: str, keyid: str | None = None) -> None:
        assert reason in self.REASONS, reason
        self.reason, self.detail, self.keyid = reason, detail, keyid
        super().__init__(f"{reason}: {detail}")


class Forbidden(AuthError):
    def __init__(self, partner: str, detail: str) -> None:
        self.partner, self.detail = partner, detail
        super().__init__(f"{partner}: {detail}")


class RateLimited(GatewayError):
    retriable = True

    def __init__(self, partner: str, retry_after: float) -> None:
        self.partner, self.retry_after = partner, retry_after
        super().__init__(f"{partner} is over its rate limit; retry after {retry_after:.0f} s")


class Overloaded(GatewayError):
    retriable = True

    def __init__(self, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__("the gateway is at its bound of work in progress; nothing was stored")


class StoreError(GatewayError):
    retriable = True


class ItemVersionTaken(StoreError):
    """A concurrent commit (another replica's) journaled one of these (partner, item, version)
    first: nothing of this message was stored. Re-read the items' history and decide again."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"an item version was journaled by a concurrent commit: {detail}")


class DuplicateMessage(StoreError):
    """The store already holds (partner, messageId): the caller answers from `existing`."""

    retriable = False

    def __init__(self, existing: StoredMessage) -> None:
        self.existing = existing
        super().__init__(f"{existing.partner}/{existing.message_id} is already stored")
