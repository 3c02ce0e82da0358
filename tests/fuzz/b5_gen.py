"""Strategies for B5 trend feeds in the three partner layouts (docs/b5.md, partners/*/mapping.toml).

A feed is drawn as rows of source values (`Feed`), valid by the partner's mapping, then maybe
mutated per row (field dropped, hostile value, wrong JSON type, unknown field, huge count …) or
as a whole (header, namespace, week, blank lines, CRLF, stray bytes, truncation).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from gateway.formats.b5.codes import CATEGORIES, CHANNELS
from gateway.rules.codes import countries
from tests.fuzz.values import COUNTS, DECIMALS, WEEKS, hostile, xml_text
from tests.fuzz.xmltree import Node, render

PARTNERS = ("au-abf", "ca-cbsa", "gb-bf")
MEDIA = {"au-abf": "text/csv", "ca-cbsa": "application/x-ndjson", "gb-bf": "application/xml"}
GB_NAMESPACE = "urn:gb-bf:lowvalue:1"
AU_COLUMNS = (
    "week_start", "week_end", "origin", "hs2", "category", "value_band_aud", "parcels",
    "declared_value_aud", "detections",
)  # fmt: skip
ORIGINS = st.one_of(st.sampled_from(sorted(countries())), st.just("ZZ"))
CHAPTERS = st.sampled_from([f"{c:02d}" for c in range(98) if c != 77])
CANONICAL_CATEGORIES = st.sampled_from(sorted(CATEGORIES))
CA_TYPES = st.one_of(st.sampled_from(("SALE", "GIFT", "DOC", "SAMPLE", "RETURN")), xml_text(1, 12))
COUNT = st.one_of(st.integers(1, 10**6), st.integers(1, 2**63 - 1), st.just(2**63 - 1))
AMOUNT = st.tuples(st.integers(0, 10**18 - 1), st.integers(0, 6), st.integers(0, 999_999)).map(
    lambda t: f"{t[0]}.{t[2]:06d}"[: len(str(t[0])) + 1 + t[1]].rstrip(".")
)


@dataclass(frozen=True, slots=True)
class Feed:
    partner: str
    rows: tuple[dict[str, Any], ...]
    week: str = ""  # gb-bf: the root's week attribute
    columns: tuple[str, ...] = AU_COLUMNS  # au-abf: the header
    raw: bytes | None = None  # set by byte-level edits
    valid: bool = True
    blank_lines: tuple[int, ...] = field(default=())

    def bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return render_feed(self)

    @property
    def media(self) -> str:
        return MEDIA[self.partner]


def render_feed(feed: Feed) -> bytes:
    if feed.partner == "au-abf":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(feed.columns)
        for row in feed.rows:
            writer.writerow([_cell(row.get(c, "")) for c in feed.columns])
        return out.getvalue().encode("utf-8")
    if feed.partner == "ca-cbsa":
        lines = [json.dumps(row, ensure_ascii=False, default=str) for row in feed.rows]
        return ("\n".join(lines) + "\n").encode("utf-8")
    rows = tuple(
        Node("row", attrs=tuple((k, _cell(v)) for k, v in row.items())) for row in feed.rows
    )
    root = Node("lowValueReport", attrs=(("week", feed.week),) if feed.week else (), children=rows)
    return render(root, namespace=GB_NAMESPACE).encode("utf-8")


def _cell(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


# -- valid feeds ----------------------------------------------------------------------------


def week_days(draw: st.DrawFn) -> tuple[date, date, str]:
    monday = date(2020, 1, 6) + timedelta(weeks=draw(st.integers(0, 52 * 10)))
    start = draw(st.integers(0, 6))
    end = draw(st.integers(start, 6))
    year, week, _ = monday.isocalendar()
    return monday + timedelta(start), monday + timedelta(end), f"{year}-W{week:02d}"


@st.composite
def row(draw: st.DrawFn, partner: str) -> dict[str, Any]:
    first, last, _ = week_days(draw)
    items = draw(COUNT)
    detections = draw(st.integers(0, items))
    amount = draw(AMOUNT)
    if partner == "au-abf":
        return {
            "week_start": first.isoformat(), "week_end": last.isoformat(),
            "origin": draw(st.one_of(ORIGINS, st.just(""))),
            "hs2": draw(st.one_of(CHAPTERS, st.just(""))),
            "category": draw(st.one_of(CANONICAL_CATEGORIES, st.just(""))),
            "value_band_aud": draw(xml_text(0, 12)), "parcels": str(items),
            "declared_value_aud": amount, "detections": str(detections),
        }  # fmt: skip
    if partner == "ca-cbsa":
        out: dict[str, Any] = {"period": {"from": first.isoformat(), "to": last.isoformat()}}
        if draw(st.booleans()):
            out["mode"] = draw(st.sampled_from(("POSTAL", "COURIER", "POST", "UNKNOWN")))
        for key, strategy in (("origin_country", ORIGINS), ("hs_chapter", CHAPTERS)):
            if draw(st.booleans()):
                out[key] = draw(strategy)
        out["type"] = draw(CA_TYPES)
        out["shipments"] = items
        out["value_cad"] = amount
        if draw(st.booleans()) and "." not in amount:
            out["value_cad"] = int(amount)
        out["seizures"] = detections
        return out
    out = {"channel": draw(st.sampled_from(sorted(CHANNELS)))}
    for key, strategy in (
        ("origin", ORIGINS), ("chapter", CHAPTERS), ("category", CANONICAL_CATEGORIES)
    ):  # fmt: skip
        if draw(st.booleans()):
            out[key] = draw(strategy)
    items = min(items, 10**19 - 1)
    out |= {"count": str(items), "valueGBP": amount, "detections": str(min(detections, items))}
    return out


@st.composite
def feeds(draw: st.DrawFn, partner: str, max_rows: int = 6) -> Feed:
    rows = tuple(draw(st.lists(row(partner), min_size=0, max_size=max_rows)))
    week = week_days(draw)[2] if partner == "gb-bf" else ""
    return Feed(partner, rows, week=week)


# -- mutations ------------------------------------------------------------------------------

_JSON_ODD: tuple[Any, ...] = (
    None, True, False, [], {}, [1], {"x": 1}, -1, 0, 1.5, 1e308, -0.0, 2**64, 2**63, 10**40,
)  # fmt: skip


_PERIODS: tuple[Any, ...] = (
    {},
    [],
    "2026-W47",
    {"from": "2026-11-16"},
    {"from": "2026-11-22", "to": "2026-11-16"},
    {"from": "2026-12-28", "to": "2027-01-03"},
    {"from": "2026-11-16", "to": "2026-11-22", "x": 1},
    {"from": "0001-01-01", "to": "0001-01-01"},
    {"from": "9999-12-31", "to": "9999-12-31"},
)


def _value(draw: st.DrawFn, partner: str) -> Any:
    if partner == "ca-cbsa" and draw(st.booleans()):
        return draw(st.one_of(st.sampled_from(_JSON_ODD), st.integers(-(2**70), 2**70)))
    return draw(st.one_of(hostile(), st.sampled_from(COUNTS), st.sampled_from(DECIMALS)))


@st.composite
def mutated_feeds(draw: st.DrawFn, partner: str) -> Feed:
    feed = draw(feeds(partner, max_rows=4))
    rows = [dict(r) for r in feed.rows] or [draw(row(partner))]
    for _ in range(draw(st.integers(1, 3))):
        target = rows[draw(st.integers(0, len(rows) - 1))]
        kind = draw(st.sampled_from(("drop", "set", "set", "set", "unknown", "nest")))
        keys = sorted(target) or ["x"]
        key = draw(st.sampled_from(keys))
        if kind == "drop":
            target.pop(key, None)
        elif kind == "unknown":
            target[draw(st.sampled_from(("bogus", "Origin", "period.from", "x y")))] = "1"
        elif kind == "nest" and partner == "ca-cbsa":
            target["period"] = draw(st.sampled_from(_PERIODS))
        else:
            target[key] = _value(draw, partner)
    feed = replace(feed, rows=tuple(rows), valid=False)
    if partner == "gb-bf" and draw(st.integers(0, 3)) == 0:
        feed = replace(feed, week=draw(st.one_of(st.sampled_from(WEEKS), st.just(""), hostile())))
    if partner == "au-abf" and draw(st.integers(0, 4)) == 0:
        columns = list(feed.columns)
        edit = draw(st.sampled_from(("drop", "dup", "unknown", "swap")))
        if edit == "drop":
            columns.pop(draw(st.integers(0, len(columns) - 1)))
        elif edit == "dup":
            columns.append(columns[0])
        elif edit == "unknown":
            columns.append("bogus")
        else:
            columns.reverse()
        feed = replace(feed, columns=tuple(columns))
    if draw(st.integers(0, 3)) == 0:
        feed = replace(feed, raw=_bytes_edit(draw, feed.bytes()))
    return feed


def _bytes_edit(draw: st.DrawFn, data: bytes) -> bytes:  # noqa: PLR0911 (one per edit)
    kind = draw(st.sampled_from(("truncate", "stray", "crlf", "blank", "bom", "quote", "ns")))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "stray":
        where = draw(st.integers(0, len(data)))
        stray = draw(st.sampled_from((b"\xff", b"\x00", b'"', b",", b"\n", b"{", b"<", b"&x;")))
        return data[:where] + stray + data[where:]
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    if kind == "blank":
        return data.replace(b"\n", b"\n\n  \n", 1)
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "quote":
        return data.replace(b",", b',"', 1)
    return data.replace(GB_NAMESPACE.encode(), b"urn:other", 1)
