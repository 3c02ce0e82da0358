"""The outbox rules every store backend applies the same way: times, leases, error bounds.

A row pushes a share report (kind REPORT) or a post's response to a decision (kind RESPONSE,
docs/responses.md); it is named by its kind and the position of what it pushes (the report's,
or the decision's: two sequences, hence the kind), and claimed in the order rows were written.

Semantics (the Store contract leaves these to the backends; both honour them identically):

- `add_report(push=True)` creates the outbox row due at once: `next_attempt_at = created_at`,
  0 attempts, no lease. `commit_decisions` does the same for a commit with `push`, due at
  `decided_at`, in the decision's own transaction.
- `claim_deliveries(owner, now, lease, limit)` takes, in the order they were written, the
  undelivered rows with `next_attempt_at <= now` whose lease is absent, expired
  (`lease_until <= now`) or held by `owner` itself (an owner re-claiming renews its own lease:
  a gateway restarted under the same owner name resumes at once). Each gets
  `lease_owner = owner`, `lease_until = now + lease`, in one write transaction, so two owners
  never hold the same row at once.
- `delivery_succeeded(position, owner, kind)` marks the row delivered whoever holds the lease
  now: the partner did receive it, so a late confirmation from an owner whose lease was taken
  over is still the truth, and it saves a second push. The attempt is counted and the lease
  cleared; a row already delivered is left as it is (the first delivery time is kept).
- `delivery_failed(position, owner, next_attempt, error, kind)` applies only while `owner`
  still holds the row's lease (expired or not, as long as no other owner took it over) and the
  row is not delivered; otherwise it is a no-op, so a late failure never resurrects a
  delivered row nor disturbs the owner now responsible for it. It counts the attempt, clears
  the lease, sets `next_attempt_at` and `last_error` (cut to `MAX_ERROR_CHARS`).
- Both raise NotInOutbox (a ValueError) for a position that has no outbox row of that kind (a
  report stored without push, a decision of a post without a responses_url).
- `outbox()` lists undelivered rows in claim order as `Delivery` values: `owner` is the
  lease owner, or "" when no lease was ever taken or the last one was released; then
  `lease_until` is the row's next attempt time (when it becomes claimable).
- Every time is timezone-aware (ValueError when naive) and read back in UTC. Backends store it as
  `utc_text`: ISO 8601 with microseconds and "+00:00", one fixed width, so comparing the text
  compares the times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MAX_ERROR_CHARS = 2000
_ELLIPSIS = "…"


def utc_text(moment: datetime, what: str) -> str:
    """`moment` as fixed-width UTC ISO 8601 text. Raises ValueError when it is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_utc_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def as_utc(moment: datetime, what: str) -> datetime:
    """`moment` in UTC, exactly as a backend reads it back from `utc_text`."""
    return from_utc_text(utc_text(moment, what))


def check_lease(lease: timedelta) -> timedelta:
    if lease <= timedelta(0):
        raise ValueError(f"a lease must be positive, got {lease}")
    return lease


def bounded_error(error: str) -> str:
    """`error` cut to MAX_ERROR_CHARS (ending in "…" when cut)."""
    if len(error) <= MAX_ERROR_CHARS:
        return error
    return error[: MAX_ERROR_CHARS - len(_ELLIPSIS)] + _ELLIPSIS
