"""One feed row → a canonical TrendObservation, or the findings that reject it. Pure.

The readers (CSV, JSON Lines, XML) hand over a RawRow: the row's number and its values by
canonical key, as text (CSV, XML) or JSON values (str, int, Decimal, bool, None, list, dict).
Translation is the same for every layout, so a new layout needs a mapping, not code. Findings:

    B5_FIELD_MISSING     a required field (items, declared_value, detections, period) is empty
    B5_TYPE              a JSON value of the wrong type (a number where a code is expected …)
    B5_NUMBER            a count or amount that is not a non-negative number of the right form
                         (a count at most 2**63 - 1, what the stores hold)
    B5_PERIOD            a date or ISO week that is not one, or a range across ISO weeks
    B5_COUNTRY_UNKNOWN   an origin that is not an assigned ISO 3166-1 alpha-2 code (nor ZZ)
    B5_HS_CHAPTER        an HS chapter that is not two digits, or one the HS does not use
    B5_CODE_UNMAPPED     a category, channel or band that neither the code map nor the
                         canonical list knows
    B5_RATE_MISSING      (warning) no USD rate for the currency on the period's Monday: the row
                         is kept, rate_missing set, no USD value and no computed band

A field the partner's schema refuses (XML: `RawRow.refused`) gets the finding its value gets here,
with the same message, path and line as in CSV or JSON Lines; where the schema is stricter than
these rules (a count written `0123`), the field's code (FIELD_CODES) with the schema's reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Protocol

from gateway.domain.findings import Finding, error, warning
from gateway.domain.weeks import iso_week, monday
from gateway.formats.b5.codes import CATEGORIES, CHANNELS, NOT_STATED, chapter_problem
from gateway.formats.b5.mapping import (
    PERIOD_END,
    PERIOD_START,
    PERIOD_WEEK,
    FeedMapping,
    PeriodKind,
)
from gateway.rules.bands import BANDS, value_band
from gateway.rules.codes import is_country
from gateway.wire.b5_pb2 import TrendObservation
from gateway.wire.declaration_pb2 import Money

_COUNT = re.compile(r"[0-9]{1,20}")
_AMOUNT = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,6})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Counts are stored in signed 64-bit integers (SQLite INTEGER, PostgreSQL bigint): a larger one
# would pass the uint64 wire field and then fail the commit, so it is refused here (B5_NUMBER).
_COUNT_MAX = 2**63 - 1
_CENT = Decimal("0.01")
# Local arithmetic: never the thread's context, and enough digits that no product or mean
# of amounts within _AMOUNT is rounded before it is compared with a band's bounds.
_MONEY = Context(prec=60, rounding=ROUND_HALF_EVEN)
_CANONICAL = {"category": CATEGORIES, "channel": CHANNELS, "value_band": frozenset(BANDS)}
# The code of a value of each field that does not pass (a schema's refusal included).
FIELD_CODES: Mapping[str, str] = {
    "origin": "B5_COUNTRY_UNKNOWN",
    "hs_chapter": "B5_HS_CHAPTER",
    "category": "B5_CODE_UNMAPPED",
    "channel": "B5_CODE_UNMAPPED",
    "value_band": "B5_CODE_UNMAPPED",
    "items": "B5_NUMBER",
    "declared_value": "B5_NUMBER",
    "de_minimis_items": "B5_NUMBER",
    "detections": "B5_NUMBER",
    PERIOD_START: "B5_PERIOD",
    PERIOD_END: "B5_PERIOD",
    PERIOD_WEEK: "B5_PERIOD",
}


class RateLookup(Protocol):
    """USD per one unit of `currency` on `day`, or None when the rates table has none."""

    def usd_per_unit(self, currency: str, day: date) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class RawRow:
    """A row as its reader found it. `values` holds what the row carries, by canonical key
    (absent: not in the row); a row with reader `findings` (XSD, JSON, CSV) is rejected as is.
    `refused` names the fields the partner's schema refuses (XML): each gets a finding.
    """

    number: int
    values: Mapping[str, object]
    findings: tuple[Finding, ...] = ()
    # canonical key → why the partner's schema refuses the field ("" when it is absent)
    refused: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RowOutcome:
    """One row's verdict: `observation` is None when the row is rejected (errors in findings).

    The observation's observation_id and provenance partner, content_digest, receipt_id and
    received_at are left for the pipeline; provenance row and source_format are set.
    """

    row: int
    findings: tuple[Finding, ...]
    observation: TrendObservation | None


def translate(raw: RawRow, mapping: FeedMapping, rates: RateLookup, week: str = "") -> RowOutcome:
    """Translate one row. `week` is the feed-level ISO week (XML root attribute), if any."""
    if raw.findings:
        return RowOutcome(raw.number, raw.findings, None)
    reading = _Reading(raw, mapping)
    cell = reading.cell(week)
    if cell is None:
        return RowOutcome(raw.number, tuple(reading.findings), None)
    observation = _observation(cell, mapping, rates, raw.number)
    findings = list(reading.findings)
    if observation.rate_missing:
        findings.append(_rate_missing(mapping, cell.week, raw.number))
    return RowOutcome(raw.number, tuple(findings), observation)


def _rate_missing(mapping: FeedMapping, week: str, row: int) -> Finding:
    source = mapping.fields["declared_value"]
    return warning(
        "B5_RATE_MISSING",
        f"no USD rate for {mapping.currency} in {week}: counted as rate_missing",
        f"row[{row}]/{source}",
        row,
    )


@dataclass(frozen=True, slots=True)
class _Cell:
    week: str
    channel: str
    origin: str
    hs_chapter: str
    category: str
    usd_band: str  # "" when the row states none
    items: int
    declared_value: Decimal
    de_minimis_items: int
    detections: int


def _observation(
    cell: _Cell, mapping: FeedMapping, rates: RateLookup, row: int
) -> TrendObservation:
    rate = Decimal(1) if mapping.currency == "USD" else None
    if rate is None:
        rate = rates.usd_per_unit(mapping.currency, monday(cell.week))
    usd = None if rate is None else _MONEY.multiply(cell.declared_value, rate).quantize(_CENT)
    band, estimated = cell.usd_band, False
    if not band and usd is not None:
        band, estimated = value_band(_MONEY.divide(usd, Decimal(cell.items))), True
    observation = TrendObservation(
        reporter=mapping.reporter,
        period=cell.week,
        channel=cell.channel,
        origin_country=cell.origin,
        hs_chapter=cell.hs_chapter,
        category=cell.category,
        value_band=band,
        band_estimated=estimated,
        items=cell.items,
        declared_value=Money(amount=format(cell.declared_value, "f"), currency=mapping.currency),
        declared_value_usd="" if usd is None else format(usd, "f"),
        rate_missing=usd is None,
        de_minimis_items=cell.de_minimis_items,
        detections=cell.detections,
    )
    observation.provenance.row = row
    observation.provenance.source_format = mapping.source_format
    return observation


@dataclass(slots=True)
class _Reading:
    """Reads one row's fields, collecting a finding for each that does not map."""

    raw: RawRow
    mapping: FeedMapping
    findings: list[Finding] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # the keys with a finding

    def cell(self, feed_week: str) -> _Cell | None:
        week = feed_week or self.week()
        cell = _Cell(
            week=week or "",
            channel=self.code("channel"),
            origin=self.origin(),
            hs_chapter=self.chapter(),
            category=self.code("category"),
            usd_band=self.code("value_band"),
            items=self.count("items", required=True, minimum=1),
            declared_value=self.amount("declared_value"),
            de_minimis_items=self.count("de_minimis_items", required=False),
            detections=self.count("detections", required=True),
        )
        self.check(cell)
        self.refusals()
        return None if self.findings else cell

    def check(self, cell: _Cell) -> None:
        if cell.de_minimis_items > cell.items > 0:
            self.fail("B5_NUMBER", "de_minimis_items", "exceeds the items of the cell")

    def refusals(self) -> None:
        """A finding for each field the partner's schema refuses that the rules above let pass:
        absent (B5_FIELD_MISSING), or a value the schema is stricter about (its field's code)."""
        for key, reason in self.raw.refused.items():
            if key in self.failed:
                continue
            value = self.raw.values.get(key)
            if value is None:
                self.fail("B5_FIELD_MISSING", key, f"{key} is required and empty or absent")
            else:
                message = f"{_shown(value)} is refused by this partner's schema: {reason}"
                self.fail(FIELD_CODES[key], key, message)

    # -- failures and raw text ------------------------------------------------------------------

    def fail(self, code: str, key: str, message: str) -> None:
        source = self.mapping.row_sources().get(key, key)
        number = self.raw.number
        self.findings.append(error(code, message, f"row[{number}]/{source}", number))
        self.failed.add(key)

    def text(self, key: str) -> str | None:
        """The field as text; None when absent, empty or null (or of the wrong JSON type)."""
        value = self.raw.values.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        self.fail("B5_TYPE", key, f"expected a string, got {_json_type(value)}")
        return None

    def missing(self, key: str) -> None:
        """B5_FIELD_MISSING, unless the field is there with a wrong type (B5_TYPE said so)."""
        if self.raw.values.get(key) not in (None, ""):
            return
        self.fail("B5_FIELD_MISSING", key, f"{key} is required and empty or absent")

    # -- period ---------------------------------------------------------------------------------

    def week(self) -> str | None:
        if self.mapping.period.kind is PeriodKind.ISO_WEEK:
            return self.iso_week(PERIOD_WEEK)
        start, end = self.date(PERIOD_START), self.date(PERIOD_END)
        if start is None or end is None:
            return None
        first, last = iso_week(start), iso_week(end)
        if end < start or first != last:
            self.fail("B5_PERIOD", PERIOD_END, f"{start}..{end} is not within one ISO week")
            return None
        return first

    def iso_week(self, key: str) -> str | None:
        text = self.text(key)
        if text is None:
            self.missing(key)
            return None
        try:
            monday(text)
        except ValueError:
            self.fail("B5_PERIOD", key, f"{text!r} is not an ISO week like 2026-W47")
            return None
        return text

    def date(self, key: str) -> date | None:
        text = self.text(key)
        if text is None:
            self.missing(key)
            return None
        try:
            if _DATE.fullmatch(text):
                return date.fromisoformat(text)
        except ValueError:
            pass
        self.fail("B5_PERIOD", key, f"{text!r} is not a date like 2026-11-16")
        return None

    # -- codes ----------------------------------------------------------------------------------

    def stated(self, key: str) -> str | None:
        """The field's text, else its [defaults] constant (None when neither)."""
        text = self.text(key)
        return text if text is not None else self.mapping.defaults.get(key)

    def mapped(self, key: str, text: str) -> str:
        """The partner code through the field's code map (identity without one)."""
        code_map = self.mapping.codes.get(key)
        return text if code_map is None else code_map.lookup(text)

    def code(self, key: str) -> str:
        text = self.stated(key)
        if text is None:
            return NOT_STATED.get(key, "")
        code = self.mapped(key, text)
        if code not in _CANONICAL[key]:
            self.fail("B5_CODE_UNMAPPED", key, f"{key} {text!r} does not map to a canonical code")
            return ""
        return code

    def origin(self) -> str:
        text = self.stated("origin")
        if text is None:
            return NOT_STATED["origin"]
        code = self.mapped("origin", text)
        if code != NOT_STATED["origin"] and not is_country(code):
            self.fail("B5_COUNTRY_UNKNOWN", "origin", f"{code!r} is not an ISO 3166-1 country")
            return ""
        return code

    def chapter(self) -> str:
        text = self.stated("hs_chapter")
        if text is None:
            return NOT_STATED["hs_chapter"]
        if problem := chapter_problem(text):
            self.fail("B5_HS_CHAPTER", "hs_chapter", f"{text!r} {problem}")
            return ""
        return text

    # -- numbers --------------------------------------------------------------------------------

    def count(self, key: str, *, required: bool, minimum: int = 0) -> int:
        value = self.raw.values.get(key)
        if value is None or value == "":
            if required:
                self.missing(key)
            return 0
        number = _count(value)
        if number is None or number < minimum:
            self.fail("B5_NUMBER", key, f"{_shown(value)} is not a whole number >= {minimum}")
            return 0
        return number

    def amount(self, key: str) -> Decimal:
        value = self.raw.values.get(key)
        if value is None or value == "":
            self.missing(key)
            return Decimal(0)
        number = _amount(value)
        if number is None:
            self.fail(
                "B5_NUMBER", key, f"{_shown(value)} is not a non-negative decimal like 1234.56"
            )
            return Decimal(0)
        return number


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        number = int(value) if _COUNT.fullmatch(value) else None
    elif isinstance(value, int):
        number = value
    else:
        return None
    return number if number is not None and 0 <= number <= _COUNT_MAX else None


def _amount(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal) and Decimal(value).is_finite():
        value = format(Decimal(value), "f")
    if isinstance(value, str) and _AMOUNT.fullmatch(value):
        return Decimal(value)
    return None


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", Decimal: "a number", list: "an array"}
    return names.get(type(value), "an object")


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(value[:40] if isinstance(value, str) else value)
