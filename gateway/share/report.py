"""The share report for one customs partner and ISO week: a JSON-ready document, and its bytes.

Shape (top level): reportId, partner, week, reporter (the home country), generatedAt, k, rules
(notes on de minimis counting and suppression), cells, totals, trends, lateArrivals and, only
when the partner's agreement grants it, combinedView. Counts are JSON integers; money is a
decimal string in USD with two places ("1234.50"); trend statistics are decimal strings; never
a float.

Everything our own cells contribute passes `disclosure.disclose` once (cells, their totals, the
(origin, HS chapter) totals the trends and the combined view repeat), partners' observations pass
it as a table of their own, and the finished document passes `disclosure.gate`. A trend's baseline
is the pair totals the partner's earlier reports published (`published_pairs`), so its statistics
are functions of published numbers; a pair with too few such weeks is listed as having
insufficient history instead of being flagged, and a pair whose total is suppressed this week is
never flagged.

A week's report is built from its frozen cells (gateway/share/frozen.py), never rebuilt from
later ones: `lateArrivals` carries, oldest week first, `{"week", "cells", "totals"}` for each
earlier reported week whose cells changed since (late items, amendments, cancellations), each
entry shaped as the top-level cells and totals, counts and values possibly negative, and each
week's changes disclosed as a table of their own (`signed`: |items| < k is suppressed). It is
always present, empty when nothing arrived late.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.partners import ShareAgreement
from gateway.domain.weeks import trailing
from gateway.share.disclosure import (
    Audit,
    Disclosed,
    Entry,
    Number,
    Protection,
    Table,
    disclose,
    gate,
)
from gateway.share.trends import Direction, Pair, Trend, TrendConfig, flagged, trends
from gateway.wire.b5_pb2 import TrendObservation

__all__ = ["CELL_DIMENSIONS", "CELL_MEASURES", "build_report", "published_pairs", "report_bytes"]

Json = dict[str, object]

CELL_DIMENSIONS = ("week", "channel", "originCountry", "hsChapter", "category", "valueBand")
CELL_MEASURES = (
    "items",
    "declaredValueUsd",
    "deMinimisItems",
    "preSuspensionItems",
    "detections",
    "rateMissing",
)
PAIR = ("originCountry", "hsChapter")
CELL_TOTALS: tuple[tuple[str, ...], ...] = (
    (),
    ("channel",),
    ("originCountry",),
    ("hsChapter",),
    ("category",),
    ("valueBand",),
    PAIR,
)
COVERAGE_DIMENSIONS = ("week", "originCountry")
COVERAGE_MEASURES = ("items", "itemsWithAed")  # items: arrivals of the week
OBSERVATION_DIMENSIONS = ("week", "reporter", "originCountry", "hsChapter")
OBSERVATION_MEASURES = ("items", "declaredValueUsd", "deMinimisItems", "detections", "rateMissing")
MONEY = frozenset({"declaredValueUsd"})
DEFAULT_TRENDS = TrendConfig()
_CENTS = Decimal("0.01")
_ABSENT = Entry((), (0,))
_STAT = Decimal("0.0001")


def _protection(agreement: ShareAgreement) -> Protection:
    return Protection(agreement.k, agreement.value_percent)


def _rules(home_country: str, k: int) -> Json:
    return {
        "deMinimis": (
            f"deMinimisItems: items under the de minimis rule of {home_country} in force on each "
            "item's posting day (the day received when not posted)"
        ),
        "preSuspension": (
            "preSuspensionItems: items that would have qualified under the last rule before a "
            "suspension (trend continuity)"
        ),
        "suppression": (
            f"a cell or total with fewer than {k} items is suppressed, and further cells or "
            "totals are suppressed until an audit (a linear programme per suppressed number "
            "and bound) proves that what this report and the earlier ones published leaves "
            f"every suppressed item count uncertain by at least {k} and every suppressed value "
            "by at least the agreed percentage of it"
        ),
        "totals": "totals are true totals over every cell, suppressed cells included",
        "lateArrivals": (
            "a week's report never changes once built; lateArrivals: what changed since in the "
            "cells of earlier reported weeks (late items, amendments, cancellations), each "
            "change reported once; counts and values may be negative; each week's changes are "
            f"suppressed as a table of their own (a change of fewer than {k} items, up or down, "
            "or of a value alone)"
        ),
    }


# -- rendering --------------------------------------------------------------------------------


def _money(value: Number) -> str:
    return str(Decimal(value).quantize(_CENTS, rounding=ROUND_HALF_EVEN))


def _stat(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_STAT, rounding=ROUND_HALF_EVEN))


def _measures(names: Sequence[str], values: Sequence[Number]) -> Json:
    return {
        name: _money(value) if name in MONEY else int(value)
        for name, value in zip(names, values, strict=True)
    }


def _entry(dims: Sequence[str], measures: Sequence[str], entry: Entry) -> Json:
    """One cell or total: its dimension values, then measures or `suppressed: true`."""
    out: Json = dict(zip(dims, entry.key, strict=True))
    if entry.values is None:
        out["suppressed"] = True
    else:
        out |= _measures(measures, entry.values)
        out["suppressed"] = False
    return out


def _level(disclosed: Disclosed, grouping: tuple[str, ...]) -> tuple[Entry, ...]:
    return next(entries for g, entries in disclosed.totals if g == grouping)


# -- our own cells ----------------------------------------------------------------------------


def _cell_row(counts: CellCounts) -> tuple[Number, ...]:
    return (
        counts.items,
        counts.declared_value_usd,
        counts.de_minimis_items,
        counts.pre_suspension_items,
        counts.detections,
        counts.rate_missing,
    )


def cell_table(week: str, cells: Mapping[CellKey, CellCounts]) -> Table:
    """The week's own cells (other weeks and all-zero cells left out) as a disclosure table."""
    rows: dict[tuple[str, ...], tuple[Number, ...]] = {
        (k.week, k.channel, k.origin_country, k.hs_chapter, k.category, k.value_band): _cell_row(c)
        for k, c in cells.items()
        if k.week == week and c != CellCounts()
    }
    return Table(CELL_DIMENSIONS, CELL_MEASURES, rows, CELL_TOTALS)


