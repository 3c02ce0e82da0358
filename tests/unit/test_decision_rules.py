"""The item's status and B5 detection from its decisions (gateway.domain.decisions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain.decisions import (
    NO_STATUS,
    Decision,
    DecisionCode,
    Detection,
    Question,
    StoredDecision,
    check_decision,
    detection_of,
    item_status,
    open_requests,
)
from gateway.errors import InputError

C = DecisionCode
AT = datetime(2026, 11, 28, tzinfo=UTC)


def d(
    position: int,
    code: DecisionCode,
    consumer: str = "targeting",
    *,
    detection: Detection | None = None,
    answered: bool = False,
) -> StoredDecision:
    questions = (Question("HS_CODE_MISSING"),) if code is C.REQUEST_INFORMATION else ()
    decision = Decision(f"d{position}", consumer, "gb", "RB1GB", 1, code, questions, detection)
    return StoredDecision(position, decision, "M1", AT, "amended" if answered else None)


def test_no_decision_is_no_status() -> None:
    assert item_status([]) == NO_STATUS


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((C.ASSESSMENT_COMPLETE, C.REQUEST_INFORMATION), C.REQUEST_INFORMATION),
        ((C.REQUEST_INFORMATION, C.REQUEST_SCREENING), C.REQUEST_SCREENING),
        ((C.HOLD_FOR_INSPECTION, C.REQUEST_SCREENING), C.HOLD_FOR_INSPECTION),
        ((C.HOLD_FOR_INSPECTION, C.DO_NOT_LOAD), C.DO_NOT_LOAD),
        ((C.REFUSED, C.HOLD_FOR_INSPECTION), C.REFUSED),
        ((C.RELEASED, C.ASSESSMENT_COMPLETE), C.ASSESSMENT_COMPLETE),
    ],
)
def test_the_most_restrictive_decision_of_any_consumer_is_the_status(
    codes: tuple[DecisionCode, DecisionCode], expected: DecisionCode
) -> None:
    decisions = [d(1, codes[0], "a"), d(2, codes[1], "b")]
    assert item_status(decisions) == expected.value
    assert item_status(reversed(decisions)) == expected.value


def test_a_consumers_later_decision_replaces_its_own_and_release_ends_its_hold() -> None:
    assert item_status([d(1, C.HOLD_FOR_INSPECTION), d(2, C.RELEASED)]) == "RELEASED"
    held_by_other = [d(1, C.HOLD_FOR_INSPECTION, "a"), d(2, C.RELEASED, "b")]
    assert item_status(held_by_other) == "HOLD_FOR_INSPECTION"


def test_an_answered_request_no_longer_counts() -> None:
    answered = [d(1, C.ASSESSMENT_COMPLETE, "a"), d(2, C.REQUEST_INFORMATION, "b", answered=True)]
    assert item_status(answered) == "ASSESSMENT_COMPLETE"
    assert open_requests(answered) == []
    assert [x.position for x in open_requests([d(3, C.REQUEST_SCREENING)])] == [3]


def test_a_refusal_with_a_detection_counts_until_its_consumer_releases() -> None:
    refused = d(1, C.REFUSED, detection=Detection.NARCOTICS)
    assert detection_of([refused]) is Detection.NARCOTICS
    assert detection_of([refused, d(2, C.RELEASED)]) is None
    assert detection_of([d(1, C.REFUSED, detection=Detection.NONE)]) is None
    assert detection_of([d(1, C.HOLD_FOR_INSPECTION)]) is None


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (Decision("", "t", "gb", "I", 1, C.REFUSED), "decision_id"),
        (Decision("x", "t", "gb", "", 1, C.REFUSED), "item_id"),
        (Decision("x", "t", "gb", "I", 0, C.REFUSED), "version"),
        (Decision("x", "t", "gb", "I", 1, C.REQUEST_INFORMATION), "at least one question"),
        (Decision("x", "t", "gb", "I", 1, C.REFUSED, (Question("HS_CODE_MISSING"),)), "questions"),
        (Decision("x", "t", "gb", "I", 1, C.REQUEST_SCREENING, (Question("NOPE"),)), "NOPE"),
        (
            Decision("x", "t", "gb", "I", 1, C.HOLD_FOR_INSPECTION, (), Detection.WEAPONS),
            "detection",
        ),
        (Decision("x", "t", "gb", "I", 1, C.REFUSED, note="n" * 2001), "note"),
    ],
)
def test_a_malformed_decision_is_refused_naming_what_is_wrong(
    decision: Decision, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        check_decision(decision)
