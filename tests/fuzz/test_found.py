"""The defects the fuzzers found, as fixed examples (the minimal inputs they shrank to)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from gateway.formats.b5 import parse_feed
from gateway.formats.itmatt import parse_itmatt
from gateway.formats.itmatt.samples import ItemSpec, PieceSpec, build_itmatt, valid_s10
from gateway.rules.valuation import valuer
from tests.fuzz.test_b5_feeds import MAPPINGS, RATES


@pytest.mark.parametrize(
    ("posted_at", "amount", "valued_on"),
    [
        ("9999-12-31T23:59:59-14:00", "20.00", "2026-11-27"),  # UTC day 10000-01-01
        ("0001-01-01T00:00:00+14:00", "20.00", "2026-11-27"),  # UTC day 0000-12-31
        ("2026-11-26T17:02:00Z", "9" * 40 + ".99", "2026-11-26"),  # beyond 28 digits
    ],
)
def test_an_accepted_item_is_valued_whatever_its_posting_time_or_amount(
    posted_at: str, amount: str, valued_on: str
) -> None:
    spec = ItemSpec(
        valid_s10("RR", 1, "GB"), posted_at=posted_at, pieces=(PieceSpec(value=amount),)
    )
    (item,) = parse_itmatt(build_itmatt("M1", "GBA", [spec])).items
    assert item.declaration is not None
    valuer("US")(item.declaration, date(2026, 11, 27))
    assert item.declaration.valuation.valued_on == valued_on
    assert item.declaration.valuation.value_usd


def ca_row(**fields: object) -> bytes:
    row = {"period": {"from": "2026-11-16", "to": "2026-11-22"}, "type": "SALE",
           "shipments": 1, "value_cad": "1.00", "seizures": 0} | fields  # fmt: skip
    return json.dumps(row).encode() + b"\n"


def test_a_row_in_year_one_gets_a_four_digit_iso_week() -> None:
    data = ca_row(period={"from": "0001-01-01", "to": "0001-01-01"})
    (row,) = parse_feed(data, MAPPINGS["ca-cbsa"], partner="ca-cbsa", rates=RATES).rows
    assert row.observation is not None
    assert row.observation.period == "0001-W01"


@pytest.mark.parametrize(("count", "accepted"), [(2**63 - 1, True), (2**63, False)])
def test_counts_stop_at_what_the_stores_hold(count: int, accepted: bool) -> None:
    data = ca_row(shipments=count)
    (row,) = parse_feed(data, MAPPINGS["ca-cbsa"], partner="ca-cbsa", rates=RATES).rows
    assert (row.observation is not None) == accepted
    if not accepted:
        assert [f.code for f in row.findings] == ["B5_NUMBER"]