def _totals(disclosed: Disclosed) -> Json:
    def render(grouping: tuple[str, ...]) -> list[Json]:
        return [_entry(grouping, CELL_MEASURES, e) for e in _level(disclosed, grouping)]

    grand = _level(disclosed, ())
    return {
        "grand": _entry((), CELL_MEASURES, grand[0] if grand else Entry((), (0,) * 6)),
        "byDimension": {g[0]: render(g) for g in CELL_TOTALS if len(g) == 1},
        "byOriginAndChapter": render(PAIR),
    }


def _late_arrivals(
    late: Mapping[str, Mapping[CellKey, CellCounts]],
    before: Mapping[str, Mapping[CellKey, CellCounts]],
    agreement: ShareAgreement,
    audits: list[Audit],
) -> list[Json]:
    """Each earlier week's late changes, oldest first, disclosed as a signed table of its own,
    audited knowing that no cell goes below 0: a change is at least minus what was published
    of its cell before (`before`; 0 for a cell not published: a new cell only grows)."""
    protection = _protection(agreement)
    out: list[Json] = []
    for week in sorted(late):
        table = cell_table(week, late[week])
        if not table.rows:
            continue
        earlier = cell_table(week, before.get(week, {})).rows
        zero = (0,) * len(CELL_MEASURES)
        floor = {key: tuple(-n for n in earlier.get(key, zero)) for key in table.rows}
        disclosed = disclose(table, agreement.k, protection=protection, signed=True, floor=floor)
        audits.append(disclosed.audit)
        cells = [_entry(CELL_DIMENSIONS, CELL_MEASURES, e) for e in disclosed.cells]
        out.append({"week": week, "cells": cells, "totals": _totals(disclosed)})
    return out


# -- trends -----------------------------------------------------------------------------------


def published_pairs(doc: Mapping[str, object]) -> dict[Pair, int | None]:
    """The (origin, HS chapter) totals a report document published (None: suppressed): what a
    later report's trends may use of that week (`trends.trends`'s baseline)."""
    totals = doc["totals"]
    assert isinstance(totals, Mapping)
    out: dict[Pair, int | None] = {}
    for entry in totals["byOriginAndChapter"]:
        pair = (entry["originCountry"], entry["hsChapter"])
        out[pair] = None if entry["suppressed"] else int(entry["items"])
    return out


