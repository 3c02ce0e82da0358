"""UPU S10 identifiers: the table of docs/itmatt.md, check digits and domestic ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.findings import Severity
from gateway.formats.itmatt.samples import valid_s10
from gateway.rules.s10 import check_digit, check_s10, is_domestic, is_valid_s10

SPEC_TABLE = [
    ("RB123456785GB", set()),
    ("EE473124829US", set()),
    ("RR100000140AU", set()),
    ("CP000000005CN", set()),
    ("LX987654326DE", set()),
    ("RB123456786US", {"S10_CHECK_DIGIT"}),
    ("RR100000145AU", {"S10_CHECK_DIGIT"}),
    ("RB12345678GB", {"S10_FORMAT"}),
    ("RB123456785XX", {"S10_COUNTRY"}),
]


@pytest.mark.parametrize(("item_id", "codes"), SPEC_TABLE)
def test_spec_table_verdicts(item_id: str, codes: set[str]) -> None:
    findings = check_s10(item_id)
    assert {f.code for f in findings} == codes
    assert all(f.severity is Severity.ERROR for f in findings)
    assert is_valid_s10(item_id) == (not codes)


@pytest.mark.parametrize(
    ("serial", "digit"),
    [("12345678", 5), ("47312482", 9), ("10000014", 0), ("00000000", 5), ("98765432", 6)],
)
def test_check_digit_maps_ten_to_zero_and_eleven_to_five(serial: str, digit: int) -> None:
    assert check_digit(serial) == digit


@pytest.mark.parametrize(
    "serial",
    ["1234567", "123456789", "1234567a", "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"],
)
def test_check_digit_refuses_other_than_eight_ascii_digits(serial: str) -> None:
    with pytest.raises(ValueError, match="8 digits"):
        check_digit(serial)


@pytest.mark.parametrize(
    "item_id",
    ["rb123456785GB", "RB123456785gb", "RB 123456785GB", "R1123456785GB", "RB123456785GBR", ""],
)
def test_malformed_ids_get_only_s10_format(item_id: str) -> None:
    assert [f.code for f in check_s10(item_id)] == ["S10_FORMAT"]


@pytest.mark.parametrize("indicator", ["AV", "AZ", "BA", "BZ", "DX", "GA", "GD", "NA", "PX", "ZZ"])
def test_domestic_service_indicators_warn(indicator: str) -> None:
    findings = check_s10(valid_s10(indicator, 12345678, "GB"))
    assert [(f.code, f.severity) for f in findings] == [("S10_DOMESTIC_RANGE", Severity.WARNING)]
    assert is_valid_s10(valid_s10(indicator, 12345678, "GB"))


@pytest.mark.parametrize("indicator", ["AU", "CP", "EE", "GB", "GC", "LX", "RR", "UA", "CA"])
def test_international_service_indicators_do_not_warn(indicator: str) -> None:
    assert not is_domestic(indicator)
    assert check_s10(valid_s10(indicator, 12345678, "GB")) == []


def test_findings_carry_the_given_path_and_line() -> None:
    (finding,) = check_s10("RB123456786GB", "/x/itemId", 12)
    assert (finding.path, finding.line) == ("/x/itemId", 12)


@given(st.integers(min_value=0, max_value=99_999_999))
def test_valid_s10_always_passes(serial: int) -> None:
    item_id = valid_s10("RR", serial, "US")
    assert len(item_id) == 13
    assert check_s10(item_id) == []


@given(st.integers(min_value=0, max_value=99_999_999), st.integers(min_value=1, max_value=9))
def test_any_other_check_digit_fails(serial: int, shift: int) -> None:
    good = valid_s10("RR", serial, "US")
    bad = f"{good[:10]}{(int(good[10]) + shift) % 10}{good[11:]}"
    assert [f.code for f in check_s10(bad)] == ["S10_CHECK_DIGIT"]
