"""De minimis rules as data: the rule in force on each side of its dates, outcomes at thresholds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gateway.rules.deminimis import RATE_MISSING, Rule, default_rules, outcome

D = Decimal
OPEN = date(2026, 12, 31)  # a day well inside every open-ended rule


def rule_id(country: str, day: date, channel: str = "POST", origin: str | None = None) -> str:
    found = default_rules().rule_in_force(country, day, channel, origin)
    return found.id if found else ""


def rule(country: str, day: date, channel: str = "POST", origin: str | None = None) -> Rule:
    found = default_rules().rule_in_force(country, day, channel, origin)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("country", "day", "channel", "origin", "expected"),
    [
        ("US", date(2016, 3, 9), "POST", None, ""),
        ("US", date(2016, 3, 10), "POST", None, "US-S321-800"),
        ("US", date(2016, 3, 10), "COURIER", "CN", "US-S321-800"),
        ("US", date(2025, 8, 28), "POST", None, "US-S321-800"),
        ("US", date(2025, 8, 29), "POST", None, "US-EO14324"),
        ("US", date(2025, 8, 29), "COURIER", None, "US-EO14324"),
        ("US", OPEN, "POST", None, "US-EO14324"),
        ("AU", date(2018, 6, 30), "POST", None, ""),
        ("AU", date(2018, 7, 1), "POST", None, "AU-LVG-1000"),
        ("AU", OPEN, "COURIER", None, "AU-LVG-1000"),
        ("NZ", date(2019, 11, 30), "POST", None, ""),
        ("NZ", date(2019, 12, 1), "POST", None, "NZ-LVG-1000"),
        ("NZ", OPEN, "POST", None, "NZ-LVG-1000"),
        ("GB", date(2020, 12, 31), "POST", None, ""),
        ("GB", date(2021, 1, 1), "POST", None, "GB-LVG-135"),
        ("GB", OPEN, "POST", None, "GB-LVG-135"),
        ("CA", date(1985, 10, 15), "POST", None, ""),
        ("CA", date(1985, 10, 16), "POST", None, "CA-POST-20"),
        ("CA", OPEN, "POST", "US", "CA-POST-20"),  # post from the US: still 20 CAD
        ("CA", date(2020, 6, 30), "COURIER", "US", ""),
        ("CA", date(2020, 7, 1), "COURIER", "US", "CA-CUSMA-COURIER"),
        ("CA", date(2020, 7, 1), "COURIER", "MX", "CA-CUSMA-COURIER"),
        ("CA", OPEN, "COURIER", "US", "CA-CUSMA-COURIER"),
        ("CA", OPEN, "COURIER", "CN", "CA-COURIER-20"),
        ("CA", OPEN, "COURIER", None, "CA-COURIER-20"),  # origin not stated: not CUSMA
        ("FR", OPEN, "POST", None, ""),
    ],
)
def test_the_rule_in_force_changes_exactly_on_its_dates(
    country: str, day: date, channel: str, origin: str | None, expected: str
) -> None:
    assert rule_id(country, day, channel, origin) == expected


@pytest.mark.parametrize(
    ("country", "day", "value", "category", "expected"),
    [
        ("US", date(2016, 3, 10), "800.00", "SALE_OF_GOODS", True),
        ("US", date(2016, 3, 10), "800.01", "SALE_OF_GOODS", False),
        ("US", date(2025, 8, 28), "800.00", "SALE_OF_GOODS", True),
        ("US", date(2025, 8, 28), "800.01", "SALE_OF_GOODS", False),
        ("US", date(2025, 8, 28), "500.00", "GIFT", True),  # no gift limit under the 800 rule
        ("US", date(2025, 8, 29), "0.01", "SALE_OF_GOODS", False),  # suspended: dutiable
        ("US", date(2025, 8, 29), "100.00", "GIFT", True),  # bona fide gifts <= 100 stay free
        ("US", date(2025, 8, 29), "100.01", "GIFT", False),
        ("US", OPEN, "100.00", "GIFT", True),
        ("US", OPEN, "100.01", "GIFT", False),
        ("GB", date(2021, 1, 1), "135.00", "SALE_OF_GOODS", True),
        ("GB", date(2021, 1, 1), "135.01", "SALE_OF_GOODS", False),
        ("GB", OPEN, "39.00", "GIFT", True),
        ("GB", OPEN, "39.01", "GIFT", True),  # over the gift allowance, still duty relief
        ("GB", OPEN, "135.01", "GIFT", False),
        ("AU", date(2018, 7, 1), "1000.00", "SALE_OF_GOODS", True),
        ("AU", date(2018, 7, 1), "1000.01", "SALE_OF_GOODS", False),
        ("NZ", date(2019, 12, 1), "1000.00", "SALE_OF_GOODS", True),
        ("NZ", date(2019, 12, 1), "1000.01", "SALE_OF_GOODS", False),
        ("CA", OPEN, "20.00", "SALE_OF_GOODS", True),
        ("CA", OPEN, "20.01", "SALE_OF_GOODS", False),
        ("CA", OPEN, "20.01", "GIFT", False),
    ],
)
def test_outcomes_at_each_threshold(
    country: str, day: date, value: str, category: str, expected: bool
) -> None:
    assert outcome(rule(country, day), D(value), category).de_minimis is expected


@pytest.mark.parametrize(
    ("value", "expected", "reason"),
    [
        ("40.00", True, "value <= 40 CAD: duty and tax free"),
        ("40.01", True, "value <= 150 CAD: duty free, taxes due"),
        ("150.00", True, "value <= 150 CAD: duty free, taxes due"),
        ("150.01", False, "value > 150 CAD"),
    ],
)
def test_cusma_courier_goods_from_the_us_are_tax_free_to_40_and_duty_free_to_150(
    value: str, expected: bool, reason: str
) -> None:
    for origin in ("US", "MX"):
        result = outcome(rule("CA", OPEN, "COURIER", origin), D(value), "SALE_OF_GOODS")
        assert (result.de_minimis, result.reason) == (expected, reason)


def test_courier_goods_from_elsewhere_stay_at_20_cad() -> None:
    courier = rule("CA", OPEN, "COURIER", "CN")
    assert outcome(courier, D("20.00"), "SALE_OF_GOODS").de_minimis
    assert not outcome(courier, D("20.01"), "SALE_OF_GOODS").de_minimis


def test_reasons_say_which_limit_decided() -> None:
    us, gb = rule("US", OPEN), rule("GB", OPEN)
    assert outcome(us, D(5), "SALE_OF_GOODS").reason == "de minimis suspended (US-EO14324)"
    assert outcome(us, D(100), "GIFT").reason == "bona fide gift <= 100 USD"
    assert outcome(us, D("100.01"), "GIFT").reason == (
        "gift over 100 USD; de minimis suspended (US-EO14324)"
    )
    assert outcome(gb, D(39), "GIFT").reason == "bona fide gift <= 39 GBP"
    assert outcome(gb, D(135), "SALE_OF_GOODS").reason == "value <= 135 GBP"
    assert outcome(gb, D("135.01"), "SALE_OF_GOODS").reason == "value > 135 GBP"


def test_an_unknown_value_never_qualifies_unless_no_value_is_needed() -> None:
    gb, us = rule("GB", OPEN), rule("US", OPEN)
    assert outcome(gb, None, "SALE_OF_GOODS") == outcome(gb, None, "GIFT")
    assert outcome(gb, None, "GIFT").reason == RATE_MISSING
    assert not outcome(gb, None, "GIFT").de_minimis
    assert outcome(us, None, "GIFT").reason == RATE_MISSING  # a gift needs its value
    assert outcome(us, None, "SALE_OF_GOODS").reason == "de minimis suspended (US-EO14324)"


def test_under_the_us_suspension_the_800_rule_is_the_continuity_baseline() -> None:
    rules = default_rules()
    for day in (date(2025, 8, 29), date(2026, 11, 26)):
        before = rules.last_rule_before_suspension("US", day)
        assert before is not None
        assert before.id == "US-S321-800"
        assert outcome(before, D(500), "SALE_OF_GOODS").de_minimis
    assert rules.last_rule_before_suspension("US", date(2025, 8, 28)) is None
    assert rules.last_rule_before_suspension("US", date(2016, 3, 9)) is None
    assert rules.last_rule_before_suspension("GB", OPEN) is None


def test_every_rule_cites_a_source_and_states_a_currency() -> None:
    rules = default_rules().rules
    assert {r.country for r in rules} == {"US", "AU", "CA", "NZ", "GB"}
    assert all(r.source.strip() and r.currency for r in rules)
    assert all(isinstance(r.threshold, Decimal) for r in rules if not r.suspension)
