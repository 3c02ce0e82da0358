"""Disclosure control: THE gate every outbound share report passes through (principle 7).

Two guards, both here and nowhere else:

1. **An allow-list of field names.** A table's dimensions and measures, and every key of a report
   document (`gate`), must be allow-listed aggregate fields; a personal or unknown field (name,
   address, phone, email, reference, itemId, description, free text …) raises DisclosureError.
   Dimension values must match their code pattern, so free text cannot ride in a value either.

2. **Small-cell and complementary suppression, proved by an audit** (`disclose`). A table is a
   set of cells (one value per dimension) with additive measures, `items` first. Its published
   totals are the sums over each requested grouping of dimensions (default: the grand total and
   the total per value of each single dimension), computed over ALL cells: they are true totals.
   Every published number (cell or total) is a node; a total with a single cell IS that cell's
   node. Suppression:

   - primary: every node with 0 < items < k (signed tables, i.e. changes: |items| < k and some
     measure non-zero, so a change of value alone is never shown);
   - complementary, first by single equations (P = sum of its children at a finer level): a
     published parent with one suppressed child, or two suppressed 1s, gets its smallest
     published child suppressed too; a suppressed parent gets a suppressed child;
   - then the audit (gateway/share/protection.py): for every suppressed node and measure, the
     minimum and maximum a partner can compute from everything published (a linear programme
     per bound, HiGHS). Each node found too narrow gets one more complement, the published
     neighbour (a node sharing an equation with it, else one further out) that costs least:
     a cell before a total, the fewest items among those with at least k, else the most. The
     audit re-runs on what changed (more suppression only widens intervals) until every node
     is protected;
   - the gate: a fresh audit of the final table; a table it does not pass raises
     Unprotectable and is not published. `Disclosed.audit` is that audit.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.errors import DisclosureError, Unprotectable
from gateway.share.protection import (
    Audit,
    Bound,
    Protection,
    Seen,
    Structure,
    audit,
    required_width,
)

__all__ = [
    "ALLOWED_FIELDS",
    "DIMENSIONS",
    "MEASURES",
    "PERSONAL_FIELDS",
    "Audit",
    "Bound",
    "Disclosed",
    "Entry",
    "Number",
    "Protection",
    "Table",
    "disclose",
    "gate",
    "publishable",
    "required_width",
]

Number = int | Decimal
_UNBOUNDED = Decimal("Infinity")

_BANDS = ("0-20", "20-40", "40-100", "100-150", "150-800", "800-2500", "2500+")
_CODE = r"[A-Z][A-Z_]{0,39}"

# Aggregate dimensions and the pattern each value must match.
DIMENSIONS: Mapping[str, re.Pattern[str]] = {
    "week": re.compile(r"\d{4}-W\d{2}"),
    "channel": re.compile(r"POST|COURIER|UNKNOWN"),
    "reporter": re.compile(r"[A-Z]{2}"),
    "originCountry": re.compile(r"[A-Z]{2}"),
    "hsChapter": re.compile(r"\d{2}"),
    "category": re.compile(_CODE),
    "valueBand": re.compile("|".join(re.escape(b) for b in ("", *_BANDS))),
}

MEASURES = frozenset(
    {
        "items",
        "declaredValueUsd",
        "deMinimisItems",
        "preSuspensionItems",
        "detections",
        "rateMissing",
        "itemsWithAed",
    }
)

# Every key a report document may hold: dimensions, measures, header, structure, trend stats.
ALLOWED_FIELDS = frozenset(
    {
        *DIMENSIONS,
        *MEASURES,
        "reportId",
        "partner",
        "generatedAt",
        "k",
        "rules",
        "deMinimis",
        "preSuspension",
        "suppression",
        "cells",
        "totals",
        "grand",
        "byDimension",
        "byOriginAndChapter",
        "byReporter",
        "suppressed",
        "trends",
        "baselineWeeks",
        "minHistoryWeeks",
        "insufficientHistory",
        "threshold",
        "surges",
        "drops",
        "baselineMedian",
        "mad",
        "change",
        "relativeChange",
        "z",
        "direction",
        "combinedView",
        "ours",
        "partners",
        "lateArrivals",
        "aedCoverage",
    }
)

# Named so the error says what went wrong; anything else off the allow-list raises too.
PERSONAL_FIELDS = frozenset(
    {
        "name",
        "businessName",
        "address",
        "lines",
        "city",
        "region",
        "postcode",
        "phone",
        "email",
        "reference",
        "itemId",
        "declarationId",
        "description",
        "comments",
        "categoryExplanation",
        "freeText",
        "sender",
        "addressee",
    }
)


def _check_field(name: str, allowed: Iterable[str]) -> None:
    if name in PERSONAL_FIELDS:
        raise DisclosureError(name, "personal data never leaves in a share report")
    if name not in allowed:
        raise DisclosureError(name, "not an allow-listed aggregate field")


def gate(doc: object, path: str = "$") -> None:
    """Raise DisclosureError unless every key anywhere in `doc` is in ALLOWED_FIELDS."""
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            _check_field(str(key), ALLOWED_FIELDS)
            gate(value, f"{path}.{key}")
    elif isinstance(doc, list | tuple):
        for index, value in enumerate(doc):
            gate(value, f"{path}[{index}]")


def publishable(items: int, k: int) -> bool:
    """A count may be published: 0, or at least k."""
    return items == 0 or items >= k


@dataclass(frozen=True, slots=True)
class Table:
    """Cells with allow-listed dimensions and additive measures (`items` first, non-negative).

    `totals`: the groupings (tuples of dimension names) whose totals the report publishes;
    None means the grand total `()` and each single dimension.
    """

    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    rows: Mapping[tuple[str, ...], tuple[Number, ...]]
    totals: tuple[tuple[str, ...], ...] | None = None

    def groupings(self) -> tuple[tuple[str, ...], ...]:
        if self.totals is not None:
            return self.totals
        return ((), *((d,) for d in self.dimensions))


@dataclass(frozen=True, slots=True)
class Entry:
    """A published cell or total: its dimension values and measures (None when suppressed)."""

    key: tuple[str, ...]
    values: tuple[Number, ...] | None

    @property
    def suppressed(self) -> bool:
        return self.values is None


@dataclass(frozen=True, slots=True)
class Disclosed:
    """A table after disclosure control: cells and true totals, suppressed ones withheld."""

    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    k: int
    cells: tuple[Entry, ...]  # sorted by key
    totals: tuple[tuple[tuple[str, ...], tuple[Entry, ...]], ...]  # (grouping, its entries)
    audit: Audit  # the gate's audit of exactly what is published


def _check_table(table: Table, k: int, *, signed: bool = False) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    for name in table.dimensions:
        _check_field(name, DIMENSIONS)
    for name in table.measures:
        _check_field(name, MEASURES)
    if table.measures[:1] != ("items",):
        raise ValueError("the first measure of a table must be items")
    for grouping in table.groupings():
        for name in grouping:
            if name not in table.dimensions:
                raise ValueError(f"total over {grouping}: {name!r} is not a dimension")
    for key, values in table.rows.items():
        _check_row(table, key, values, signed=signed)


def _check_row(
    table: Table, key: tuple[str, ...], values: tuple[Number, ...], *, signed: bool = False
) -> None:
    if len(key) != len(table.dimensions) or len(values) != len(table.measures):
        raise ValueError(f"cell {key} does not match the table's dimensions and measures")
    for name, value in zip(table.dimensions, key, strict=True):
        if not DIMENSIONS[name].fullmatch(value):
            raise DisclosureError(name, f"{value!r} is not a code of this dimension")
    if not isinstance(values[0], int) or (values[0] < 0 and not signed):
        raise ValueError(f"cell {key}: items must be a non-negative integer")


# One level: a grouping and, per value of it, (node id, the indices of its member cells).
_Level = tuple[tuple[str, ...], dict[tuple[str, ...], tuple[int, list[int]]]]
_Equation = tuple[int, tuple[int, ...]]  # (parent node, its children at a finer level)


class _Lattice:
    """The nodes (distinct sets of cells) of a table's cells and totals, and their equations.

    Level 0 is the cells themselves; then one level per published grouping.
    """

    def __init__(self, table: Table, keys: Sequence[tuple[str, ...]]) -> None:
        self.items: list[int] = []
        self.members: list[list[int]] = []
        self.names: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self._ids: dict[frozenset[int], int] = {}
        cell_items = [int(table.rows[key][0]) for key in keys]
        self.levels: list[_Level] = []
        for grouping in (table.dimensions, *table.groupings()):
            groups = _group(table.dimensions, grouping, keys)
            nodes = {
                value: (self._node(grouping, value, m, cell_items), m)
                for value, m in groups.items()
            }
            self.levels.append((grouping, nodes))
        self.equations = self._equations()

    def _node(
        self,
        grouping: tuple[str, ...],
        value: tuple[str, ...],
        members: list[int],
        cell_items: Sequence[int],
    ) -> int:
        frozen = frozenset(members)
        if frozen not in self._ids:
            self._ids[frozen] = len(self.items)
            self.items.append(sum(cell_items[i] for i in members))
            self.members.append(members)
            self.names.append((grouping, value))
        return self._ids[frozen]

    def touching(self) -> dict[int, list[int]]:
        """Per node, the indices of the equations it is in."""
        out: dict[int, list[int]] = {}
        for index, (parent, children) in enumerate(self.equations):
            for node in (parent, *children):
                out.setdefault(node, []).append(index)
        return out

    def _equations(self) -> list[_Equation]:
        seen: set[_Equation] = set()
        out: list[_Equation] = []
        for coarse, parents in self.levels:
            for fine, nodes in self.levels:
                if not set(coarse) < set(fine):
                    continue
                where = [fine.index(d) for d in coarse]
                children: dict[tuple[str, ...], set[int]] = {}
                for value, (node, _) in nodes.items():
                    children.setdefault(tuple(value[i] for i in where), set()).add(node)
                for value, (parent, _) in parents.items():
                    equation = (parent, tuple(sorted(children[value])))
                    if equation[1] != (parent,) and equation not in seen:
                        seen.add(equation)
                        out.append(equation)
        return out


def _group(
    dims: Sequence[str], grouping: Sequence[str], keys: Sequence[tuple[str, ...]]
) -> dict[tuple[str, ...], list[int]]:
    """The indices of the cells per value of `grouping` (in key order)."""
    where = [list(dims).index(d) for d in grouping]
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(tuple(key[i] for i in where), []).append(index)
    return groups


def _smallest(
    children: Iterable[int], hidden: set[int], items: Sequence[int], least: int
) -> int | None:
    """The published child with the fewest items (at least `least`); ties by node order."""
    candidates = [c for c in children if c not in hidden and items[c] >= least]
    return min(candidates, key=lambda c: (items[c], c), default=None)


def _repair(equation: _Equation, hidden: set[int], items: Sequence[int]) -> int | None:
    """The node to suppress next so this equation gives nothing away, or None when it is safe."""
    parent, children = equation
    shut = [c for c in children if c in hidden]
    if parent in hidden:
        return None if shut else _smallest(children, hidden, items, 1)
    if not shut or (len(shut) >= 2 and sum(items[c] for c in shut) > len(shut)):
        return None
    pick = _smallest(children, hidden, items, 2 if len(shut) >= 2 else 1)
    return parent if pick is None else pick


def _suppress(
    primary: Iterable[int], items: Sequence[int], lattice: _Lattice, touching: dict[int, list[int]]
) -> set[int]:
    """Primary suppression, then complements by single equations to a fixed point (a worklist)."""
    equations = lattice.equations
    hidden = set(primary)
    queue = deque(range(len(equations)))
    queued = set(queue)
    while queue:
        index = queue.popleft()
        queued.discard(index)
        chosen = _repair(equations[index], hidden, items)
        if chosen is None:
            continue
        hidden.add(chosen)
        for again in touching[chosen]:
            if again not in queued:
                queued.add(again)
                queue.append(again)
    return hidden


def _complement(
    node: int,
    *,
    hidden: set[int],
    lattice: _Lattice,
    touching: dict[int, list[int]],
    items: Sequence[int],
    k: int,
) -> int | None:
    """The published node to suppress so that `node` gains room: among its nearest published
    neighbours (sharing an equation with it, else with a suppressed neighbour, and so on), a cell
    before a total, the fewest items among those with at least k, else the most."""
    frontier, visited = [node], {node}
    while frontier:
        found: set[int] = set()
        further: list[int] = []
        for current in frontier:
            for index in touching.get(current, ()):
                parent, children = lattice.equations[index]
                for near in (parent, *children):
                    if near in visited:
                        continue
                    visited.add(near)
                    if near in hidden:
                        further.append(near)
                    else:
                        found.add(near)
        if found:
            return min(found, key=lambda n: _cost(n, lattice, items, k))
        frontier = further
    return None


def _cost(node: int, lattice: _Lattice, items: Sequence[int], k: int) -> tuple[int, int, int, int]:
    """Order of preference among complements (least first)."""
    size = items[node]
    is_total = int(len(lattice.members[node]) > 1 or lattice.names[node][0] != lattice.levels[0][0])
    return (is_total, int(size < k), size if size >= k else -size, node)


def _protect(
    structure: Structure,
    *,
    hidden: set[int],
    lattice: _Lattice,
    touching: dict[int, list[int]],
    items: Sequence[int],
    protection: Protection,
    exact: bool = False,
) -> Audit:
    """Complements until the audit proves every suppressed node protected; then the gate: a
    fresh audit of the result. Its failures (a MILP that did not settle may prove less from
    scratch) get complements in turn, until the gate passes."""
    nodes = {name: node for node, name in enumerate(structure.names)}
    seen = Seen()
    only: dict[int, set[int]] | None = None
    while True:
        result = audit(structure, hidden, protection, seen=seen, only=only)
        if result.ok:
            gate = audit(structure, hidden, protection, exact=exact)
            if gate.ok:
                return gate
            result = gate
        failed: dict[int, set[int]] = {}
        pinning: dict[int, set[int]] = {}
        for index, bound in enumerate(result.bounds):
            if bound.protected:
                continue
            node = nodes[bound.grouping, bound.key]
            failed.setdefault(structure.measures.index(bound.measure), set()).add(node)
            pinning.setdefault(node, set()).update(result.pinned.get(index, ()))
        added: set[int] = set()
        for node in sorted(pinning):
            # A published total whose equation bounds the node (an LP dual at its optima),
            # else the nearest published neighbour. (Preferring a published cell inside such a
            # total was tried: on sparse tables it cascaded until every cell was suppressed.)
            binding = pinning[node] - hidden - added
            pick = (
                min(binding, key=lambda n: _cost(n, lattice, items, protection.k))
                if binding
                else _complement(
                    node,
                    hidden=hidden | added,
                    lattice=lattice,
                    touching=touching,
                    items=items,
                    k=protection.k,
                )
            )
            if pick is not None:
                added.add(pick)
        if not added:
            raise Unprotectable(result.failures)
        hidden |= added
        # More suppression only widens intervals: what passed stays passed.
        only = {m: failed.get(m, set()) | added for m in range(len(structure.measures))}


def _sum(rows: Iterable[tuple[Number, ...]], width: int) -> tuple[Number, ...]:
    totals: list[Number] = [0] * width
    for values in rows:
        totals = [a + b for a, b in zip(totals, values, strict=True)]
    return tuple(totals)


def disclose(
    table: Table,
    k: int,
    *,
    protection: Protection | None = None,
    signed: bool = False,
    exact: bool = False,
    floor: Mapping[tuple[str, ...], tuple[Number, ...]] | None = None,
) -> Disclosed:
    """The table with small cells suppressed, and complements until the audit proves that no
    suppressed number can be narrowed below its protection (see the module docstring).

    `protection` defaults to `Protection(k)`; `signed`: the cells are changes that may be
    negative (late arrivals against a frozen week); `exact`: the gate's audit solves both
    optima of every suppressed number, so each Bound is the attacker's exact interval (slower;
    by default a Bound may be a sub-interval already proven wide enough); `floor` (signed
    tables): per cell, the least each measure can be, as a partner knows it (a late change is
    at least minus what was published of its cell: a count is never below 0; a cell absent
    from `floor` is free).

    Raises DisclosureError for a field or value off the allow-list, ValueError for a malformed
    table or k < 1, Unprotectable when the audit cannot pass. Deterministic: the same table
    gives the same result.
    """
    _check_table(table, k, signed=signed)
    protection = protection if protection is not None else Protection(k)
    if protection.k != k:
        raise ValueError(f"k {k} and the protection's k {protection.k} differ")
    keys = sorted(table.rows)
    lattice = _Lattice(table, keys)
    touching = lattice.touching()
    values = [table.rows[key] for key in keys]
    magnitudes = [abs(n) for n in lattice.items] if signed else lattice.items
    primary = frozenset(
        node
        for node, count in enumerate(magnitudes)
        if count < k and (count > 0 or (signed and _moved(values, lattice.members[node])))
    )
    structure = Structure(
        measures=table.measures,
        values=values,
        members=lattice.members,
        names=lattice.names,
        cell_node=[lattice.levels[0][1][key][0] for key in keys],
        primary=primary,
        signed=signed,
        floor=None
        if floor is None
        else [floor.get(key, (-_UNBOUNDED,) * len(table.measures)) for key in keys],
    )
    hidden = _suppress(primary, magnitudes, lattice, touching)
    checked = _protect(
        structure,
        hidden=hidden,
        lattice=lattice,
        touching=touching,
        items=magnitudes,
        protection=protection,
        exact=exact,
    )
    width = len(table.measures)

    def entry(value: tuple[str, ...], node: int, members: list[int]) -> Entry:
        if node in hidden:
            return Entry(value, None)
        return Entry(value, _sum((table.rows[keys[i]] for i in members), width))

    levels = [
        (grouping, tuple(entry(value, *nodes[value]) for value in sorted(nodes)))
        for grouping, nodes in lattice.levels
    ]
    return Disclosed(
        dimensions=table.dimensions,
        measures=table.measures,
        k=k,
        cells=levels[0][1],
        totals=tuple(levels[1:]),
        audit=checked,
    )


def _moved(values: Sequence[tuple[Number, ...]], members: Iterable[int]) -> bool:
    """Some measure of the cells' sum is non-zero."""
    rows = [values[i] for i in members]
    return any(n != 0 for n in _sum(rows, len(rows[0])))
