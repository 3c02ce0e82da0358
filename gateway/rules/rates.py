"""Exchange rates as data (schemas/codes/rates.toml): USD per one unit of a currency on a day.

A currency or a day that no period covers has no rate: `usd_per_unit` answers None and callers
count the value as rate_missing. Nothing is interpolated or taken from a neighbouring period.
USD is 1 on every day, by definition. The file layout is described in its header.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, InvalidOperation
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.rules.codes import CODES_DIR, is_currency

RATES_FILE = CODES_DIR / "rates.toml"
USD = "USD"
_ONE = Decimal(1)
_INVERT = Context(prec=12)  # units_per_usd is inverted to 12 significant digits
_PERIOD_KEYS = frozenset({"valid_from", "valid_to", "usd_per_unit", "units_per_usd", "source"})
_CURRENCY_KEYS = frozenset({"code", "source", "periods"})


@dataclass(frozen=True, slots=True)
class Period:
    """One rate: USD per unit of a currency from `valid_from` to `valid_to`, both inclusive."""

    valid_from: date
    valid_to: date
    usd_per_unit: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class _Series:
    """The sorted, non-overlapping periods of one currency, with their starts for bisection."""

    starts: tuple[date, ...]
    periods: tuple[Period, ...]

    def at(self, day: date) -> Period | None:
        i = bisect_right(self.starts, day) - 1
        if i < 0 or day > self.periods[i].valid_to:
            return None
        return self.periods[i]


class RateTable:
    """USD per unit of each listed currency, by day. Immutable once built.

    Satisfies the `RateLookup` protocol of gateway.formats.b5.rows
    (`usd_per_unit(currency, day) -> Decimal | None`).
    """

    __slots__ = ("_series", "source_file")

    def __init__(self, periods: Mapping[str, tuple[Period, ...]], source_file: str = "") -> None:
        """`periods`: per ISO currency code, periods sorted by valid_from and not overlapping."""
        self.source_file = source_file
        self._series = {
            code: _Series(tuple(p.valid_from for p in spans), spans)
            for code, spans in periods.items()
        }

    @property
    def currencies(self) -> frozenset[str]:
        """The currencies with at least one period (USD, always 1, not among them)."""
        return frozenset(self._series)

    def period(self, currency: str, day: date) -> Period | None:
        """The period of `currency` holding `day`, or None (USD has no period: it is 1)."""
        series = self._series.get(currency)
        return None if series is None else series.at(day)

    def usd_per_unit(self, currency: str, day: date) -> Decimal | None:
        """USD per one unit of `currency` on `day`; None when no period holds the day."""
        if currency == USD:
            return _ONE
        found = self.period(currency, day)
        return None if found is None else found.usd_per_unit

    def to_usd(self, amount: Decimal, currency: str, day: date) -> Decimal | None:
        """`amount` of `currency` in USD on `day`, exact (not rounded); None when no rate."""
        rate = self.usd_per_unit(currency, day)
        return None if rate is None else amount * rate


def load_rates(path: Path) -> RateTable:
    """Read and check a rates file. ConfigError names the file, the key and the fix."""
    raw = _read(path)
    if unknown := set(raw) - {"currencies"}:
        raise ConfigError(str(path), min(unknown), "is not a rates-file key", "use [[currencies]]")
    blocks = raw.get("currencies", [])
    if not isinstance(blocks, list) or not blocks:
        raise ConfigError(str(path), "currencies", "is missing", "add [[currencies]] blocks")
    table: dict[str, tuple[Period, ...]] = {}
    for i, block in enumerate(blocks):
        code, periods = _currency(path, f"currencies[{i}]", block)
        if code in table:
            raise ConfigError(str(path), f"currencies[{i}].code", f"{code} is listed twice",
                              "keep one block per currency")  # fmt: skip
        table[code] = periods
    return RateTable(table, str(path))


@cache
def default_rates() -> RateTable:
    """The shipped table (schemas/codes/rates.toml), read once on first use."""
    return load_rates(RATES_FILE)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "-", f"unreadable: {exc}", "a UTF-8 TOML rates file") from exc


def _currency(path: Path, where: str, block: object) -> tuple[str, tuple[Period, ...]]:
    if not isinstance(block, dict):
        raise ConfigError(str(path), where, "is not a table", "use [[currencies]]")
    if unknown := set(block) - _CURRENCY_KEYS:
        raise ConfigError(str(path), f"{where}.{min(unknown)}", "is not a currency key",
                          f"one of {sorted(_CURRENCY_KEYS)}")  # fmt: skip
    code, source = block.get("code"), block.get("source")
    if not isinstance(code, str) or not is_currency(code):
        raise ConfigError(str(path), f"{where}.code", f"{code!r} is not an ISO 4217 code")
    if code == USD:
        raise ConfigError(str(path), f"{where}.code", "USD is 1 by definition", "remove the block")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(
            str(path), f"{where}.source", "is missing", "cite where the rates come from"
        )
    spans = block.get("periods")
    if not isinstance(spans, list) or not spans:
        raise ConfigError(
            str(path), f"{where}.periods", "is missing", "list the periods of the rate"
        )
    periods = [_period(path, f"{where}.periods[{j}]", p, source) for j, p in enumerate(spans)]
    return code, _sorted_apart(path, f"{where}.periods", periods)


def _period(path: Path, where: str, raw: object, source: str) -> Period:
    if not isinstance(raw, dict):
        raise ConfigError(str(path), where, "is not a table", "{ valid_from = …, valid_to = …, … }")
    if unknown := set(raw) - _PERIOD_KEYS:
        raise ConfigError(str(path), f"{where}.{min(unknown)}", "is not a period key",
                          f"one of {sorted(_PERIOD_KEYS)}")  # fmt: skip
    start, end = _day(path, f"{where}.valid_from", raw), _day(path, f"{where}.valid_to", raw)
    if end < start:
        raise ConfigError(str(path), f"{where}.valid_to", f"{end} is before valid_from {start}")
    own_source = raw.get("source", source)
    if not isinstance(own_source, str) or not own_source.strip():
        raise ConfigError(str(path), f"{where}.source", "must be a non-empty text")
    return Period(start, end, _rate(path, where, raw), own_source)


def _day(path: Path, key: str, raw: dict[str, Any]) -> date:
    value = raw.get(key.rsplit(".", 1)[1])
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ConfigError(str(path), key, f"{value!r} is not a date", "a TOML date: 2026-01-31")
    return value


def _rate(path: Path, where: str, raw: dict[str, Any]) -> Decimal:
    given = [k for k in ("usd_per_unit", "units_per_usd") if k in raw]
    if len(given) != 1:
        raise ConfigError(str(path), where, "needs exactly one of usd_per_unit, units_per_usd",
                          'e.g. usd_per_unit = "1.2358"')  # fmt: skip
    key = given[0]
    value = _positive(path, f"{where}.{key}", raw[key])
    return value if key == "usd_per_unit" else _INVERT.divide(_ONE, value)


def _positive(path: Path, key: str, value: object) -> Decimal:
    if not isinstance(value, str):
        raise ConfigError(str(path), key, f"{value!r} is not a quoted decimal",
                          'quote it, e.g. "1.2358": never a binary float')  # fmt: skip
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ConfigError(str(path), key, f"{value!r} is not a decimal", 'e.g. "1.2358"') from exc
    if not amount.is_finite() or amount <= 0:
        raise ConfigError(str(path), key, f"{value!r} must be a positive rate")
    return amount


def _sorted_apart(path: Path, where: str, periods: list[Period]) -> tuple[Period, ...]:
    """The periods by start; two that share a day are refused (a day has one rate)."""
    ordered = sorted(periods, key=lambda p: p.valid_from)
    for before, after in pairwise(ordered):
        if after.valid_from <= before.valid_to:
            raise ConfigError(str(path), where,
                              f"from {after.valid_from} overlaps the period to {before.valid_to}",
                              "end one period before the next begins")  # fmt: skip
    return tuple(ordered)
