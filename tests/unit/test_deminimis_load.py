"""De minimis rules files are checked at load: each mistake names its file, key and fix."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.rules.deminimis import RULES_FILE, load_rules, outcome

GB = """
[[rules]]
id = "GB-A"
country = "GB"
currency = "GBP"
threshold = "135"
channel = "ANY"
valid_from = 2021-01-01
source = "HMRC"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "de-minimis.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str, key: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert str(path) in str(caught.value)
    return caught.value


def test_the_shipped_file_loads() -> None:
    assert len(load_rules(RULES_FILE).rules) >= 7


def test_an_operator_file_is_used_as_given(tmp_path: Path) -> None:
    text = GB.replace('"135"', '"150"')
    table = load_rules(write(tmp_path, text))
    found = table.rule_in_force("GB", date(2026, 1, 1))
    assert found is not None
    assert outcome(found, Decimal(150), "SALE_OF_GOODS").de_minimis
    assert table.source_file.endswith("de-minimis.toml")


def test_rules_that_share_a_day_for_one_country_and_channel_are_refused(tmp_path: Path) -> None:
    text = RULES_FILE.read_text().replace("valid_to = 2025-08-28", "valid_to = 2025-08-29")
    error = refused(tmp_path, text, "rules[1]")
    assert "US-EO14324 overlaps US-S321-800" in str(error)
    assert "valid_to is inclusive" in error.fix


def test_a_channel_rule_overlapping_an_any_rule_is_refused(tmp_path: Path) -> None:
    text = GB + GB.replace('"GB-A"', '"GB-B"').replace('"ANY"', '"POST"')
    assert "GB-B overlaps GB-A" in str(refused(tmp_path, text, "rules[1]"))


def test_rules_for_different_channels_or_disjoint_origins_may_share_days(tmp_path: Path) -> None:
    post = GB.replace('"ANY"', '"POST"')
    courier = GB.replace('"GB-A"', '"GB-C"').replace('"ANY"', '"COURIER"')
    us = courier.replace('"GB-C"', '"GB-US"').replace("valid_from", 'origins = ["US"]\nvalid_from')
    mx = us.replace('"GB-US"', '"GB-MX"').replace('["US"]', '["MX"]')
    table = load_rules(write(tmp_path, post + courier + us + mx))
    found = table.rule_in_force("GB", date(2026, 1, 1), "COURIER", "US")
    assert found is not None
    assert found.id == "GB-US"  # the origin-specific rule takes precedence


def test_origin_rules_whose_origins_meet_are_refused(tmp_path: Path) -> None:
    us = GB.replace("valid_from", 'origins = ["US", "MX"]\nvalid_from')
    mx = us.replace('"GB-A"', '"GB-B"').replace('["US", "MX"]', '["MX"]')
    assert "GB-B overlaps GB-A" in str(refused(tmp_path, us + mx, "rules[1]"))


def test_successive_rules_may_meet_at_their_edges(tmp_path: Path) -> None:
    old = GB.replace("valid_from = 2021-01-01", "valid_from = 2021-01-01\nvalid_to = 2025-12-31")
    new = GB.replace('"GB-A"', '"GB-B"').replace("2021-01-01", "2026-01-01")
    table = load_rules(write(tmp_path, old + new))
    assert [
        table.rule_in_force("GB", date(2025, 12, 31)),
        table.rule_in_force("GB", date(2026, 1, 1)),
    ] == list(table.rules)


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('source = "HMRC"\n', "", "rules[0].source", "is missing"),
        ('source = "HMRC"', 'source = "  "', "rules[0].source", "is missing"),
        ('id = "GB-A"\n', "", "rules[0].id", "is missing"),
        ('threshold = "135"', "threshold = 135.0", "rules[0].threshold", "not a quoted decimal"),
        ('threshold = "135"', 'threshold = "lots"', "rules[0].threshold", "not a decimal"),
        ('threshold = "135"', 'threshold = "-1"', "rules[0].threshold", "non-negative"),
        ('threshold = "135"\n', "", "rules[0].threshold", "is missing"),
        ('threshold = "135"', 'threshold = "135"\nsuspension = true', "rules[0].threshold",
         "meaningless under a suspension"),
        ('threshold = "135"', 'threshold = "135"\ntax_threshold = "136"', "rules[0].tax_threshold",
         "exceeds threshold"),
        ('threshold = "135"', 'threshold = "135"\nsuspension = "yes"', "rules[0].suspension",
         "not a boolean"),
        ('country = "GB"', 'country = "UK"', "rules[0].country", "not an ISO 3166-1"),
        ('currency = "GBP"', 'currency = "STG"', "rules[0].currency", "not an ISO 4217"),
        ('channel = "ANY"', 'channel = "AIR"', "rules[0].channel", "not a channel"),
        ('channel = "ANY"', 'channel = "ANY"\norigins = "US"', "rules[0].origins", "ISO countries"),
        ('channel = "ANY"', 'channel = "ANY"\norigins = ["XX"]', "rules[0].origins",
         "ISO countries"),
        ("valid_from = 2021-01-01", 'valid_from = "2021-01-01"', "rules[0].valid_from",
         "not a date"),
        ("valid_from = 2021-01-01", "valid_from = 2021-01-01T00:00:00Z", "rules[0].valid_from",
         "not a date"),
        ("valid_from = 2021-01-01\n", "", "rules[0].valid_from", "not a date"),
        ("valid_from = 2021-01-01", "valid_from = 2021-01-01\nvalid_to = 2020-12-31",
         "rules[0].valid_to", "before valid_from"),
        ('channel = "ANY"', 'channel = "ANY"\nthreshhold = "1"', "rules[0].threshhold",
         "not a rule key"),
    ],
)  # fmt: skip
def test_each_mistake_in_a_rule_names_its_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    assert old in GB
    assert problem in str(refused(tmp_path, GB.replace(old, new), key))


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    text = GB + GB.replace('"ANY"', '"POST"').replace("2021-01-01", "2030-01-01")
    assert "GB-A is used twice" in str(refused(tmp_path, text, "rules[1].id"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "rules"),
        ("rules = 3", "rules"),
        ("[rule]\nid = 1", "rule"),
        ("rules = [1]", "rules[0]"),
    ],
)
def test_a_file_without_rules_is_refused(tmp_path: Path, text: str, key: str) -> None:
    refused(tmp_path, text, key)


def test_an_unreadable_file_is_refused_naming_it(tmp_path: Path) -> None:
    refused(tmp_path, "[[rules]\n", "-")
    with pytest.raises(ConfigError, match="unreadable"):
        load_rules(tmp_path / "absent.toml")


def test_the_continuity_baseline_is_the_latest_rule_that_ended_before_the_suspension(
    tmp_path: Path,
) -> None:
    first = GB.replace("valid_from = 2021-01-01", "valid_from = 2021-01-01\nvalid_to = 2022-12-31")
    second = GB.replace('"GB-A"', '"GB-B"').replace(
        "valid_from = 2021-01-01", "valid_from = 2023-01-01\nvalid_to = 2024-12-31"
    )
    stop = GB.replace('"GB-A"', '"GB-STOP"').replace('threshold = "135"', "suspension = true")
    stop = stop.replace("2021-01-01", "2025-01-01")
    table = load_rules(write(tmp_path, first + second + stop))
    before = table.last_rule_before_suspension("GB", date(2026, 1, 1), "COURIER", "CN")
    assert before is not None
    assert before.id == "GB-B"
    assert table.last_rule_before_suspension("GB", date(2024, 1, 1)) is None
