"""Valuation of a declaration: USD value, band, de minimis now and under the last rule before."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gateway.rules.valuation import default_rates, default_rules, value_declaration
from gateway.wire.declaration_pb2 import Declaration

POSTED = datetime(2026, 11, 26, 17, 2, tzinfo=UTC)


def declaration(
    amount: str, currency: str, category: str = "SALE_OF_GOODS", posted: datetime | None = POSTED
) -> Declaration:
    decl = Declaration(category=category)
    decl.total_value.amount, decl.total_value.currency = amount, currency
    if posted is not None:
        decl.posted_at.FromDatetime(posted)
        decl.has_posted_at = True
    return decl


def valued(decl: Declaration, home: str = "US", received: date = date(2026, 11, 27)) -> Declaration:
    value_declaration(decl, home_country=home, received_day=received, rates=default_rates(),
                      rules=default_rules())  # fmt: skip
    return decl


def test_a_gbp_item_gets_its_usd_value_band_and_the_us_outcome_of_its_posting_day() -> None:
    v = valued(declaration("42.50", "GBP")).valuation
    assert (v.value_usd, v.value_band, v.rate_missing) == ("56.74", "40-100", False)
    assert v.valued_on == "2026-11-26"
    assert (v.rule_id, v.de_minimis) == ("US-EO14324", False)
    assert (v.pre_suspension_rule_id, v.pre_suspension_de_minimis) == ("US-S321-800", True)


def test_a_500_usd_item_in_2026_is_dutiable_but_would_have_qualified_under_800() -> None:
    v = valued(declaration("500.00", "USD")).valuation
    assert (v.value_usd, v.value_band, v.de_minimis) == ("500.00", "150-800", False)
    assert v.pre_suspension_de_minimis


def test_a_gift_under_100_usd_stays_free_after_the_suspension() -> None:
    v = valued(declaration("99.99", "USD", category="GIFT")).valuation
    assert v.de_minimis
    assert "gift" in v.reason


def test_before_the_suspension_the_800_rule_applies_and_no_continuity_is_needed() -> None:
    posted = datetime(2025, 8, 28, 23, 59, tzinfo=UTC)
    v = valued(declaration("800.00", "USD", posted=posted)).valuation
    assert (v.rule_id, v.de_minimis, v.pre_suspension_rule_id) == ("US-S321-800", True, "")


def test_without_a_posting_day_the_received_day_is_used() -> None:
    v = valued(declaration("10.00", "USD", posted=None), received=date(2025, 8, 1)).valuation
    assert (v.valued_on, v.rule_id, v.de_minimis) == ("2025-08-01", "US-S321-800", True)


def test_an_unknown_rate_leaves_value_and_band_empty_and_counts_as_missing() -> None:
    v = valued(declaration("1000", "XAU")).valuation
    assert (v.rate_missing, v.value_usd, v.value_band, v.de_minimis) == (True, "", "", False)


def test_another_home_country_values_by_its_own_rule_in_its_currency() -> None:
    v = valued(declaration("130.00", "GBP"), home="GB").valuation
    assert (v.rule_id, v.de_minimis) == ("GB-LVG-135", True)
    v = valued(declaration("180.00", "USD"), home="GB").valuation  # ~134.3 GBP at the Q4 rate
    assert v.de_minimis
