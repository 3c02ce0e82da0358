"""The gateway's error tree. Each error says what failed and carries the data to act on it.

    GatewayError                     base; `retriable` says whether the same call may succeed later
    ├── ConfigError (ValueError)     configuration or partner folder invalid: file, key, fix
    ├── InputError (ValueError)      the request is wrong; retrying it unchanged fails again
    │   ├── MessageRejected          not well-formed / envelope invalid / DOCTYPE: 400, findings
    │   │   └── WrongLayout          a B5 feed in another layout than its mapping's: 415
    │   ├── PayloadTooLarge          over the partner's size limit (also after gunzip): 413
    │   ├── UnsupportedMediaType     not application/xml: 415
    │   ├── BadQuery                 a query parameter out of its domain: 400
    │   ├── MessageConflict          same messageId, other content: 409
    │   └── AckBeyondJournal         a consumer acknowledged a position the journal lacks (Store)
    ├── AuthError (PermissionError)
    │   ├── SignatureError           RFC 9421 verification failed: 401, `reason` names what
    │   ├── Forbidden                partner not allowed this format / operator code: 403
    │   └── ConsumerDenied           a gRPC caller may not act as that consumer: PERMISSION_DENIED
    ├── NotFound (LookupError)       the named consumer or item does not exist here: NOT_FOUND
    ├── BodyTimeout                  the request body did not arrive in time: 408, retriable
    ├── RateLimited                  partner over its rate: 429, retriable, `retry_after`
    │   └── PartnerBusy              partner at its `max_concurrent` requests in progress: 429
    ├── Overloaded                   global work-in-progress bound reached: 503, retriable
    └── StoreError                   the journal could not be read or written: 503, retriable
        ├── DuplicateMessage         (partner, messageId) already stored; carries the stored one
        ├── ItemVersionTaken         an item version was journaled first by a concurrent commit
        ├── AggregationMoved         the aggregation position moved since it was read (Store)
        └── FreezeMoved              weeks were frozen since the frozen rows were read (Store)

Outside GatewayError, with no status of their own (a caller's bug, or a failure the caller
turns into one of the above):

    ValueError
    ├── NotInOutbox                  a delivery outcome for a position without outbox row (Store)
    ├── DisclosureError              a share report would carry a field that is not allow-listed
    └── Unprotectable                no suppression of a share table protects every number
    Exception
    ├── PoolBroken                   a CPU worker died: no task in flight on its pool is answered
    └── RemoteTraceback              a worker's traceback, the __cause__ of its task's exception

"(Store)": raised through the Store port (gateway.ports), by every backend alike. One table in
`gateway.adapters.http.problems` maps these to HTTP statuses, one in
`gateway.adapters.grpc.status` to gRPC codes. Library errors are wrapped with `raise … from exc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from gateway.domain.findings import Finding

if TYPE_CHECKING:
    from gateway.domain.journal import StoredMessage
    from gateway.share.protection import Bound


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


class WrongLayout(MessageRejected):
    """The body is in another layout than the partner's mapping: `expected` is the mapping's
    (csv, jsonl, xml), `seen` what the body looks like (those, or json)."""

    def __init__(self, expected: str, seen: str, finding: Finding) -> None:
        self.expected, self.seen = expected, seen
        super().__init__("feed not in the agreed layout", [finding])


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


class AckBeyondJournal(InputError):
    """A consumer acknowledged a position the journal does not hold yet; the cursor is unchanged."""

    def __init__(self, consumer: str, position: int, last_position: int) -> None:
        self.consumer, self.position, self.last_position = consumer, position, last_position
        super().__init__(
            f"consumer {consumer!r} acknowledged position {position}, "
            f"but the journal ends at {last_position}"
        )


class DecisionConflict(InputError):
    """A decision id already used by the consumer for another decision (ALREADY_EXISTS)."""

    def __init__(self, consumer: str, decision_id: str) -> None:
        self.consumer, self.decision_id = consumer, decision_id
        super().__init__(
            f"decision_id {decision_id!r} was already used by {consumer} for another decision; "
            "use a new decision_id"
        )


class StaleVersion(GatewayError):
    """A decision on an item version older than the latest accepted one (FAILED_PRECONDITION)."""

    def __init__(self, item_id: str, version: int, latest: int) -> None:
        self.item_id, self.version, self.latest = item_id, version, latest
        super().__init__(
            f"item {item_id!r} changed: the decision is on version {version}, the latest "
            f"accepted version is {latest}; decide on version {latest}"
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


class ConsumerDenied(AuthError):
    """The caller may not act as the consumer it asked for (PERMISSION_DENIED)."""


class NotFound(GatewayError, LookupError):
    """The named thing (consumer, item) does not exist here."""

    def __init__(self, what: str, name: str) -> None:
        self.what, self.name = what, name
        super().__init__(f"{what} {name!r} not found")


class BodyTimeout(GatewayError):
    """The request body did not arrive within [http] body_timeout_s: 408, the connection closed."""

    retriable = True

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        super().__init__(f"the request body did not arrive within {limit_s:g} s; nothing stored")


class RateLimited(GatewayError):
    retriable = True

    def __init__(self, partner: str, retry_after: float) -> None:
        self.partner, self.retry_after = partner, retry_after
        super().__init__(f"{partner} is over its rate limit; retry after {retry_after:.0f} s")


class PartnerBusy(RateLimited):
    """A partner already has its `max_concurrent` requests in progress (429, nothing stored)."""

    def __init__(self, partner: str, limit: int, retry_after: float = 1.0) -> None:
        super().__init__(partner, retry_after)
        self.limit = limit
        detail = f"{partner} already has {limit} requests in progress (its max_concurrent)"
        self.args = (f"{detail}; retry after {retry_after:.0f} s",)


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


class AggregationMoved(StoreError):
    """The aggregation position is not where the caller read it: another worker got there."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"the aggregation position is {actual}, not {expected}; nothing applied")


