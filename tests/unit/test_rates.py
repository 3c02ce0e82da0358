"""The rates table: USD per unit looked up by day, never guessed, decimal throughout."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from gateway.formats.b5.rows import RateLookup
from gateway.formats.itmatt.samples import _CURRENCIES
from gateway.rules.rates import default_rates

D = Decimal


def test_usd_is_one_on_every_day() -> None:
    for day in (date(1990, 1, 1), date(2026, 11, 26), date(2100, 1, 1)):
        assert default_rates().usd_per_unit("USD", day) == D(1)


def test_a_rate_is_taken_from_the_month_that_holds_the_day() -> None:
    rates = default_rates()
    assert rates.usd_per_unit("GBP", date(2025, 8, 1)) == D("1.3442")
    assert rates.usd_per_unit("GBP", date(2025, 8, 31)) == D("1.3442")
    assert rates.usd_per_unit("GBP", date(2025, 9, 1)) == D("1.3504")
    assert rates.usd_per_unit("GBP", date(2026, 11, 26)) == D("1.33532")


def test_a_quarterly_rate_published_per_usd_is_inverted_to_12_digits() -> None:
    rates = default_rates()
    q2 = rates.usd_per_unit("VND", date(2026, 6, 30))  # 26400 VND per USD
    assert q2 == D("0.0000378787878788")
    assert rates.usd_per_unit("VND", date(2026, 7, 1)) != q2
    period = rates.period("VND", date(2026, 5, 1))
    assert period is not None
    assert (period.valid_from, period.valid_to) == (date(2026, 4, 1), date(2026, 6, 30))
    assert "Treasury Reporting Rates of Exchange" in period.source


@pytest.mark.parametrize(
    ("currency", "day"),
    [
        ("XAU", date(2026, 1, 1)),  # an ISO currency the table does not hold
        ("ZZZ", date(2026, 1, 1)),  # not a currency at all
        ("GBP", date(2024, 12, 31)),  # the day before the first period
        ("GBP", date(2027, 1, 1)),  # the day after the last one
        ("VND", date(2027, 1, 1)),
    ],
)
def test_a_missing_rate_is_none_never_the_nearest(currency: str, day: date) -> None:
    rates = default_rates()
    assert rates.usd_per_unit(currency, day) is None
    assert rates.to_usd(D(10), currency, day) is None
    assert rates.period(currency, day) is None


def test_conversion_is_decimal_exact_and_unrounded() -> None:
    usd = default_rates().to_usd(D("42.50"), "GBP", date(2026, 11, 26))
    assert usd == D("56.751100")  # 42.50 x 1.33532; the caller rounds


def test_every_currency_the_demo_data_uses_has_a_rate_on_every_day_of_2025_and_2026() -> None:
    rates, wanted = default_rates(), {*_CURRENCIES.values(), "USD", "AUD", "CAD", "NZD", "GBP"}
    day = date(2025, 1, 1)
    while day <= date(2026, 12, 31):
        assert all(rates.usd_per_unit(c, day) is not None for c in wanted), day
        day += timedelta(days=1)


def test_every_period_cites_its_source() -> None:
    rates = default_rates()
    for currency in rates.currencies:
        period = rates.period(currency, date(2026, 1, 15))
        assert period is not None
        assert period.source.strip()
        assert period.usd_per_unit > 0


def test_the_table_is_the_rate_lookup_the_feed_parser_calls() -> None:
    lookup: RateLookup = default_rates()
    assert lookup.usd_per_unit("AUD", date(2026, 11, 16)) == D("0.660676")