def _trend(trend: Trend) -> Json:
    """A flagged pair and its statistics (its total is published: see `_trends`)."""
    return {
        "originCountry": trend.origin_country,
        "hsChapter": trend.hs_chapter,
        "direction": str(trend.direction),
        "items": trend.items,
        "baselineMedian": _stat(trend.median),
        "mad": _stat(trend.mad),
        "change": _stat(trend.change),
        "relativeChange": _stat(trend.relative_change),
        "z": _stat(trend.z),
        "suppressed": False,
    }


def _trends(
    week: str,
    cells: Mapping[CellKey, CellCounts],
    baseline: Mapping[str, Mapping[Pair, int | None]],
    disclosed: Disclosed,
    config: TrendConfig,
) -> Json:
    pairs = {e.key: e for e in _level(disclosed, PAIR)}
    every = trends(week, cells, baseline, config)
    # Only pairs whose total this week is published are flagged: a flag (or its absence) on a
    # suppressed total would bound it (a steady pair on a flat baseline would even pin it).
    shown = [
        t for t in every if not pairs.get((t.origin_country, t.hs_chapter), _ABSENT).suppressed
    ]
    surges, drops = flagged(shown)
    # Pairs with items this week (every pair total of the week's table) and too little history.
    lacking = [
        {"originCountry": t.origin_country, "hsChapter": t.hs_chapter}
        for t in every
        if t.direction is Direction.INSUFFICIENT_HISTORY
        and (t.origin_country, t.hs_chapter) in pairs
    ]
    return {
        "baselineWeeks": trailing(week, config.weeks),
        "threshold": str(config.threshold),
        "minHistoryWeeks": config.min_history,
        "surges": [_trend(t) for t in surges],
        "drops": [_trend(t) for t in drops],
        "insufficientHistory": lacking,
    }


# -- combined view ----------------------------------------------------------------------------


def observation_table(week: str, observations: Iterable[TrendObservation]) -> Table:
    """Partners' observations of the week per (reporter, origin, HS chapter), in USD."""
    rows: dict[tuple[str, ...], tuple[Number, ...]] = {}
    for o in observations:
        if o.period != week:
            continue
        usd = Decimal(o.declared_value_usd) if o.declared_value_usd else Decimal(0)
        missing = o.items if o.rate_missing or not o.declared_value_usd else 0
        row: tuple[Number, ...] = (o.items, usd, o.de_minimis_items, o.detections, missing)
        key = (week, o.reporter, o.origin_country, o.hs_chapter)
        before: tuple[Number, ...] = rows.get(key, (0, Decimal(0), 0, 0, 0))
        rows[key] = tuple(a + b for a, b in zip(before, row, strict=True))
    return Table(OBSERVATION_DIMENSIONS, OBSERVATION_MEASURES, rows, (("reporter",),))


def _combined(
    week: str,
    ours: Disclosed,
    observations: Iterable[TrendObservation],
    protection: Protection,
    audits: list[Audit],
) -> Json:
    """Our (origin, HS chapter) totals (as disclosed above) beside each partner's, per pair."""
    theirs = disclose(observation_table(week, observations), protection.k, protection=protection)
    audits.append(theirs.audit)
    own = {e.key: e for e in _level(ours, PAIR)}
    by_pair: dict[tuple[str, ...], list[Json]] = {}
    for cell in theirs.cells:
        entry = _entry(("reporter",), OBSERVATION_MEASURES, Entry(cell.key[1:2], cell.values))
        by_pair.setdefault(cell.key[2:], []).append(entry)
    zero = Entry((), (0, Decimal(0), 0, 0, 0, 0))
    rows = [
        {
            "originCountry": pair[0],
            "hsChapter": pair[1],
            "ours": _entry((), CELL_MEASURES, Entry((), own[pair].values) if pair in own else zero),
            "partners": by_pair.get(pair, []),
        }
        for pair in sorted(set(own) | set(by_pair))
    ]
    by_reporter = [
        _entry(("reporter",), OBSERVATION_MEASURES, e) for e in _level(theirs, ("reporter",))
    ]
    return {
        "week": week,
        "cells": rows,
        "totals": {"byReporter": by_reporter},
    }


