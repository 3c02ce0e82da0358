"""De minimis rules as data: the rule in force on each side of its dates, outcomes at thresholds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.rules.deminimis import RULES_FILE, default_rules, load_rules, outcome

D = Decimal


@pytest.mark.parametrize(
    ("country", "day", "channel", "origin", "rule"),
    [
        ("US", date(2016, 3, 9), "POST", None, None),
        ("US", date(2016, 3, 10), "POST", None, "US-S321-800"),
        ("US", date(2025, 8, 28), "POST", None, "US-S321-800"),
        ("US", date(2025, 8, 29), "POST", None, "US-EO14324"),
        ("AU", date(2018, 6, 30), "POST", None, None),
        ("AU", date(2018, 7, 1), "POST", None, "AU-LVG-1000"),
        ("NZ", date(2019, 11, 30), "POST", None, None),
        ("NZ", date(2019, 12, 1), "POST", None, "NZ-LVG-1000"),
        ("GB", date(2020, 12, 31), "POST", None, None),
        ("GB", date(2021, 1, 1), "POST", None, "GB-LVG-135"),
        ("CA", date(2026, 1, 5), "POST", "CN", "CA-POST-20"),
        ("CA", date(2020, 6, 30), "COURIER", "US", None),
        ("CA", date(2020, 7, 1), "COURIER", "US", "CA-CUSMA-COURIER-40"),
        ("CA", date(2020, 7, 1), "COURIER", "MX", "CA-CUSMA-COURIER-40"),
        ("CA", date(2026, 1, 5), "COURIER", "CN", None),
    ],
)
def test_the_rule_in_force_changes_exactly_on_its_dates(
    country: str, day: date, channel: str, origin: str | None, rule: str | None
) -> None:
    found = default_rules().rule_in_force(country, day, channel, origin)
    assert (found.id if found else None) == rule


@pytest.mark.parametrize(
    ("country", "day", "value", "category", "expected"),
    [
        ("US", date(2025, 8, 28), "800.00", "SALE_OF_GOODS", True),
        ("US", date(2025, 8, 28), "800.01", "SALE_OF_GOODS", False),
        (
            "US",
            date(2025, 8, 29),
            "5.00",
            "SALE_OF_GOODS",
            False,
        ),  # suspended: postal items dutiable
        ("US", date(2025, 8, 29), "100.00", "GIFT", True),  # bona fide gifts <= 100 stay free
        ("US", date(2025, 8, 29), "100.01", "GIFT", False),
        ("GB", date(2026, 1, 1), "135.00", "SALE_OF_GOODS", True),
        ("GB", date(2026, 1, 1), "135.01", "SALE_OF_GOODS", False),
        ("GB", date(2026, 1, 1), "39.00", "GIFT", True),
        ("AU", date(2026, 1, 1), "1000.00", "SALE_OF_GOODS", True),
        ("AU", date(2026, 1, 1), "1000.01", "SALE_OF_GOODS", False),
        ("NZ", date(2026, 1, 1), "1000.00", "SALE_OF_GOODS", True),
        ("CA", date(2026, 1, 1), "20.00", "SALE_OF_GOODS", True),
        ("CA", date(2026, 1, 1), "20.01", "SALE_OF_GOODS", False),
    ],
)
def test_outcomes_at_each_threshold(
    country: str, day: date, value: str, category: str, expected: bool
) -> None:
    rule = default_rules().rule_in_force(country, day)
    assert rule is not None
    assert outcome(rule, D(value), category).de_minimis is expected


def test_the_cusma_courier_threshold_is_40_cad_for_us_goods() -> None:
    rule = default_rules().rule_in_force("CA", date(2026, 1, 1), "COURIER", "US")
    assert rule is not None
    assert outcome(rule, D("40.00"), "SALE_OF_GOODS").de_minimis
    assert not outcome(rule, D("40.01"), "SALE_OF_GOODS").de_minimis


def test_an_unknown_value_is_never_guessed_to_qualify() -> None:
    rule = default_rules().rule_in_force("GB", date(2026, 1, 1))
    assert rule is not None
    unknown = outcome(rule, None, "SALE_OF_GOODS")
    assert not unknown.de_minimis
    assert "rate missing" in unknown.reason


def test_under_the_us_suspension_the_800_rule_is_the_continuity_baseline() -> None:
    rules = default_rules()
    before = rules.last_rule_before_suspension("US", date(2026, 11, 26))
    assert before is not None
    assert before.id == "US-S321-800"
    assert rules.last_rule_before_suspension("US", date(2025, 8, 28)) is None
    assert rules.last_rule_before_suspension("GB", date(2026, 1, 1)) is None


def test_every_rule_cites_a_source() -> None:
    assert all(rule.source for rule in default_rules().rules)


def test_overlapping_rules_are_refused_naming_the_file(tmp_path: Path) -> None:
    text = RULES_FILE.read_text().replace("valid_to = 2025-08-28", "valid_to = 2025-09-30")
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="overlaps US-S321-800") as caught:
        load_rules(path)
    assert str(path) in str(caught.value)


def test_a_rule_without_a_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rules]]\nid = "X"\ncountry = "GB"\ncurrency = "GBP"\nthreshold = "1"\n'
        "valid_from = 2020-01-01\n"
    )
    with pytest.raises(ConfigError, match=r"rules\[0\]\.source"):
        load_rules(path)
