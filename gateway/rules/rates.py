"""Exchange rates as data (schemas/codes/rates.toml): USD per unit of a currency on a day.

A currency or day that no period covers has no rate: `usd_per_unit` answers None and callers
count the value as rate_missing. Nothing is interpolated or taken from a neighbouring period.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.rules.codes import CODES_DIR, is_currency

RATES_FILE = CODES_DIR / "rates.toml"
_USD_PER_UNIT_PLACES = Decimal("1E-12")


@dataclass(frozen=True, slots=True)
class RateTable:
    """Per currency, sorted (valid_from, valid_to, usd_per_unit) periods; USD is always 1."""

    periods: dict[str, tuple[tuple[date, date, Decimal], ...]]
    source: str

    def usd_per_unit(self, currency: str, day: date) -> Decimal | None:
        if currency == "USD":
            return Decimal(1)
        spans = self.periods.get(currency)
        if not spans:
            return None
        i = bisect_right([s[0] for s in spans], day) - 1
        if i < 0 or day > spans[i][1]:
            return None
        return spans[i][2]

    def to_usd(self, amount: Decimal, currency: str, day: date) -> Decimal | None:
        rate = self.usd_per_unit(currency, day)
        return None if rate is None else amount * rate


def load_rates(path: Path) -> RateTable:
    """Read and check a rates file; ConfigError names the file, the key and the fix."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "-", f"unreadable: {exc}", "a TOML rates file") from exc
    spans = _periods(path, raw.get("periods", []))
    table: dict[str, tuple[tuple[date, date, Decimal], ...]] = {}
    for currency, values in dict(raw.get("per_usd", {})).items():
        key = f"per_usd.{currency}"
        if not is_currency(currency):
            raise ConfigError(str(path), key, "is not an active ISO 4217 code")
        if not isinstance(values, list) or len(values) != len(spans):
            raise ConfigError(str(path), key, f"needs one rate per period ({len(spans)})")
        table[currency] = tuple(
            (start, end, _usd_per_unit(path, key, value))
            for (start, end), value in zip(spans, values, strict=True)
        )
    return RateTable(table, str(raw.get("source", "")))


def _periods(path: Path, periods: list[Any]) -> list[tuple[date, date]]:
    spans: list[tuple[date, date]] = []
    for i, p in enumerate(periods):
        start, end = p.get("valid_from"), p.get("valid_to")
        if not isinstance(start, date) or not isinstance(end, date) or end < start:
            raise ConfigError(str(path), f"periods[{i}]", "needs valid_from <= valid_to dates")
        if spans and start <= spans[-1][1]:
            raise ConfigError(str(path), f"periods[{i}]", "overlaps or precedes the period before")
        spans.append((start, end))
    return spans


def _usd_per_unit(path: Path, key: str, value: object) -> Decimal:
    try:
        per_usd = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(str(path), key, f"{value!r} is not a decimal", 'e.g. "0.806"') from exc
    if not per_usd.is_finite() or per_usd <= 0:
        raise ConfigError(str(path), key, f"{value!r} must be positive")
    return (Decimal(1) / per_usd).quantize(_USD_PER_UNIT_PLACES)


@cache
def default_rates() -> RateTable:
    return load_rates(RATES_FILE)
