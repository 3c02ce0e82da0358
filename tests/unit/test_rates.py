"""The rates table: looked up by day, never guessed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.rules.rates import default_rates, load_rates


def test_usd_is_always_one() -> None:
    assert default_rates().usd_per_unit("USD", date(1990, 1, 1)) == Decimal(1)


def test_a_rate_is_taken_from_the_period_that_holds_the_day() -> None:
    rates = default_rates()
    q3 = rates.usd_per_unit("GBP", date(2025, 9, 30))
    q4 = rates.usd_per_unit("GBP", date(2025, 10, 1))
    assert q3 is not None
    assert q4 is not None
    assert q3 != q4
    assert (Decimal("0.731") * q3).quantize(Decimal("0.000001")) == Decimal(1)


@pytest.mark.parametrize(
    ("currency", "day"),
    [("XAU", date(2026, 1, 1)), ("GBP", date(2024, 12, 31)), ("GBP", date(2027, 1, 1))],
)
def test_a_missing_rate_is_none_never_the_nearest(currency: str, day: date) -> None:
    assert default_rates().usd_per_unit(currency, day) is None
    assert default_rates().to_usd(Decimal(10), currency, day) is None


def test_conversion_is_decimal_exact() -> None:
    usd = default_rates().to_usd(Decimal("42.50"), "GBP", date(2026, 11, 26))
    assert isinstance(usd, Decimal)
    assert usd.quantize(Decimal("0.01")) == Decimal("56.74")


def test_a_rates_file_with_a_short_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.toml"
    path.write_text(
        "[[periods]]\nvalid_from = 2026-01-01\nvalid_to = 2026-03-31\n"
        "[[periods]]\nvalid_from = 2026-04-01\nvalid_to = 2026-06-30\n"
        '[per_usd]\nGBP = ["0.8"]\n'
    )
    with pytest.raises(ConfigError, match=r"per_usd\.GBP"):
        load_rates(path)