class DecisionMoved(StoreError):
    """The item's decisions or versions changed between reading them and committing a decision
    (another decision landed first): nothing was written; re-read and decide again."""

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        super().__init__(f"item {item_id!r} changed while a decision on it was being committed")


class DecisionTaken(StoreError):
    """The (consumer, decision_id) was stored by a concurrent call: read it back."""

    def __init__(self, consumer: str, decision_id: str) -> None:
        self.consumer, self.decision_id = consumer, decision_id
        super().__init__(f"decision {decision_id!r} of {consumer} was stored concurrently")


class FreezeMoved(StoreError):
    """Weeks were frozen since the caller read the frozen rows: nothing frozen; re-read."""

    def __init__(self, report_week: str, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            f"{actual} weeks are frozen, not {expected}; {report_week} not frozen: re-read"
        )


class NotInOutbox(ValueError):
    """A delivery outcome for a position that has no outbox row: a caller's bug."""

    def __init__(self, position: int, kind: str = "REPORT") -> None:
        self.position, self.kind = position, kind
        what = "report" if kind == "REPORT" else "decision"
        super().__init__(f"no outbox row at {what} position {position}")


class DisclosureError(ValueError):
    """A report would carry a field or value that is not an allow-listed aggregate."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field!r}: {detail}")
        self.field = field


class Unprotectable(ValueError):
    """No suppression of this table leaves every suppressed number wide enough."""

    def __init__(self, failures: Sequence[Bound]) -> None:
        shown = "; ".join(str(b) for b in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} suppressed number(s) not protected: {shown}{more}")
        self.failures = tuple(failures)


class PoolBroken(Exception):
    """A worker of the pool died: no task in flight on the pool will be answered."""


class RemoteTraceback(Exception):
    """The worker's traceback of an exception raised by a task (set as its __cause__)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
