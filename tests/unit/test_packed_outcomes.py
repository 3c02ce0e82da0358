"""PackedOutcomes: a streamed message's item outcomes, the plain ones packed into arrays, given
back equal to what was appended, across pickling, replacement and the history rules."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from gateway.domain.findings import error, warning
from gateway.domain.journal import ItemState
from gateway.domain.messages import (
    TRANSLATED,
    ItemFunction,
    ItemOutcome,
    PackedOutcomes,
    with_changes,
)
from gateway.rules.versions import apply_history_rules, mark_duplicates
from gateway.wire.declaration_pb2 import Declaration


def plain(index: int, item_id: str, version: int = 1, **kw: object) -> ItemOutcome:
    fields: dict[str, object] = {
        "line": 10 * index,
        "function": ItemFunction.ORIGINAL,
        "findings": (),
        "declaration": TRANSLATED,
    } | kw
    return ItemOutcome(index, item_id=item_id, version=version, **fields)  # type: ignore[arg-type]


def outcomes() -> list[ItemOutcome]:
    return [
        plain(1, "EE123456785GB"),
        plain(2, "EE000000000GB", 3, function=ItemFunction.AMENDMENT, line=70_000),
        plain(3, "RR-ünïcode-1", findings=(warning("VAGUE", "vague", "/x", 30),)),
        plain(4, "", declaration=None, findings=(error("XSD", "bad", "/y", 40),)),
        plain(5, "EE999999995GB", declaration=Declaration(declaration_id="kept whole")),
        plain(6, "EE111111110GB", 1 << 40),  # a version past the packed range
        plain(7, "EE222222225GB", function=ItemFunction.CANCELLATION),
    ]


def test_what_is_appended_is_given_back_equal_plain_ones_packed() -> None:
    items = outcomes()
    packed = PackedOutcomes(items)

    assert len(packed) == 7
    assert list(packed) == items
    assert packed == items
    assert packed == tuple(items)
    assert tuple(items) == packed
    assert packed != items[:-1]
    assert [i.accepted for i in packed] == [i.accepted for i in items]
    assert packed[-1] == items[-1]
    assert packed[1:3] == items[1:3]
    assert packed[4].declaration is items[4].declaration  # kept whole, Declaration and all
    assert packed[0].declaration is TRANSLATED
    with pytest.raises(IndexError):
        packed[7]
    # Items 1, 2 and 7 are packed; the others (findings, no or a real Declaration, a huge
    # version) are kept whole.
    assert repr(packed) == "PackedOutcomes(7 items, 4 whole)"


def test_an_item_out_of_its_place_is_kept_whole() -> None:
    packed = PackedOutcomes([plain(2, "EE123456785GB")])
    assert packed[0].index == 2
    assert repr(packed) == "PackedOutcomes(1 items, 1 whole)"


def test_pickling_keeps_every_item() -> None:
    packed = PackedOutcomes(outcomes())
    copy = pickle.loads(pickle.dumps(packed, protocol=5))  # noqa: S301 - bytes made here
    assert copy == outcomes()
    assert copy[0].declaration is TRANSLATED  # the receiving process's own marker


def test_replacing_items_leaves_the_original_alone() -> None:
    packed = PackedOutcomes(outcomes())
    flagged = replace(packed[0], findings=(error("DUP", "again", "/z", 10),), declaration=None)

    changed = with_changes(packed, {0: flagged})

    assert isinstance(changed, PackedOutcomes)
    assert changed[0] == flagged
    assert not changed[0].accepted
    assert list(changed)[1:] == outcomes()[1:]
    assert packed == outcomes()
    assert with_changes(packed, {}) is packed
    assert with_changes(outcomes(), {0: flagged}) == (flagged, *outcomes()[1:])


def test_the_rules_give_packed_outcomes_the_answers_they_give_tuples() -> None:
    items = [
        plain(1, "EE123456785GB"),
        plain(2, "EE123456785GB"),  # a duplicate
        plain(3, "EE000000000GB", 2, function=ItemFunction.AMENDMENT),
        plain(4, "EE999999995GB"),  # already accepted before
    ]
    states = {"EE000000000GB": ItemState(1, ItemFunction.ORIGINAL)}
    states |= {"EE999999995GB": ItemState(1, ItemFunction.ORIGINAL)}

    for given in (tuple(items), PackedOutcomes(items)):
        marked = mark_duplicates(given)
        judged = apply_history_rules(marked, states)
        assert type(judged) is type(given)
        assert [[f.code for f in i.findings] for i in judged] == [
            [],
            ["DUPLICATE_IN_MESSAGE"],
            [],
            ["ITEM_ALREADY_ACCEPTED"],
        ]
        assert [i.accepted for i in judged] == [True, False, True, False]


def test_dropping_a_declaration_keeps_everything_else() -> None:
    item = plain(1, "EE123456785GB", declaration=Declaration(declaration_id="d"))
    dropped = item.declaration_dropped()
    assert dropped == item
    assert dropped.declaration is TRANSLATED
    assert dropped.accepted
    assert dropped.declaration_dropped() is dropped
    rejected = plain(2, "", declaration=None, findings=(error("XSD", "bad", "/y", 40),))
    assert rejected.declaration_dropped() is rejected
