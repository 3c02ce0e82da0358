"""Code lists: ISO 3166-1, ISO 4217 and the vague-description list kept as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rules import codes, vague


@pytest.mark.parametrize("code", ["GB", "US", "CN", "DE", "AU", "FR", "AQ"])
def test_assigned_countries(code: str) -> None:
    assert codes.is_country(code)


@pytest.mark.parametrize("code", ["UK", "EU", "XX", "ZZ", "gb", "", "GBR"])
def test_unassigned_countries(code: str) -> None:
    assert not codes.is_country(code)


@pytest.mark.parametrize("code", ["USD", "EUR", "GBP", "JPY", "CNY", "CHF"])
def test_active_currencies(code: str) -> None:
    assert codes.is_currency(code)


@pytest.mark.parametrize("code", ["ZZZ", "DEM", "FRF", "usd", "US", ""])
def test_unknown_or_withdrawn_currencies(code: str) -> None:
    assert not codes.is_currency(code)


def test_lists_are_built_once() -> None:
    assert codes.countries() is codes.countries()
    assert len(codes.countries()) == 249


def test_read_list_skips_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("# header\n\n Gift \n# note\nSpare  Parts\n", encoding="utf-8")
    assert codes.read_list(path) == ("Gift", "Spare  Parts")
    assert vague.load_terms(path) == frozenset({"gift", "spare parts"})


def test_default_vague_list_has_the_spec_terms() -> None:
    terms = vague.default_terms()
    for term in [
        "gift",
        "goods",
        "parts",
        "samples",
        "accessories",
        "clothes",
        "stuff",
        "merchandise",
    ]:
        assert term in terms
    assert all(term == vague.normalise(term) for term in terms)


@pytest.mark.parametrize(
    ("description", "expected"),
    [("GIFT", True), ("  Gifts!  ", True), ("gift card", False), ("wool scarf", False)],
)
def test_is_vague(description: str, expected: bool) -> None:
    assert vague.is_vague(description) is expected
