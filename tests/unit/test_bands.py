"""Value bands of B5 cells: lower bound exclusive, upper inclusive, 0-20 includes 0."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.rules.bands import BANDS, value_band


@pytest.mark.parametrize(
    ("usd", "band"),
    [
        ("0", "0-20"),
        ("0.00", "0-20"),
        ("0.01", "0-20"),
        ("20", "0-20"),
        ("20.00", "0-20"),
        ("20.01", "20-40"),
        ("40", "20-40"),
        ("40.01", "40-100"),
        ("100", "40-100"),
        ("100.01", "100-150"),
        ("150", "100-150"),
        ("150.01", "150-800"),
        ("800", "150-800"),
        ("800.01", "800-2500"),
        ("2500", "800-2500"),
        ("2500.01", "2500+"),
        ("1000000", "2500+"),
    ],
)
def test_each_band_holds_its_upper_edge_and_not_its_lower(usd: str, band: str) -> None:
    assert value_band(Decimal(usd)) == band


def test_the_bands_are_the_seven_of_the_spec_in_order() -> None:
    assert BANDS == ("0-20", "20-40", "40-100", "100-150", "150-800", "800-2500", "2500+")


def test_a_fraction_of_a_cent_above_an_edge_is_in_the_next_band() -> None:
    assert value_band(Decimal("20.001")) == "20-40"


@pytest.mark.parametrize("usd", ["-0.01", "-20", "NaN", "Infinity"])
def test_a_negative_or_non_finite_value_is_refused(usd: str) -> None:
    with pytest.raises(ValueError, match="not a value in USD"):
        value_band(Decimal(usd))
