"""Code lists: ISO 3166-1 countries and ISO 4217 currencies (from pycountry), and data files.

Every list is built on first use and cached: importing this module reads nothing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pycountry

CODES_DIR = Path(__file__).resolve().parents[2] / "schemas" / "codes"


@cache
def countries() -> frozenset[str]:
    """Assigned ISO 3166-1 alpha-2 codes."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


@cache
def currencies() -> frozenset[str]:
    """Active ISO 4217 alpha-3 codes."""
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def is_country(code: str) -> bool:
    return code in countries()


def is_currency(code: str) -> bool:
    return code in currencies()


def read_list(path: Path) -> tuple[str, ...]:
    """The entries of a code-list file: one a line, blank lines and `#` comments skipped."""
    with path.open(encoding="utf-8") as lines:
        stripped = (line.strip() for line in lines)
        return tuple(line for line in stripped if line and not line.startswith("#"))
