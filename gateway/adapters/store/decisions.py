"""The decision rules every store backend applies the same way.

Semantics (both backends honour them identically; the contract suite checks it):

- Events (decisions, answers, NO_AED) take their position from the journal's own sequence, under
  the journal's write lock, so journal rows and events form ONE order: the feed reads both with
  `read_feed` in a single statement (one snapshot: a reader never skips a row that commits
  later below what it saw). `last_position` counts both.
- `commit_decisions(commits)` writes each commit's event and decision row in one transaction
  and returns, per commit in order, its position or the error that refused it (nothing written
  for that commit): `StaleVersion` when the item's latest accepted version is no longer the
  decided one, `DecisionMoved` when the item's last decision position is no longer `after`
  (another decision landed since the caller read: re-read and try again), `DecisionTaken`
  when (consumer, decision_id) is stored already (read it back: replay or conflict).
- A commit with `push` also writes the outbox row of its post's response (kind 'RESPONSE',
  the decision's position, due at `decided_at`) in the same transaction: a decision stored is
  a response queued, nothing in between (outbox.py).
- `responses_after(partner, after, limit)` reads the post's decisions with position > after,
  oldest first, as `Response` values: only the columns a post may receive (`RESPONSE_COLUMNS`).
- `commit_answers(after, upto, answers)` moves the 'answers' position from `after` to `upto`
  (AggregationMoved when it is elsewhere: another worker did it), marks each answered request
  `answered_by` and writes its ANSWER event, in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.adapters.store.codes import decode_codes, encode_codes
from gateway.adapters.store.outbox import from_utc_text, utc_text
from gateway.domain.decisions import (
    Decision,
    DecisionCode,
    DecisionCommit,
    Detection,
    EventEntry,
    EventKind,
    EventRow,
    Question,
    StoredDecision,
)
from gateway.domain.journal import JournalEntry, JournalRow
from gateway.domain.messages import ItemFunction
from gateway.domain.responses import Response

ANSWERS = "answers"  # the positions row of the answer worker

_FUNCTIONS = {f.value: f for f in ItemFunction}
_KINDS = {k.value: k for k in EventKind}


def event_params(position: int, e: EventEntry) -> tuple[Any, ...]:
    return (
        position, e.event_id, e.kind.value, e.partner, e.item_id, e.version, e.category,
        encode_codes(e.hs_chapters), encode_codes(e.origin_countries), str(e.value_amount),
        e.value_currency, e.addressee, e.envelope,
    )  # fmt: skip


def decision_params(position: int, c: DecisionCommit, *, text_times: bool) -> tuple[Any, ...]:
    d = c.decision
    decided_at: Any = utc_text(c.decided_at, "decided_at") if text_times else c.decided_at
    return (
        position, d.consumer, d.decision_id, d.partner, d.item_id, d.version, c.message_id,
        d.code.value, encode_questions(d.questions), d.detection.value if d.detection else None,
        d.note, d.digest(), decided_at,
    )  # fmt: skip


def encode_questions(questions: Sequence[Question]) -> str:
    return json.dumps([[q.code, q.path] for q in questions], separators=(",", ":"))


def decode_questions(text: str) -> tuple[Question, ...]:
    return tuple(Question(code, path) for code, path in json.loads(text))


DECISION_COLUMNS = """position, consumer, decision_id, partner, item_id, version, message_id, code,
       questions, detection, note, decided_at, answered_by"""


def stored_decision(r: Sequence[Any]) -> StoredDecision:
    """A `DECISION_COLUMNS` row as a StoredDecision (times as text or as datetimes)."""
    decided_at = r[11] if isinstance(r[11], datetime) else from_utc_text(r[11])
    decision = Decision(
        decision_id=r[2], consumer=r[1], partner=r[3], item_id=r[4], version=int(r[5]),
        code=DecisionCode(r[7]), questions=decode_questions(r[8]),
        detection=Detection(r[9]) if r[9] is not None else None, note=r[10],
    )  # fmt: skip
    return StoredDecision(int(r[0]), decision, r[6], decided_at, r[12])


# An item's versions for deciding: a JournalEntry's columns without the envelope.
VERSION_COLUMNS = """record_id, partner, message_id, item_id, version, function, category,
       hs_chapters, origin_countries, value_amount, value_currency"""


def version_entry(r: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
        r[0], r[1], r[2], r[3], int(r[4]), _FUNCTIONS[r[5]], r[6], decode_codes(r[7]),
        decode_codes(r[8]), Decimal(r[9]), r[10], b"",
    )  # fmt: skip


def only_partner(versions: Sequence[JournalEntry]) -> str | None:
    """The one post the versions are from; None when none or several."""
    partners = {v.partner for v in versions}
    return partners.pop() if len(partners) == 1 else None


# What a post may receive of a decision (table alias `d`): never note, detection, consumer.
RESPONSE_COLUMNS = """d.position, d.partner, d.item_id, d.version, d.message_id, d.code,
       d.questions, d.decided_at"""


def response_row(r: Sequence[Any]) -> Response:
    """A `RESPONSE_COLUMNS` row as a Response (its time as text or as a datetime)."""
    issued_at = r[7] if isinstance(r[7], datetime) else from_utc_text(r[7])
    return Response(
        position=int(r[0]), partner=r[1], item_id=r[2], version=int(r[3]), message_id=r[4],
        code=DecisionCode(r[5]), issued_at=issued_at, questions=decode_questions(r[6]),
    )  # fmt: skip


# The feed's columns of both tables: a journal row has NULL addressee and its function in `kind`.
FEED_COLUMNS = """position, record_id, partner, message_id, item_id, version, function AS kind,
       category, hs_chapters, origin_countries, value_amount, value_currency, envelope,
       NULL AS addressee"""
EVENT_COLUMNS = """position, event_id, partner, '' AS message_id, item_id, version, kind,
       category, hs_chapters, origin_countries, value_amount, value_currency, envelope,
       addressee"""


def feed_row(r: Sequence[Any]) -> JournalRow | EventRow:
    """A row of `FEED_COLUMNS` or `EVENT_COLUMNS` as the journal row or event it is."""
    if r[13] is None:
        entry = JournalEntry(
            r[1], r[2], r[3], r[4], r[5], _FUNCTIONS[r[6]], r[7],
            decode_codes(r[8]), decode_codes(r[9]), Decimal(r[10]), r[11], bytes(r[12]),
        )  # fmt: skip
        return JournalRow(int(r[0]), entry)
    return event_row(r)


def event_row(r: Sequence[Any]) -> EventRow:
    event = EventEntry(
        event_id=r[1], kind=_KINDS[r[6]], partner=r[2], item_id=r[4], version=int(r[5]),
        category=r[7], hs_chapters=decode_codes(r[8]), origin_countries=decode_codes(r[9]),
        value_amount=Decimal(r[10]), value_currency=r[11], envelope=bytes(r[12]),
        addressee=r[13],
    )  # fmt: skip
    return EventRow(int(r[0]), event)
