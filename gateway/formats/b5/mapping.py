"""Feed mappings: a customs partner's B5 feed layout as data (partners/<id>/mapping.toml).

A mapping names, for one partner, how its feed is laid out and which of its columns (CSV), JSON
paths (JSON Lines, dotted: `period.from`) or row attributes (XML) hold each canonical field of a
TrendObservation. Every key is checked when the mapping is loaded; anything unknown, missing or
inconsistent is a ConfigError naming the file, the key, the problem and the fix. Keys:

    format = "csv" | "jsonl" | "xml"       how the feed is written
    source_format = "au-abf-csv"           its name in provenance (default: "<folder>-<format>")
    reporter = "AU"                        ISO 3166-1 alpha-2 of the agency that counted
    currency = "AUD"                       ISO 4217 of every declared value in the feed
    [csv]      delimiter = ","             csv only; the first record is the header
    [xml]      namespace, root, row,       xml only; rows are `row` children of `root`, their
               schema                      data in attributes; `schema` is an XSD file name,
                                           looked up beside the mapping, then in schemas/b5/
    [period]   rule = "date_range", start = <source>, end = <source>     (both in one ISO week)
               rule = "iso_week", field = <source>, level = "row" | "feed"  (feed: root attribute)
    [fields]   <canonical field> = <source>      see FIELDS
    [defaults] <canonical field> = <constant>    for a field the layout does not carry
    [codes.<field>]  <partner code> = <canonical code>, and "*" = <code> for anything else

A code map translates the partner's codes; a code it does not list goes to its "*" entry, or
without one stays as it is. Whatever results must be a canonical code (B5_CODE_UNMAPPED).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lxml import etree

from gateway.errors import ConfigError
from gateway.formats.b5.codes import CATEGORIES, CHANNELS, NOT_STATED, chapter_problem
from gateway.formats.b5.xsd import feed_schema
from gateway.rules.bands import BANDS
from gateway.rules.codes import is_country, is_currency

SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas" / "b5"

# canonical field → what it holds; items, declared_value and detections must be mapped.
FIELDS: Mapping[str, str] = {
    "origin": "ISO 3166-1 alpha-2 origin country (not stated: ZZ)",
    "hs_chapter": "2-digit HS chapter (not stated: 00)",
    "category": "ITMATT category (not stated: UNSPECIFIED)",
    "channel": "POST | COURIER | UNKNOWN (mapped, or a constant in [defaults])",
    "items": "count of items in the cell",
    "declared_value": "sum of declared values, a decimal in `currency`",
    "detections": "seizures + refusals + do-not-load + enforcement holds",
    "value_band": "USD value band, when the layout states one",
    "partner_band": "the partner's own value banding: read, not used; the band is estimated",
    "de_minimis_items": "items under the reporter's de minimis rule (0 when absent)",
}
REQUIRED = ("items", "declared_value", "detections")
_DEFAULTABLE = ("origin", "hs_chapter", "category", "channel")
_CODED = ("origin", "category", "channel", "value_band")
FALLBACK = "*"
_TOP_KEYS = (
    "format",
    "source_format",
    "reporter",
    "currency",
    "csv",
    "jsonl",
    "xml",
    "period",
    "fields",
    "defaults",
    "codes",
)
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class FeedKind(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    XML = "xml"


class PeriodKind(StrEnum):
    DATE_RANGE = "date_range"
    ISO_WEEK = "iso_week"


# Internal names of the period's sources beside the canonical fields.
PERIOD_START, PERIOD_END, PERIOD_WEEK = "period.start", "period.end", "period.week"


@dataclass(frozen=True, slots=True)
class PeriodRule:
    """How a row's ISO week is found: a date range (`start`, `end`) or an ISO week (`field`),
    read from each row or, for XML with `on_root`, from an attribute of the root element."""

    kind: PeriodKind
    start: str = ""
    end: str = ""
    field: str = ""
    on_root: bool = False


@dataclass(frozen=True, slots=True)
class CodeMap:
    """A partner's codes → canonical codes. A code not in `table` maps to `otherwise` (the "*"
    entry) when there is one, else stays as it is (and must then be a canonical code)."""

    table: Mapping[str, str]
    otherwise: str | None = None

    def lookup(self, code: str) -> str:
        return self.table.get(code, code if self.otherwise is None else self.otherwise)


@dataclass(frozen=True, slots=True)
class XmlLayout:
    namespace: str
    root: str
    row: str
    schema: Path


@dataclass(frozen=True, slots=True)
class FeedMapping:
    """One partner's feed layout, validated. `fields` maps canonical fields to source names."""

    file: Path
    kind: FeedKind
    source_format: str
    reporter: str
    currency: str
    period: PeriodRule
    fields: Mapping[str, str]
    defaults: Mapping[str, str]
    codes: Mapping[str, CodeMap]
    delimiter: str = ","
    xml: XmlLayout | None = None

    def row_sources(self) -> dict[str, str]:
        """Every name read from a row (canonical field or period key → source name)."""
        period = self.period
        sources = dict(self.fields)
        if period.kind is PeriodKind.DATE_RANGE:
            sources |= {PERIOD_START: period.start, PERIOD_END: period.end}
        elif not period.on_root:
            sources[PERIOD_WEEK] = period.field
        return sources


