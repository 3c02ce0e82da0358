"""Cell attribution of the gateway's own accepted declarations, and incremental cell counts.

A declaration lands in exactly one cell (`cell_of`), counted as `counts_of`. The rules, all
deterministic and computed from the declaration alone (so a later subtraction removes exactly
what was added):

- week: the ISO week of the valuation day: `valuation.valued_on` when set, else the posting day
  (UTC) when posted_at is present, else the day received (UTC);
- channel: always `POST` (the gateway's own items are postal AED);
- origin_country: the pieces' origin country when every piece states the same one; otherwise
  (no pieces, a piece without origin, or pieces that disagree) the sender's address country;
  `ZZ` when that is empty too;
- hs_chapter: the first two digits of the first piece's HS code, `00` when it has none;
- category: the declaration's category, `UNSPECIFIED` when empty;
- value_band: `valuation.value_band`, `""` when the rate was missing.

Detections are the one count a declaration does not give: an item counts one while its
decisions give a B5 detection, in the cell of its current version, moved in and out by
`detection_increments` as decisions, amendments and cancellations arrive (cell_folding.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.weeks import iso_week
from gateway.wire.declaration_pb2 import AMENDMENT, CANCELLATION, ORIGINAL, Declaration

__all__ = [
    "CHANNEL",
    "Change",
    "Contribution",
    "Contributions",
    "DetectionTerm",
    "cell_of",
    "contribution_of",
    "counts_of",
    "detection_increments",
    "increments",
    "merged",
    "recount",
]

CHANNEL = "POST"
NOT_STATED_COUNTRY = "ZZ"
NOT_STATED_CHAPTER = "00"
UNSPECIFIED_CATEGORY = "UNSPECIFIED"

# A record's contribution, computed once where it was valued (`contribution_of`): its cell's
# fields and its counts' fields, in CellKey's and CellCounts' orders.
Contribution = tuple[tuple[str, str, str, str, str, str], tuple[int, Decimal, int, int, int, int]]

# A journal change: the new accepted record (or its contribution), and the item's previous
# accepted record (or None).
Change = tuple[Declaration | Contribution, Declaration | None]

# A B5 detection entering (+1) or leaving (-1) the cell of an item version (a declaration or
# its contribution): decisions give detections, not declarations (cell_folding.py).
DetectionTerm = tuple[Declaration | Contribution, int]


def valuation_day(decl: Declaration) -> date:
    """The day the home rules were applied for: valued_on, else posting day, else received day."""
    if decl.valuation.valued_on:
        return date.fromisoformat(decl.valuation.valued_on)
    stamp = decl.posted_at if decl.has_posted_at else decl.provenance.received_at
    return datetime.fromtimestamp(stamp.seconds, tz=UTC).date()


def origin_of(decl: Declaration) -> str:
    """The pieces' common origin country, else the sender's country, else ZZ."""
    origins = {piece.origin_country for piece in decl.pieces}
    if len(origins) == 1 and "" not in origins:
        return origins.pop()
    return decl.sender.address.country_code or NOT_STATED_COUNTRY


def hs_chapter_of(decl: Declaration) -> str:
    """The first piece's HS chapter (two digits), `00` when not stated."""
    code = decl.pieces[0].hs_code if decl.pieces else ""
    return code[:2] if len(code) >= 2 and code[:2].isdigit() else NOT_STATED_CHAPTER


def cell_of(decl: Declaration) -> CellKey:
    """The one cell an accepted declaration is counted in (rules in the module docstring)."""
    return CellKey(*_cell_fields(decl, {}))


def _cell_fields(decl: Declaration, weeks: dict[str, str]) -> tuple[str, str, str, str, str, str]:
    """cell_of's fields, in CellKey's order; `weeks` caches the ISO week of each valued_on."""
    valuation = decl.valuation
    valued_on = valuation.valued_on
    if valued_on:
        week = weeks.get(valued_on)
        if week is None:
            week = weeks[valued_on] = iso_week(date.fromisoformat(valued_on))
    else:
        week = iso_week(valuation_day(decl))
    return (
        week,
        CHANNEL,
        origin_of(decl),
        hs_chapter_of(decl),
        decl.category or UNSPECIFIED_CATEGORY,
        "" if valuation.rate_missing else valuation.value_band,
    )


def contribution_of(decl: Declaration, weeks: dict[str, str]) -> Contribution:
    """What `increments` would compute for `decl` (a valued declaration): computed where the
    record is sealed, so the fold need not read the record back. `weeks` caches ISO weeks."""
    return _cell_fields(decl, weeks), _count_fields(decl)