def _coverage(
    week: str,
    coverage: Mapping[str, tuple[int, int]],
    agreement: ShareAgreement,
    audits: list[Audit],
) -> Json:
    """AED coverage of the week's arrivals per origin country (items arrived, of which with
    AED before arrival), suppressed like every table: a country with fewer than k arrivals is
    hidden, with complements until the audit proves nothing hidden can be narrowed."""
    table = Table(
        COVERAGE_DIMENSIONS,
        COVERAGE_MEASURES,
        {(week, country): (arrived, with_aed) for country, (arrived, with_aed) in coverage.items()},
        totals=((),),
    )
    disclosed = disclose(table, agreement.k, protection=_protection(agreement))
    audits.append(disclosed.audit)
    grand = _level(disclosed, ())
    return {
        "week": week,
        "cells": [_entry(COVERAGE_DIMENSIONS, COVERAGE_MEASURES, e) for e in disclosed.cells],
        "totals": {
            "grand": _entry((), COVERAGE_MEASURES, grand[0] if grand else Entry((), (0, 0)))
        },
    }


# -- the report -------------------------------------------------------------------------------


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_report(
    *,
    partner: str,
    agreement: ShareAgreement,
    week: str,
    home_country: str,
    cells: Mapping[CellKey, CellCounts],
    baseline: Mapping[str, Mapping[Pair, int | None]],
    observations: Sequence[TrendObservation],
    generated_at: datetime,
    report_id: str,
    trend_config: TrendConfig = DEFAULT_TRENDS,
    late: Mapping[str, Mapping[CellKey, CellCounts]] | None = None,
    before: Mapping[str, Mapping[CellKey, CellCounts]] | None = None,
    audits: list[Audit] | None = None,
    coverage: Mapping[str, tuple[int, int]] | None = None,
) -> Json:
    """The report document (JSON-ready; see the module docstring), gated for disclosure.

    `cells`: our frozen cells of `week` (cells of other weeks are ignored); `baseline`: per
    trailing ISO week reported to this partner, the pair totals that report published
    (`published_pairs`); `observations`: partners' feeds (those of `week` are shown, and only when
    `agreement.combined_view`); `late`: per earlier week, the changes of its cells this report
    publishes (none when None); `before`: per week of `late`, everything published of its cells
    before (the late changes' floor in the audit; none when None). Same inputs, same document.
    `audits`, when given, receives the audit of each table disclosed (our cells first).
    `coverage`: per origin country, (items arrived in `week`, of which with AED before arrival),
    as known when the report is built; disclosed as a table of its own (`aedCoverage`); none
    when None.
    Raises DisclosureError if a field or value is not an allow-listed aggregate, Unprotectable
    if a table's suppression cannot pass its audit.
    """
    audits = audits if audits is not None else []
    disclosed = disclose(cell_table(week, cells), agreement.k, protection=_protection(agreement))
    audits.append(disclosed.audit)
    doc: Json = {
        "reportId": report_id,
        "partner": partner,
        "week": week,
        "reporter": home_country,
        "generatedAt": _timestamp(generated_at),
        "k": agreement.k,
        "rules": _rules(home_country, agreement.k),
        "cells": [_entry(CELL_DIMENSIONS, CELL_MEASURES, e) for e in disclosed.cells],
        "totals": _totals(disclosed),
        "trends": _trends(week, cells, baseline, disclosed, trend_config),
        "lateArrivals": _late_arrivals(late or {}, before or {}, agreement, audits),
    }
    if coverage is not None:
        doc["aedCoverage"] = _coverage(week, coverage, agreement, audits)
    if agreement.combined_view:
        doc["combinedView"] = _combined(
            week, disclosed, observations, _protection(agreement), audits
        )
    gate(doc)
    return doc


def _check_json(value: object) -> None:
    """Only str, int, bool, None, dicts and lists: never a float or a Decimal."""
    if isinstance(value, dict):
        for item in value.values():
            _check_json(item)
    elif isinstance(value, list):
        for item in value:
            _check_json(item)
    elif value is not None and not isinstance(value, str | int):
        raise TypeError(f"{value!r} ({type(value).__name__}) may not appear in a report")


def report_bytes(doc: Mapping[str, object]) -> bytes:
    """Canonical JSON: sorted keys, compact separators, UTF-8; the bytes that are signed."""
    gate(doc)
    _check_json(dict(doc))
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