# -- loading --------------------------------------------------------------------------------


def load_mapping(path: Path) -> FeedMapping:
    """Read and validate a mapping.toml; raise ConfigError(file, key, problem, fix) otherwise."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "-", "missing", "describe the feed layout there") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "-", f"not valid TOML: {exc}", "correct the syntax") from exc
    return _mapping(_Table(path, raw))


def _mapping(t: _Table) -> FeedMapping:
    t.only(_TOP_KEYS)
    kind = FeedKind(t.choice("format", [k.value for k in FeedKind]))
    for other in FeedKind:
        if other is not kind and other.value in t.raw:
            raise t.fail(other.value, f"is for {other} feeds; this one is {kind}", "remove it")
    fields = _fields(t.table("fields", required=True))
    mapping = FeedMapping(
        file=t.file,
        kind=kind,
        source_format=t.text("source_format", f"{t.file.parent.name}-{kind}"),
        reporter=_country(t, "reporter"),
        currency=_currency(t),
        period=_period(t.table("period", required=True), kind),
        fields=fields,
        defaults=_defaults(t.table("defaults"), fields),
        codes=_codes(t.table("codes"), fields),
        delimiter=_delimiter(t.table("csv")) if kind is FeedKind.CSV else ",",
        xml=_xml(t.table("xml", required=True)) if kind is FeedKind.XML else None,
    )
    _check_sources(t, mapping)
    return mapping


def _country(t: _Table, key: str) -> str:
    code = t.text(key)
    if not is_country(code):
        raise t.fail(key, f"{code!r} is not an ISO 3166-1 alpha-2 code", f'e.g. {key} = "AU"')
    return code


def _currency(t: _Table) -> str:
    code = t.text("currency")
    if not is_currency(code):
        raise t.fail("currency", f"{code!r} is not an ISO 4217 code", 'e.g. currency = "AUD"')
    return code


def _period(t: _Table, kind: FeedKind) -> PeriodRule:
    rule = PeriodKind(t.choice("rule", [k.value for k in PeriodKind]))
    if rule is PeriodKind.DATE_RANGE:
        t.only(("rule", "start", "end"))
        return PeriodRule(rule, start=t.text("start"), end=t.text("end"))
    t.only(("rule", "field", "level"))
    level = t.choice("level", ["row", "feed"], "row")
    if level == "feed" and kind is not FeedKind.XML:
        raise t.fail("level", "only an XML feed has a feed-level period", 'level = "row"')
    return PeriodRule(rule, field=t.text("field"), on_root=level == "feed")


def _fields(t: _Table) -> dict[str, str]:
    t.only(FIELDS, fix=f"one of {', '.join(FIELDS)}")
    fields = {key: t.text(key) for key in t.raw}
    for key in REQUIRED:
        if key not in fields:
            raise t.fail(key, "is not mapped", f"name the source of {key} ({FIELDS[key]})")
    return fields


def _defaults(t: _Table, fields: Mapping[str, str]) -> dict[str, str]:
    t.only(_DEFAULTABLE)
    defaults = {key: t.text(key) for key in t.raw}
    for key, value in defaults.items():
        if key in fields:
            raise t.fail(key, f"is also mapped to {fields[key]!r}", "keep one of the two")
        if problem := _target_problem(key, value):
            raise t.fail(key, problem, f"one of {_targets_hint(key)}")
    if "channel" not in fields and "channel" not in defaults:
        raise ConfigError(
            str(t.file),
            "fields.channel",
            "is not mapped and has no default",
            'map its source in [fields], or set [defaults] channel = "UNKNOWN"',
        )
    return defaults


def _codes(t: _Table, fields: Mapping[str, str]) -> dict[str, CodeMap]:
    t.only(_CODED)
    maps: dict[str, CodeMap] = {}
    for key in t.raw:
        if key not in fields:
            raise t.fail(key, "maps the codes of a field that is not mapped", "map it in [fields]")
        table = t.table(key, required=True)
        entries = {code: table.text(code) for code in table.raw}
        for code, target in entries.items():
            if problem := _target_problem(key, target):
                raise table.fail(code, problem, f"one of {_targets_hint(key)}")
        otherwise = entries.pop(FALLBACK, None)
        maps[key] = CodeMap(entries, otherwise)
    return maps


def _target_problem(field: str, value: str) -> str | None:
    if field == "origin":
        ok = value == NOT_STATED["origin"] or is_country(value)
        return None if ok else f"{value!r} is not an ISO 3166-1 alpha-2 code or ZZ"
    if field == "hs_chapter":
        problem = chapter_problem(value)
        return None if problem is None else f"{value!r} {problem}"
    allowed = {"category": CATEGORIES, "channel": CHANNELS, "value_band": frozenset(BANDS)}
    return None if value in allowed[field] else f"{value!r} is not a canonical {field}"


def _targets_hint(field: str) -> str:
    hints = {
        "origin": "an ISO 3166-1 alpha-2 code or ZZ",
        "hs_chapter": "two digits 01-97 (77 excluded), or 00",
        "category": ", ".join(sorted(CATEGORIES)),
        "channel": ", ".join(sorted(CHANNELS)),
        "value_band": ", ".join(BANDS),
    }
    return hints[field]


def _delimiter(t: _Table) -> str:
    t.only(("delimiter",))
    delimiter = t.text("delimiter", ",")
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise t.fail("delimiter", f"{delimiter!r} is not one character", 'e.g. ";" or "\\t"')
    return delimiter


def _xml(t: _Table) -> XmlLayout:
    t.only(("namespace", "root", "row", "schema"))
    for key in ("root", "row"):
        if not _XML_NAME.fullmatch(t.text(key)):
            raise t.fail(key, f"{t.text(key)!r} is not an XML element name", 'e.g. "row"')
    name = t.text("schema")
    found = [p for p in (t.file.parent / name, SCHEMAS_DIR / name) if p.is_file()]
    if not found:
        raise t.fail(
            "schema",
            f"{name!r} is neither beside {t.file.name} nor in {SCHEMAS_DIR}",
            "put the feed's XSD in one of the two",
        )
    try:
        feed_schema(found[0])
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise t.fail("schema", f"{found[0]} is not a valid XSD: {exc}", "correct the XSD") from exc
    return XmlLayout(t.text("namespace"), t.text("root"), t.text("row"), found[0])


def _check_sources(t: _Table, mapping: FeedMapping) -> None:
    """Source names are unique and well-formed for the layout."""
    seen: dict[str, str] = {}
    for key, source in mapping.row_sources().items():
        where = _key_of(key)
        if source in seen:
            raise t.fail(where, f"{source!r} is also the source of {seen[source]}", "rename one")
        seen[source] = where
        if problem := _source_problem(mapping.kind, source):
            raise t.fail(where, problem, "correct the source name")
    if mapping.period.on_root and not _XML_NAME.fullmatch(mapping.period.field):
        raise t.fail("period.field", "is not an XML attribute name", 'e.g. field = "week"')


def _key_of(key: str) -> str:
    period = {PERIOD_START: "period.start", PERIOD_END: "period.end", PERIOD_WEEK: "period.field"}
    return period.get(key, f"fields.{key}")


def _source_problem(kind: FeedKind, source: str) -> str | None:
    if kind is FeedKind.XML and not _XML_NAME.fullmatch(source):
        return f"{source!r} is not an XML attribute name"
    if kind is FeedKind.JSONL and "" in source.split("."):
        return f"{source!r} is not a dotted JSON path such as period.from"
    return None


@dataclass(frozen=True, slots=True)
class _Table:
    """One TOML table of the mapping, read with precise errors (`prefix` names where it is)."""

    file: Path
    raw: Mapping[str, object]
    prefix: str = ""

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(str(self.file), self.prefix + key, problem, fix)

    def only(self, allowed: Iterable[str], fix: str = "") -> None:
        known = tuple(allowed)
        for key in self.raw:
            if key not in known:
                raise self.fail(key, "unknown key", fix or f"one of {', '.join(known)}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value is None:
            raise self.fail(key, "is missing", "add it")
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"{value!r} is not a non-empty string", 'write it as "…"')
        return value

    def choice(self, key: str, allowed: list[str], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise self.fail(key, f"{value!r} is not allowed", " | ".join(allowed))
        return value

    def table(self, key: str, *, required: bool = False) -> _Table:
        value = self.raw.get(key)
        if value is None and not required:
            value = {}
        if not isinstance(value, dict):
            problem = "is missing" if value is None else "is not a table"
            raise self.fail(key, problem, f"add a [{self.prefix}{key}] table")
        return _Table(self.file, value, f"{self.prefix}{key}.")
