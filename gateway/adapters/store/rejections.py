"""The rejection-record bounds every store backend applies the same way.

Rejections are written for requests an attacker controls, so both their number and their size
are bounded: a backend keeps at most `max_rejections` rows, and every text field is cut to a
fixed length before it is stored.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.domain.journal import RejectionRecord

DEFAULT_MAX_REJECTIONS = 100_000
MAX_DETAIL_CHARS = 2000
MAX_FIELD_CHARS = 512  # route, reason, partner, keyid, message_id, content_digest, peer
_PRUNE_EVERY_AT_MOST = 1000
_ELLIPSIS = "…"


def check_max_rejections(max_rejections: int) -> int:
    if max_rejections < 1:
        raise ValueError(f"max_rejections must be at least 1, got {max_rejections}")
    return max_rejections


def prune_every(max_rejections: int) -> int:
    """How many inserts pass between two prunings: at most a tenth of the bound, at most 1000."""
    return max(1, min(_PRUNE_EVERY_AT_MOST, max_rejections // 10))


def bounded(rejection: RejectionRecord) -> RejectionRecord:
    """`rejection` with every text field cut to its maximum length (ending in "…" when cut).

    Raises ValueError when `at` is a naive datetime: records are read back timezone-aware.
    """
    if rejection.at.tzinfo is None or rejection.at.utcoffset() is None:
        raise ValueError(f"a rejection's time must be timezone-aware, got {rejection.at!r}")
    return replace(
        rejection,
        route=_cut(rejection.route, MAX_FIELD_CHARS),
        reason=_cut(rejection.reason, MAX_FIELD_CHARS),
        detail=_cut(rejection.detail, MAX_DETAIL_CHARS),
        partner=_cut_optional(rejection.partner),
        keyid=_cut_optional(rejection.keyid),
        message_id=_cut_optional(rejection.message_id),
        content_digest=_cut_optional(rejection.content_digest),
        peer=_cut_optional(rejection.peer),
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _cut_optional(text: str | None) -> str | None:
    return None if text is None else _cut(text, MAX_FIELD_CHARS)
