"""Decisions on items, the item's status they give, and the events that follow them.

An internal service (a consumer allowed `may_decide`) decides on one accepted item version
routed to it. The rules here are pure:

- which codes close an item and which stay open (`OPEN_CODES`, `CLOSING_CODES`);
- what a decision may carry (`check_decision`): questions only with a request, a detection only
  with an outcome;
- the item's status (`item_status`): per consumer its latest decision counts (a later one
  replaces its own earlier one, `RELEASED` ends its hold), a request answered by an amendment
  no longer counts, and the status is the most restrictive of what counts
  (`DO_NOT_LOAD`/`REFUSED`/`RETURN_TO_SENDER` over `HOLD_FOR_INSPECTION` over
  `REQUEST_SCREENING` over `REQUEST_INFORMATION` over `ASSESSMENT_COMPLETE`/`RELEASED`);
- whether an item counts as a B5 detection (`is_detection`): a closing refusal (`REFUSED`,
  `DO_NOT_LOAD`, `RETURN_TO_SENDER`) with a detection other than `NONE` is its status'
  decision; a release takes it back out.

Decision records, answers and NO_AED events are journaled as `EventEntry` rows: they share the
journal's positions (one order for the feed), carry the routing attributes of the item version
they concern (a decision reaches every consumer whose routing takes the item; an answer only
the consumer that asked), and their signed envelope. Values only: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from gateway.domain.journal import JournalEntry
from gateway.errors import InputError


class DecisionCode(StrEnum):
    ASSESSMENT_COMPLETE = "ASSESSMENT_COMPLETE"
    REQUEST_INFORMATION = "REQUEST_INFORMATION"
    REQUEST_SCREENING = "REQUEST_SCREENING"
    DO_NOT_LOAD = "DO_NOT_LOAD"
    HOLD_FOR_INSPECTION = "HOLD_FOR_INSPECTION"
    REFUSED = "REFUSED"
    RETURN_TO_SENDER = "RETURN_TO_SENDER"
    RELEASED = "RELEASED"


class Detection(StrEnum):
    NONE = "NONE"
    NARCOTICS = "NARCOTICS"
    WEAPONS = "WEAPONS"
    IPR_COUNTERFEIT = "IPR_COUNTERFEIT"
    PROHIBITED_OTHER = "PROHIBITED_OTHER"
    UNDERVALUATION = "UNDERVALUATION"
    MISDECLARATION = "MISDECLARATION"
    PRODUCT_SAFETY = "PRODUCT_SAFETY"


class EventKind(StrEnum):
    DECISION = "DECISION"
    ANSWER = "ANSWER"
    NO_AED = "NO_AED"


#: An item with no decision counting.
NO_STATUS = "NONE"

#: Requests the post answers by an amendment of the item.
REQUESTS = frozenset({DecisionCode.REQUEST_INFORMATION, DecisionCode.REQUEST_SCREENING})
#: Decisions that stay open (the item is not finished with) until answered, released or refused.
OPEN_CODES = REQUESTS | {DecisionCode.HOLD_FOR_INSPECTION}
#: Decisions that close the item.
CLOSING_CODES = frozenset(DecisionCode) - OPEN_CODES
#: Refusals: with a detection other than NONE, a B5 detection.
REFUSALS = frozenset(
    {DecisionCode.REFUSED, DecisionCode.DO_NOT_LOAD, DecisionCode.RETURN_TO_SENDER}
)
#: Codes a detection may come with (a held item's outcome, or a release that clears it).
DETECTION_CODES = REFUSALS | {DecisionCode.RELEASED}

#: Precedence of the item's status, most restrictive first.
_RANK: dict[DecisionCode, int] = {
    DecisionCode.DO_NOT_LOAD: 5,
    DecisionCode.REFUSED: 5,
    DecisionCode.RETURN_TO_SENDER: 5,
    DecisionCode.HOLD_FOR_INSPECTION: 4,
    DecisionCode.REQUEST_SCREENING: 3,
    DecisionCode.REQUEST_INFORMATION: 2,
    DecisionCode.ASSESSMENT_COMPLETE: 1,
    DecisionCode.RELEASED: 1,
}

QUESTION_CODES: tuple[str, ...] = (
    "DESCRIPTION_TOO_VAGUE",
    "HS_CODE_MISSING",
    "HS_CODE_IMPLAUSIBLE",
    "VALUE_IMPLAUSIBLE",
    "QUANTITY_OR_WEIGHT_IMPLAUSIBLE",
    "ADDRESSEE_INCOMPLETE",
    "SENDER_INCOMPLETE",
    "ORIGIN_COUNTRY_MISSING",
    "DOCUMENT_MISSING",
    "SCREENING_RESULT",
)
"""The questions a REQUEST_INFORMATION or REQUEST_SCREENING may ask (docs/decisions.md)."""

MAX_NOTE = 2000  # characters of a decision's note
MAX_QUESTIONS = 20
MAX_ID = 128  # characters of a decision id
MAX_PATH = 512  # characters of a question's path (the post receives it)


@dataclass(frozen=True, slots=True)
class Question:
    code: str
    path: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision as a consumer states it (before the gateway accepts it)."""

    decision_id: str
    consumer: str
    partner: str
    item_id: str
    version: int
    code: DecisionCode
    questions: tuple[Question, ...] = ()
    detection: Detection | None = None
    note: str = ""

    def digest(self) -> str:
        """The content's fingerprint: the same decision id again is idempotent only with it."""
        content = {
            "partner": self.partner,
            "item": self.item_id,
            "version": self.version,
            "code": self.code.value,
            "questions": [[q.code, q.path] for q in self.questions],
            "detection": self.detection.value if self.detection else None,
            "note": self.note,
        }
        canonical = json.dumps(content, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision the gateway accepted: where it sits in the journal and whether it still counts."""

    position: int
    decision: Decision
    message_id: str  # the ITMATT message that carried the decided version
    decided_at: datetime
    answered_by: str | None = None  # the amendment's record id that answered a request

    @property
    def code(self) -> DecisionCode:
        return self.decision.code


@dataclass(frozen=True, slots=True)
class ItemStatus:
    """An item's status and the decisions behind it, oldest first."""

    partner: str
    item_id: str
    status: str  # a DecisionCode value, or NO_STATUS
    decisions: tuple[StoredDecision, ...]
    detection: Detection | None = None  # the B5 detection the item counts as, if any


@dataclass(frozen=True, slots=True)
class EventEntry:
    """A journaled event (decision, answer, NO_AED) with the routing attributes of its item.

    `addressee` limits delivery to one consumer (an answer goes to the consumer that asked).
    The attribute names are JournalEntry's, so a RoutingRule matches an event as the item."""

    event_id: str  # stable: the feed's record_id
    kind: EventKind
    partner: str  # the post whose item it is ("" for a NO_AED of no configured post)
    item_id: str
    version: int  # the item version concerned (0 for NO_AED)
    category: str
    hs_chapters: tuple[str, ...]
    origin_countries: tuple[str, ...]
    value_amount: Decimal
    value_currency: str
    envelope: bytes
    addressee: str = ""  # "" = every consumer whose routing takes the item


@dataclass(frozen=True, slots=True)
class EventRow:
    position: int
    event: EventEntry

    @property
    def entry(self) -> EventEntry:
        return self.event


@dataclass(frozen=True, slots=True)
class Answer:
    """An accepted amendment answering an open request of `request`'s consumer."""

    request: StoredDecision
    amendment_record_id: str
    amendment_position: int
    version: int
    message_id: str


@dataclass(frozen=True, slots=True)
class DecisionCommit:
    """A decision to store: its event (signed), and what the caller read before deciding."""

    decision: Decision
    message_id: str  # the ITMATT message of the decided version
    decided_at: datetime
    event: EventEntry
    after: int  # the item's last decision position the caller saw (0: none)
    push: bool = False  # also queue the post's response in the outbox (it has a responses_url)


@dataclass(frozen=True, slots=True)
class AnswerCommit:
    """An amendment answering a request: the request's position and its ANSWER event."""

    request_position: int
    amendment_record_id: str
    event: EventEntry


@dataclass(frozen=True, slots=True)
class DecisionAsk:
    """What deciding must read first: the consumer's decision id, and the item."""

    consumer: str
    decision_id: str
    item_id: str
    partner: str = ""  # "" = any post's


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """What the store holds for a DecisionAsk, read at one moment."""

    existing: StoredDecision | None  # the consumer's decision under that id, if any
    versions: tuple[JournalEntry, ...]  # the item's journaled versions (envelopes left out)
    decisions: tuple[StoredDecision, ...]  # the item's decisions (of the one post sending it)


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What the gateway made of a decision: stored (or replayed) at `position`."""

    decision: StoredDecision
    replayed: bool
    status: str


def check_decision(decision: Decision) -> None:
    """Raise InputError naming what is wrong with a decision as stated."""
    if not decision.decision_id or len(decision.decision_id) > MAX_ID:
        raise InputError(f"decision_id must be 1 to {MAX_ID} characters")
    if not decision.item_id:
        raise InputError("item_id is required")
    if decision.version < 1:
        raise InputError("version is required: the item version decided on (1 or more)")
    if decision.questions and decision.code not in REQUESTS:
        raise InputError(f"questions go with a request, not with {decision.code}")
    if decision.code is DecisionCode.REQUEST_INFORMATION and not decision.questions:
        raise InputError("REQUEST_INFORMATION needs at least one question")
    if len(decision.questions) > MAX_QUESTIONS:
        raise InputError(f"at most {MAX_QUESTIONS} questions per decision")
    for question in decision.questions:
        if question.code not in QUESTION_CODES:
            raise InputError(
                f"unknown question code {question.code!r}; known: {', '.join(QUESTION_CODES)}"
            )
        if len(question.path) > MAX_PATH or not question.path.isprintable():
            # The post receives the path (docs/responses.md): printable text an XML holds.
            raise InputError(f"a question's path must be printable, at most {MAX_PATH} characters")
    if decision.detection is not None and decision.code not in DETECTION_CODES:
        raise InputError(
            f"a detection goes with {', '.join(sorted(DETECTION_CODES))}, not with {decision.code}"
        )
    if len(decision.note) > MAX_NOTE:
        raise InputError(f"the note is longer than {MAX_NOTE} characters")


def counting(decisions: Iterable[StoredDecision]) -> list[StoredDecision]:
    """The decisions that count for the status: each consumer's latest, unless it is a request
    an amendment answered. Ordered by position."""
    latest: dict[str, StoredDecision] = {}
    for stored in sorted(decisions, key=lambda d: d.position):
        latest[stored.decision.consumer] = stored
    return sorted(
        (d for d in latest.values() if d.answered_by is None),
        key=lambda d: d.position,
    )


def item_status(decisions: Iterable[StoredDecision]) -> str:
    """The item's status: the most restrictive decision that counts (NO_STATUS if none)."""
    best: StoredDecision | None = None
    for stored in counting(decisions):
        if best is None or _RANK[stored.code] >= _RANK[best.code]:
            best = stored
    return NO_STATUS if best is None else best.code.value


def detection_of(decisions: Iterable[StoredDecision]) -> Detection | None:
    """The B5 detection the item counts as: the latest counting refusal's detection, when it is
    not NONE and no consumer's release or assessment took the refusal back. None otherwise."""
    found: Detection | None = None
    for stored in counting(decisions):
        if stored.code in REFUSALS:
            detection = stored.decision.detection
            if detection is not None and detection is not Detection.NONE:
                found = detection
    return found


def open_requests(decisions: Sequence[StoredDecision]) -> list[StoredDecision]:
    """The requests an amendment of the item would answer now: each consumer's latest decision,
    when it is an unanswered request."""
    return [d for d in counting(decisions) if d.code in REQUESTS]


def answer_id(request: StoredDecision, amendment_record_id: str) -> str:
    """The stable event id of an amendment's answer to a request."""
    digest = hashlib.sha256(f"{request.position}\x00{amendment_record_id}".encode()).hexdigest()
    return f"answer-{digest[:32]}"


def decision_event_id(consumer: str, decision_id: str) -> str:
    """The stable event id (feed record id) of a consumer's decision."""
    digest = hashlib.sha256(f"{consumer}\x00{decision_id}".encode()).hexdigest()
    return f"decision-{digest[:32]}"


def no_aed_event_id(item_id: str, arrived_at: datetime) -> str:
    digest = hashlib.sha256(f"{item_id}\x00{arrived_at.isoformat()}".encode()).hexdigest()
    return f"no-aed-{digest[:32]}"
