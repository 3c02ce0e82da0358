"""Valuation of a declaration end to end: USD value and band, de minimis on the posting day under
the home country's rule, and under the last rule before a suspension."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from gateway.rules.deminimis import RATE_MISSING
from gateway.rules.valuation import (
    NO_RULE,
    default_rates,
    default_rules,
    valuation_day,
    value_declaration,
    valuer,
)
from gateway.wire.declaration_pb2 import Declaration, Valuation

POSTED = datetime(2026, 11, 26, 17, 2, tzinfo=UTC)
RECEIVED = date(2026, 11, 27)
SUSPENDED = "de minimis suspended (US-EO14324)"


def declaration(
    amount: str, currency: str, category: str = "SALE_OF_GOODS", posted: datetime | None = POSTED
) -> Declaration:
    decl = Declaration(category=category)
    decl.total_value.amount, decl.total_value.currency = amount, currency
    if posted is not None:
        decl.posted_at.FromDatetime(posted)
        decl.has_posted_at = True
    return decl


def valued(decl: Declaration, home: str = "US", received: date = RECEIVED) -> Valuation:
    value_declaration(decl, home_country=home, received_day=received, rates=default_rates(),
                      rules=default_rules())  # fmt: skip
    return decl.valuation


def test_a_gbp_item_gets_every_field_for_the_us_on_its_posting_day() -> None:
    assert valued(declaration("42.50", "GBP")) == Valuation(
        value_usd="56.75",  # 42.50 x 1.33532 = 56.7511
        value_band="40-100",
        rate_missing=False,
        rate="1.33532",
        rate_date="2026-11-26",
        home_country="US",
        rule_id="US-EO14324",
        de_minimis=False,
        reason=SUSPENDED,
        pre_suspension_rule_id="US-S321-800",
        pre_suspension_de_minimis=True,
        valued_on="2026-11-26",
    )


def test_a_500_usd_item_in_2026_is_dutiable_but_would_have_qualified_under_800() -> None:
    v = valued(declaration("500.00", "USD"))
    assert (v.value_usd, v.value_band, v.rate, v.de_minimis) == ("500.00", "150-800", "1", False)
    assert (v.pre_suspension_rule_id, v.pre_suspension_de_minimis) == ("US-S321-800", True)


def test_an_item_over_800_usd_would_not_have_qualified_either() -> None:
    v = valued(declaration("800.01", "USD"))
    assert (v.value_band, v.de_minimis, v.pre_suspension_de_minimis) == ("800-2500", False, False)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("100.00", "USD", True),
        ("100.01", "USD", False),
        ("74.88", "GBP", True),  # 99.99 USD
        ("74.89", "GBP", True),  # 100.0021 USD: 100.00 to the cent
        ("74.90", "GBP", False),  # 100.02 USD
    ],
)
def test_a_bona_fide_gift_up_to_100_usd_stays_free_after_the_suspension(
    amount: str, currency: str, expected: bool
) -> None:
    v = valued(declaration(amount, currency, category="GIFT"))
    assert (v.rule_id, v.de_minimis) == ("US-EO14324", expected)
    assert v.reason.startswith("bona fide gift" if expected else "gift over 100 USD")


@pytest.mark.parametrize(
    ("posted", "rule", "de_minimis", "pre_rule"),
    [
        (datetime(2016, 3, 9, 23, 59, tzinfo=UTC), "", False, ""),
        (datetime(2016, 3, 10, 0, 0, tzinfo=UTC), "US-S321-800", True, ""),
        (datetime(2025, 8, 28, 23, 59, 59, tzinfo=UTC), "US-S321-800", True, ""),
        (datetime(2025, 8, 29, 0, 0, tzinfo=UTC), "US-EO14324", False, "US-S321-800"),
        # 23:30 on the 28th in New York is the 29th in UTC: the posting day is the UTC date
        (datetime(2025, 8, 28, 23, 30, tzinfo=timezone(timedelta(hours=-5))), "US-EO14324", False,
         "US-S321-800"),
    ],
)  # fmt: skip
def test_the_us_rule_changes_on_the_utc_posting_day(
    posted: datetime, rule: str, de_minimis: bool, pre_rule: str
) -> None:
    v = valued(declaration("800.00", "USD", posted=posted))
    assert (v.valued_on, v.rule_id, v.de_minimis) == (
        posted.astimezone(UTC).date().isoformat(),
        rule,
        de_minimis,
    )
    assert (v.pre_suspension_rule_id, v.pre_suspension_de_minimis) == (pre_rule, bool(pre_rule))


def test_before_the_first_recorded_rule_there_is_no_outcome() -> None:
    v = valued(declaration("10.00", "USD", posted=datetime(2016, 3, 9, tzinfo=UTC)))
    assert (v.rule_id, v.de_minimis, v.reason) == ("", False, NO_RULE)


def test_without_a_posting_day_the_received_day_is_used() -> None:
    decl = declaration("10.00", "USD", posted=None)
    assert valuation_day(decl, date(2025, 8, 1)) == date(2025, 8, 1)
    v = valued(decl, received=date(2025, 8, 1))
    assert (v.valued_on, v.rate_date, v.rule_id, v.de_minimis) == (
        "2025-08-01",
        "2025-08-01",
        "US-S321-800",
        True,
    )


def test_an_unknown_rate_leaves_value_and_band_empty_and_counts_as_missing() -> None:
    v = valued(declaration("1000", "XAU"))
    assert (v.rate_missing, v.value_usd, v.value_band, v.rate, v.rate_date) == (
        True,
        "",
        "",
        "",
        "",
    )
    # the suspension decides without a value; the 800 rule would need one
    assert (v.rule_id, v.de_minimis, v.reason) == ("US-EO14324", False, SUSPENDED)
    assert (v.pre_suspension_rule_id, v.pre_suspension_de_minimis) == ("US-S321-800", False)


def test_an_unknown_rate_leaves_a_gift_undecided() -> None:
    v = valued(declaration("5", "XAU", category="GIFT"))
    assert (v.rate_missing, v.de_minimis, v.reason) == (True, False, RATE_MISSING)


def test_a_day_outside_every_rate_period_is_missing_not_the_nearest_rate() -> None:
    v = valued(declaration("10.00", "GBP", posted=datetime(2027, 1, 1, tzinfo=UTC)))
    assert (v.rate_missing, v.value_usd, v.valued_on) == (True, "", "2027-01-01")


def test_a_rule_in_the_items_own_currency_needs_no_rate() -> None:
    v = valued(declaration("135.00", "GBP", posted=datetime(2027, 1, 1, tzinfo=UTC)), home="GB")
    assert (v.rate_missing, v.rule_id, v.de_minimis) == (True, "GB-LVG-135", True)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("135.00", "GBP", True),
        ("135.01", "GBP", False),
        ("180.00", "USD", True),  # 134.7994 GBP: 134.80
        ("181.00", "USD", False),  # 135.55 GBP
        ("154.00", "EUR", True),  # 179.82 USD, 134.66 GBP
        ("155.00", "EUR", False),  # 135.54 GBP
    ],
)
def test_a_gb_home_compares_in_gbp_converting_through_the_usd_value(
    amount: str, currency: str, expected: bool
) -> None:
    v = valued(declaration(amount, currency), home="GB")
    assert (v.home_country, v.rule_id, v.de_minimis, v.pre_suspension_rule_id) == (
        "GB",
        "GB-LVG-135",
        expected,
        "",
    )


def test_a_ca_home_values_itmatt_items_under_the_postal_rule() -> None:
    v = valued(declaration("100.00", "CNY"), home="CA")  # 14.16 USD, 19.62 CAD
    assert (v.value_usd, v.rule_id, v.de_minimis, v.reason) == (
        "14.16",
        "CA-POST-20",
        True,
        "value <= 20 CAD: duty and tax free",
    )


def test_a_new_valuation_replaces_the_previous_one() -> None:
    decl = declaration("42.50", "GBP")
    valued(decl)
    v = valued(decl, home="GB")
    assert (v.home_country, v.rule_id, v.pre_suspension_rule_id) == ("GB", "GB-LVG-135", "")
    assert not v.pre_suspension_de_minimis


def test_the_pipeline_step_binds_the_shipped_tables() -> None:
    decl = declaration("500.00", "USD")
    valuer("US")(decl, RECEIVED)
    assert decl.valuation == valued(declaration("500.00", "USD"))
