"""Item identity: duplicates within a message, versions against the partner's history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from gateway.domain.findings import warning
from gateway.domain.journal import ItemState
from gateway.domain.messages import ItemFunction, ItemOutcome
from gateway.rules.versions import apply_history_rules, history_item_ids, mark_duplicates
from gateway.wire.declaration_pb2 import Declaration

ORIGINAL, AMENDMENT, CANCELLATION = (
    ItemFunction.ORIGINAL,
    ItemFunction.AMENDMENT,
    ItemFunction.CANCELLATION,
)


def outcome(
    item_id: str,
    version: int = 1,
    function: ItemFunction = ORIGINAL,
    *,
    index: int = 1,
    ok: bool = True,
) -> ItemOutcome:
    return ItemOutcome(
        index=index,
        line=10 * index,
        item_id=item_id,
        version=version,
        function=function,
        findings=(),
        declaration=Declaration(item_id=item_id) if ok else None,
    )


def codes_of(items: Sequence[ItemOutcome]) -> list[list[str]]:
    return [[f.code for f in item.findings] for item in items]


def test_duplicates_flag_every_copy_after_the_first() -> None:
    items = [
        outcome("RB123456785GB", index=1),
        outcome("RB123456785GB", index=2),
        outcome("RB123456785GB", 2, AMENDMENT, index=3),
        outcome("RB123456785GB", index=4),
    ]
    marked = mark_duplicates(items)
    assert codes_of(marked) == [[], ["DUPLICATE_IN_MESSAGE"], [], ["DUPLICATE_IN_MESSAGE"]]
    dup = marked[1].findings[0]
    assert (dup.path, dup.line) == ("/message/msgbody/itmatt_1_5_0/item[2]/itemId", 20)
    assert not marked[1].accepted
    assert marked[1].declaration is None
    assert marked[0].accepted


def test_items_without_an_id_are_not_duplicates() -> None:
    assert codes_of(mark_duplicates([outcome("", ok=False), outcome("", ok=False)])) == [[], []]


@pytest.mark.parametrize(
    ("function", "version", "state", "expected"),
    [
        (ORIGINAL, 1, None, []),
        (ORIGINAL, 1, ItemState(1, ORIGINAL), ["ITEM_ALREADY_ACCEPTED"]),
        (ORIGINAL, 5, ItemState(2, AMENDMENT), ["ITEM_ALREADY_ACCEPTED"]),
        (AMENDMENT, 2, None, ["UNKNOWN_ITEM"]),
        (CANCELLATION, 2, None, ["UNKNOWN_ITEM"]),
        (AMENDMENT, 2, ItemState(1, ORIGINAL), []),
        (AMENDMENT, 1, ItemState(1, ORIGINAL), ["VERSION_STALE"]),
        (AMENDMENT, 2, ItemState(3, AMENDMENT), ["VERSION_STALE"]),
        (CANCELLATION, 3, ItemState(2, AMENDMENT), []),
        (CANCELLATION, 2, ItemState(2, AMENDMENT), ["VERSION_STALE"]),
        (AMENDMENT, 4, ItemState(3, CANCELLATION), ["ITEM_CANCELLED"]),
        (CANCELLATION, 4, ItemState(3, CANCELLATION), ["ITEM_CANCELLED"]),
    ],
)
def test_history_rules(
    function: ItemFunction, version: int, state: ItemState | None, expected: list[str]
) -> None:
    states: Mapping[str, ItemState] = {} if state is None else {"RB123456785GB": state}
    (checked,) = apply_history_rules([outcome("RB123456785GB", version, function)], states)
    assert [f.code for f in checked.findings] == expected
    assert all(f.is_error for f in checked.findings)
    assert checked.accepted == (not expected)


def test_history_errors_name_the_item_and_its_line() -> None:
    (checked,) = apply_history_rules(
        [outcome("RB123456785GB", 1, AMENDMENT, index=3)], {"RB123456785GB": ItemState(1, ORIGINAL)}
    )
    (finding,) = checked.findings
    assert finding.path == "/message/msgbody/itmatt_1_5_0/item[3]/version"
    assert finding.line == 30
    assert "version 1" in finding.message


def test_rejected_items_are_left_alone() -> None:
    rejected = outcome("RB123456785GB", 2, AMENDMENT, ok=False)
    assert apply_history_rules([rejected], {}) == (rejected,)
    assert rejected.findings == ()


def test_items_earlier_in_the_message_count_as_history() -> None:
    items = [
        outcome("RB123456785GB", 1, ORIGINAL, index=1),
        outcome("RB123456785GB", 2, AMENDMENT, index=2),
        outcome("RB123456785GB", 2, CANCELLATION, index=3),
        outcome("RB123456785GB", 3, CANCELLATION, index=4),
        outcome("RB123456785GB", 4, AMENDMENT, index=5),
    ]
    assert codes_of(apply_history_rules(items, {})) == [
        [],
        [],
        ["VERSION_STALE"],
        [],
        ["ITEM_CANCELLED"],
    ]


def test_warnings_are_kept_and_items_stay_accepted() -> None:
    item = outcome("RB123456785GB").with_findings(warning("DESCRIPTION_VAGUE", "vague"))
    (checked,) = apply_history_rules([item], {})
    assert checked.accepted
    assert [f.code for f in checked.findings] == ["DESCRIPTION_VAGUE"]


def test_history_item_ids_are_those_still_accepted() -> None:
    items = [
        outcome("RB123456785GB"),
        outcome("EE473124829US", 2, AMENDMENT),
        outcome("RR100000140AU", ok=False),
    ]
    assert history_item_ids(items) == {"RB123456785GB", "EE473124829US"}