class Contributions:
    """The contributions of one message's records, by item index. Equal cells share one
    tuple, so a message's few cells cross the CPU pool once each, not once per record."""

    __slots__ = ("_by_item", "_cells", "_weeks")

    def __init__(self) -> None:
        self._by_item: dict[int, Contribution] = {}
        self._cells: dict[tuple[str, ...], tuple[str, str, str, str, str, str]] = {}
        self._weeks: dict[str, str] = {}

    def add(self, index: int, decl: Declaration) -> None:
        cell, counts = contribution_of(decl, self._weeks)
        self._by_item[index] = (self._cells.setdefault(cell, cell), counts)

    def get(self, index: int) -> Contribution | None:
        return self._by_item.get(index)

    def __len__(self) -> int:
        return len(self._by_item)

    def plain(self) -> tuple[tuple[int, tuple[str, ...], tuple[int, str, int, int, int, int]], ...]:
        """These contributions as plain values (for marshal): (index, cell, counts with the
        USD value as a string), equal cells still one tuple."""
        return tuple(
            (index, cell, (n, str(usd), de_minimis, pre, detections, missing))
            for index, (
                cell,
                (n, usd, de_minimis, pre, detections, missing),
            ) in self._by_item.items()
        )

    @classmethod
    def from_plain(
        cls, rows: Iterable[tuple[int, Any, tuple[int, str, int, int, int, int]]]
    ) -> Contributions:
        """The contributions `plain` gave."""
        out = cls()
        out._by_item = {
            index: (cell, (n, Decimal(usd), de_minimis, pre, detections, missing))
            for index, cell, (n, usd, de_minimis, pre, detections, missing) in rows
        }
        return out


def counts_of(decl: Declaration) -> CellCounts:
    """One item's contribution; detections stay 0 (they come from decisions, not declarations:
    `detection_increments`)."""
    return CellCounts(*_count_fields(decl))


def _count_fields(decl: Declaration) -> tuple[int, Decimal, int, int, int, int]:
    """counts_of's fields, in CellCounts' order."""
    valuation = decl.valuation
    known = not valuation.rate_missing and bool(valuation.value_usd)
    return (
        1,
        Decimal(valuation.value_usd) if known else Decimal(0),
        int(valuation.de_minimis),
        int(valuation.pre_suspension_de_minimis),
        0,
        int(valuation.rate_missing),
    )


def _signed_terms(change: Change) -> list[tuple[Declaration | Contribution, bool]]:
    """(declaration or contribution, add?) terms of one change: what it adds and what it takes
    away. A contribution stands for a new ORIGINAL or AMENDMENT record (a CANCELLATION adds
    nothing, so it always comes as its declaration)."""
    new, previous = change
    if isinstance(new, tuple):
        return [(previous, False), (new, True)] if previous is not None else [(new, True)]
    terms: list[tuple[Declaration | Contribution, bool]] = []
    if new.function in (AMENDMENT, CANCELLATION) and previous is not None:
        terms.append((previous, False))
    if new.function in (ORIGINAL, AMENDMENT):
        terms.append((new, True))
    return terms


def increments(changes: Iterable[Change]) -> dict[CellKey, CellCounts]:
    """The cell increments of journal changes, in journal order.

    ORIGINAL adds the new record; AMENDMENT subtracts the previous accepted record and adds the
    new one; CANCELLATION subtracts the previous one. An AMENDMENT or CANCELLATION without a
    previous record subtracts nothing. A new record may come as its contribution (the previous
    one of an ORIGINAL is then None). Cells whose net increment is zero are left out. Feeding
    the journal in any chunks and summing the results equals feeding it at once.
    """
    # Summed in plain lists by plain tuples (a few cells for thousands of records); the
    # dataclasses are made once per cell at the end.
    sums: dict[tuple[str, ...], list[Any]] = {}
    weeks: dict[str, str] = {}
    for change in changes:
        for term, add in _signed_terms(change):
            if isinstance(term, tuple):
                key, counts = term
            else:
                key, counts = _cell_fields(term, weeks), _count_fields(term)
            total = sums.get(key)
            if total is None:
                total = sums[key] = [0, Decimal(0), 0, 0, 0, 0]
            items, usd, de_minimis, pre_suspension, detections, missing = counts
            sign = 1 if add else -1
            total[0] += sign * items
            total[1] += usd if add else -usd
            total[2] += sign * de_minimis
            total[3] += sign * pre_suspension
            total[4] += sign * detections
            total[5] += sign * missing
    out = {CellKey(*key): CellCounts(*total) for key, total in sums.items()}
    return {key: counts for key, counts in out.items() if counts != CellCounts()}


def detection_increments(terms: Iterable[DetectionTerm]) -> dict[CellKey, CellCounts]:
    """The cell increments of detections moving in and out of item versions' cells; cells
    whose net increment is zero are left out."""
    sums: dict[tuple[str, ...], int] = {}
    weeks: dict[str, str] = {}
    for term, sign in terms:
        key = term[0] if isinstance(term, tuple) else _cell_fields(term, weeks)
        sums[key] = sums.get(key, 0) + sign
    return {CellKey(*key): CellCounts(detections=n) for key, n in sums.items() if n}


def recount(latest: Iterable[Declaration]) -> dict[CellKey, CellCounts]:
    """Brute force: the cells of these declarations (the latest non-cancelled of each item)."""
    out: dict[CellKey, CellCounts] = {}
    for decl in latest:
        key = cell_of(decl)
        out[key] = out.get(key, CellCounts()) + counts_of(decl)
    return out


def merged(*parts: Mapping[CellKey, CellCounts]) -> dict[CellKey, CellCounts]:
    """The sum of several increments (as a store applies them), zero cells left out."""
    out: dict[CellKey, CellCounts] = {}
    for part in parts:
        for key, counts in part.items():
            out[key] = out.get(key, CellCounts()) + counts
    return {key: counts for key, counts in out.items() if counts != CellCounts()}
