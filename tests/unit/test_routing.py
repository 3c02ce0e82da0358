"""Routing rules: which journal records a consumer receives."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from gateway.domain.journal import JournalEntry
from gateway.domain.routing import RoutingRule
from tests.builders import make_entry

# make_entry: SALE_OF_GOODS, partner gb-royal-mail, chapters 61 and 95, origins GB and CN,
# totalValue 12.50 GBP.
ENTRY = make_entry()


def entry(**changes: object) -> JournalEntry:
    return replace(ENTRY, **changes)  # type: ignore[arg-type]


def test_empty_rule_matches_every_record() -> None:
    assert RoutingRule().matches(ENTRY)
    assert RoutingRule().matches(entry(category="GIFT", hs_chapters=(), origin_countries=()))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (RoutingRule(categories=frozenset({"SALE_OF_GOODS"})), True),
        (RoutingRule(categories=frozenset({"GIFT"})), False),
        (RoutingRule(hs_chapters=frozenset({"95"})), True),
        (RoutingRule(hs_chapters=frozenset({"85"})), False),
        (RoutingRule(origin_countries=frozenset({"CN"})), True),
        (RoutingRule(origin_countries=frozenset({"VN"})), False),
        (RoutingRule(partners=frozenset({"gb-royal-mail"})), True),
        (RoutingRule(partners=frozenset({"cn-china-post"})), False),
        (RoutingRule(min_value=Decimal("12.50"), min_value_currency="GBP"), True),
        (RoutingRule(min_value=Decimal("12.51"), min_value_currency="GBP"), False),
    ],
    ids=[
        "category-listed",
        "category-not-listed",
        "hs-chapter-listed",
        "hs-chapter-not-listed",
        "origin-listed",
        "origin-not-listed",
        "partner-listed",
        "partner-not-listed",
        "value-at-minimum",
        "value-below-minimum",
    ],
)
def test_each_criterion_selects_on_its_own_attribute(rule: RoutingRule, expected: bool) -> None:
    assert rule.matches(ENTRY) is expected


def test_records_without_hs_chapters_do_not_match_a_chapter_rule() -> None:
    assert not RoutingRule(hs_chapters=frozenset({"61"})).matches(entry(hs_chapters=()))


def test_any_listed_value_within_one_criterion_matches() -> None:
    rule = RoutingRule(
        categories=frozenset({"GIFT", "SALE_OF_GOODS"}),
        hs_chapters=frozenset({"01", "61"}),
        origin_countries=frozenset({"VN", "GB"}),
        partners=frozenset({"cn-china-post", "gb-royal-mail"}),
    )
    assert rule.matches(ENTRY)
    assert rule.matches(entry(category="GIFT"))
    assert not rule.matches(entry(category="DOCUMENTS"))


def test_every_non_empty_criterion_must_hold() -> None:
    rule = RoutingRule(
        categories=frozenset({"SALE_OF_GOODS"}),
        origin_countries=frozenset({"CN"}),
        partners=frozenset({"gb-royal-mail"}),
    )
    assert rule.matches(ENTRY)
    assert not rule.matches(entry(category="GIFT"))
    assert not rule.matches(entry(origin_countries=("GB",)))
    assert not rule.matches(entry(partner="cn-china-post"))


def test_origin_rule_matches_the_senders_country_or_any_piece_origin() -> None:
    rule = RoutingRule(origin_countries=frozenset({"GB"}))
    assert rule.matches(entry(origin_countries=("CN", "GB")))
    assert not rule.matches(entry(origin_countries=("CN", "VN")))


def test_min_value_applies_only_to_items_in_its_currency() -> None:
    rule = RoutingRule(min_value=Decimal(100), min_value_currency="USD")
    assert not rule.matches(entry(value_amount=Decimal("99.99"), value_currency="USD"))
    assert rule.matches(entry(value_amount=Decimal("100.00"), value_currency="USD"))
    # Another currency cannot be compared without a rates table: routed, never dropped.
    assert rule.matches(entry(value_amount=Decimal("0.01"), value_currency="GBP"))


def test_min_value_compares_decimals_exactly() -> None:
    rule = RoutingRule(min_value=Decimal("0.30"), min_value_currency="USD")
    assert rule.matches(entry(value_amount=Decimal("0.1") + Decimal("0.2"), value_currency="USD"))
    assert not rule.matches(entry(value_amount=Decimal("0.29"), value_currency="USD"))
