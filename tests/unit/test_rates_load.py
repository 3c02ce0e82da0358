"""Rates files are checked at load: each mistake names its file, key and fix."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.rules.rates import RATES_FILE, load_rates

GBP = """
[[currencies]]
code = "GBP"
source = "H.10"
periods = [
  { valid_from = 2026-01-01, valid_to = 2026-01-31, usd_per_unit = "1.25" },
  { valid_from = 2026-03-01, valid_to = 2026-03-31, usd_per_unit = "1.30", source = "G.5" },
]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rates.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str, key: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_rates(path)
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert str(path) in str(caught.value)
    return caught.value


def test_the_shipped_file_loads() -> None:
    assert "GBP" in load_rates(RATES_FILE).currencies


def test_a_gap_between_periods_has_no_rate(tmp_path: Path) -> None:
    rates = load_rates(write(tmp_path, GBP))
    assert rates.usd_per_unit("GBP", date(2026, 1, 31)) == Decimal("1.25")
    assert rates.usd_per_unit("GBP", date(2026, 2, 1)) is None
    assert rates.usd_per_unit("GBP", date(2026, 2, 28)) is None
    assert rates.usd_per_unit("GBP", date(2026, 3, 1)) == Decimal("1.30")


def test_a_period_may_cite_its_own_source(tmp_path: Path) -> None:
    rates = load_rates(write(tmp_path, GBP))
    sources = [rates.period("GBP", date(2026, m, 1)) for m in (1, 3)]
    assert [p.source for p in sources if p] == ["H.10", "G.5"]


def test_periods_may_be_listed_out_of_order(tmp_path: Path) -> None:
    lines = GBP.splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    rates = load_rates(write(tmp_path, "\n".join(lines)))
    assert rates.usd_per_unit("GBP", date(2026, 3, 31)) == Decimal("1.30")


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('"1.25"', "1.25", "currencies[0].periods[0].usd_per_unit", "not a quoted decimal"),
        ('"1.25"', '"one"', "currencies[0].periods[0].usd_per_unit", "not a decimal"),
        ('"1.25"', '"0"', "currencies[0].periods[0].usd_per_unit", "positive"),
        ('"1.25"', '"-1.25"', "currencies[0].periods[0].usd_per_unit", "positive"),
        ('usd_per_unit = "1.25"', 'usd_per_unit = "1.25", units_per_usd = "0.8"',
         "currencies[0].periods[0]", "exactly one of"),
        ('usd_per_unit = "1.25"', 'rate = "1.25"', "currencies[0].periods[0].rate",
         "not a period key"),
        ("valid_to = 2026-01-31", "valid_to = 2025-12-31", "currencies[0].periods[0].valid_to",
         "before valid_from"),
        ("valid_from = 2026-03-01", "valid_from = 2026-01-31", "currencies[0].periods",
         "overlaps the period to 2026-01-31"),
        ("valid_from = 2026-01-01", 'valid_from = "2026-01-01"',
         "currencies[0].periods[0].valid_from", "not a date"),
        ("valid_to = 2026-01-31", "valid_to = 2026-01-31T23:59:59",
         "currencies[0].periods[0].valid_to", "not a date"),
        ('source = "H.10"\n', "", "currencies[0].source", "is missing"),
        ('source = "G.5"', 'source = ""', "currencies[0].periods[1].source", "non-empty"),
        ('code = "GBP"', 'code = "UKP"', "currencies[0].code", "not an ISO 4217"),
        ('code = "GBP"', 'code = "USD"', "currencies[0].code", "1 by definition"),
        ('code = "GBP"', 'code = "GBP"\nrate = 1', "currencies[0].rate", "not a currency key"),
    ],
)  # fmt: skip
def test_each_mistake_in_a_period_names_its_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    assert old in GBP
    assert problem in str(refused(tmp_path, GBP.replace(old, new, 1), key))


def test_a_currency_listed_twice_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path, GBP + GBP, "currencies[1].code")
    assert "GBP is listed twice" in str(error)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "currencies"),
        ('source = "x"', "source"),
        ("currencies = [1]", "currencies[0]"),
        ('[[currencies]]\ncode = "GBP"\nsource = "x"\nperiods = []', "currencies[0].periods"),
        ('[[currencies]]\ncode = "GBP"\nsource = "x"\nperiods = [1]', "currencies[0].periods[0]"),
    ],
)
def test_a_file_without_usable_currencies_is_refused(tmp_path: Path, text: str, key: str) -> None:
    refused(tmp_path, text, key)


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    refused(tmp_path, "[[currencies]\n", "-")
    with pytest.raises(ConfigError, match="unreadable"):
        load_rates(tmp_path / "absent.toml")
