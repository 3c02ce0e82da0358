"""An independent attacker on a disclosed table: what can a partner work out from what it got?

It sees only a publication (a `Disclosed`, or a hand-made `Published`): the cells and totals,
a suppressed one with values None, the table's dimensions, measures and groupings; and the
public priors of the disclosure audit (issue 15 section 2):

- every published total = the sum of its cells (published cells are constants);
- unsigned tables: every listed cell has items >= 1, every other measure >= 0, counts integral;
- signed tables (late changes): every number free, counts integral.

Two tools, deliberately unlike the audit they check (no LP solver, nothing from
gateway.share.protection):

- `eliminate`: exact rational Gauss-Jordan elimination over every published equation of one
  measure. A suppressed node (cell or total) is DETERMINED when its sum of suppressed cells is a
  linear combination of the equations; its value then follows exactly. Priors play no part.
- `enumerate_counts`: exhaustive integer enumeration of one count measure over the suppressed
  cells, consistent with every published total and the priors, giving the exact least and
  greatest value of every suppressed node. Cells in exactly the same published totals are
  interchangeable (the totals see only their sum, and every split of a sum within the cells'
  bounds exists), so a depth-first search assigns each such group's sum in turn. Each published
  total keeps a residual; a group's candidate sums are those the residuals leave room for once
  every later group of those totals takes its least (or greatest) sum, and a total's last group
  is forced. Subproblems with the same residuals of the still-open totals are solved once
  (memoised): every assignment is covered without being listed one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from gateway.share.disclosure import Entry, Number, Table

Grouping = tuple[str, ...]
Key = tuple[str, ...]
Name = tuple[Grouping, Key]  # a number's grouping (the table's dimensions for a cell) and key
INFINITY = Decimal("Infinity")

__all__ = [
    "INFINITY",
    "Elimination",
    "Enumeration",
    "Name",
    "Node",
    "Publication",
    "Published",
    "Range",
    "determined",
    "eliminate",
    "enumerate_counts",
    "nodes",
    "publish",
]


class Publication(Protocol):
    """What a partner receives: a `Disclosed` is one (its audit is not looked at)."""

    @property
    def dimensions(self) -> tuple[str, ...]: ...
    @property
    def measures(self) -> tuple[str, ...]: ...
    @property
    def cells(self) -> tuple[Entry, ...]: ...
    @property
    def totals(self) -> tuple[tuple[Grouping, tuple[Entry, ...]], ...]: ...


@dataclass(frozen=True, slots=True)
class Published:
    """A publication made by hand (`publish`), to attack a suppression pattern of one's choosing."""

    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    cells: tuple[Entry, ...]
    totals: tuple[tuple[Grouping, tuple[Entry, ...]], ...]


def publish(table: Table, hidden: Iterable[Name]) -> Published:
    """`table` with its cells and true totals, exactly the `hidden` numbers withheld."""
    withheld = set(hidden)
    keys = sorted(table.rows)

    def entry(grouping: Grouping, key: Key, members: Sequence[Key]) -> Entry:
        if (grouping, key) in withheld:
            return Entry(key, None)
        sums: list[Number] = [0] * len(table.measures)
        for member in members:
            sums = [a + b for a, b in zip(sums, table.rows[member], strict=True)]
        return Entry(key, tuple(sums))

    totals = []
    for grouping in table.groupings():
        where = [table.dimensions.index(name) for name in grouping]
        groups: dict[Key, list[Key]] = {}
        for key in keys:
            groups.setdefault(tuple(key[i] for i in where), []).append(key)
        totals.append((grouping, tuple(entry(grouping, v, groups[v]) for v in sorted(groups))))
    cells = tuple(entry(table.dimensions, key, [key]) for key in keys)
    return Published(table.dimensions, table.measures, cells, tuple(totals))


@dataclass(frozen=True, slots=True)
class Node:
    """A published or suppressed number: its name, its cells (indices into `cells`), its values."""

    name: Name
    cells: tuple[int, ...]
    values: tuple[Number, ...] | None

    @property
    def suppressed(self) -> bool:
        return self.values is None


def nodes(d: Publication) -> list[Node]:
    """Every number of the publication: the cells, then each total of each grouping."""
    out = [Node((d.dimensions, e.key), (i,), e.values) for i, e in enumerate(d.cells)]
    for grouping, entries in d.totals:
        where = [d.dimensions.index(name) for name in grouping]
        members: dict[Key, list[int]] = {}
        for i, cell in enumerate(d.cells):
            members.setdefault(tuple(cell.key[w] for w in where), []).append(i)
        out.extend(
            Node((grouping, e.key), tuple(members.get(e.key, ())), e.values) for e in entries
        )
    return out


@dataclass(frozen=True, slots=True)
class _System:
    """One measure's published equations over the suppressed cells' values.

    `unknowns`: the suppressed cells (indices into `cells`), one variable each; `equations`:
    (the variables of a published total, its value less its published cells); `targets`: per
    suppressed node, (its name, its variables, the published part of its value).
    """

    unknowns: tuple[int, ...]
    equations: tuple[tuple[tuple[int, ...], Fraction], ...]
    targets: tuple[tuple[Name, tuple[int, ...], Fraction], ...]


def _system(d: Publication, measure: str) -> _System:
    m = d.measures.index(measure)
    every = nodes(d)
    unknowns = tuple(i for i, e in enumerate(d.cells) if e.values is None)
    variable = {cell: v for v, cell in enumerate(unknowns)}

    def split(node: Node) -> tuple[tuple[int, ...], Fraction]:
        inside = tuple(variable[c] for c in node.cells if c in variable)
        known = Fraction(0)
        for c in node.cells:
            values = d.cells[c].values
            if values is not None:
                known += Fraction(values[m])
        return inside, known

    equations: list[tuple[tuple[int, ...], Fraction]] = []
    targets: list[tuple[Name, tuple[int, ...], Fraction]] = []
    for node in every:
        inside, known = split(node)
        if node.values is None:
            targets.append((node.name, inside, known))
            continue
        residual = Fraction(node.values[m]) - known
        if inside:
            equations.append((inside, residual))
        elif residual != 0:
            raise ValueError(f"{node.name}: a published total is not the sum of its cells")
    return _System(unknowns, tuple(equations), tuple(targets))


# -- exact elimination ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Elimination:
    """What the published equations of one measure pin down, priors aside.

    `rank`: of the equations over the `unknowns` suppressed cells; `determined`: every suppressed
    node whose value they fix, with that value.
    """

    measure: str
    unknowns: int
    rank: int
    determined: Mapping[Name, Fraction]


def _reduced(
    n: int, equations: Sequence[tuple[tuple[int, ...], Fraction]]
) -> list[tuple[int, list[Fraction]]]:
    """Gauss-Jordan: the reduced row echelon form, as (pivot column, row with the rhs last)."""
    rows = []
    for inside, rhs in equations:
        row = [Fraction(0)] * (n + 1)
        for v in inside:
            row[v] += 1
        row[n] = rhs
        rows.append(row)
    pivots: list[tuple[int, list[Fraction]]] = []
    for column in range(n):
        chosen = next((r for r in rows if r[column] != 0), None)
        if chosen is None:
            continue
        rows.remove(chosen)
        lead = chosen[column]
        chosen = [x / lead for x in chosen]
        for other in (*rows, *(row for _, row in pivots)):
            factor = other[column]
            if factor != 0:
                for c in range(column, n + 1):
                    other[c] -= factor * chosen[c]
        pivots.append((column, chosen))
    for row in rows:  # left over: 0 = rhs, which true totals always satisfy
        if row[n] != 0:
            raise ValueError("the published totals contradict each other")
    return pivots


def eliminate(d: Publication, measure: str) -> Elimination:
    """Which suppressed nodes of `measure` the published equations determine, and their values."""
    system = _system(d, measure)
    n = len(system.unknowns)
    pivots = _reduced(n, system.equations)
    found: dict[Name, Fraction] = {}
    for name, inside, known in system.targets:
        target = [Fraction(0)] * (n + 1)
        for v in inside:
            target[v] += 1
        for column, row in pivots:  # subtract the rows that cover the target's pivot columns
            factor = target[column]
            if factor != 0:
                for c in range(n + 1):
                    target[c] -= factor * row[c]
        if all(x == 0 for x in target[:n]):
            found[name] = known - target[n]
    return Elimination(measure, n, len(pivots), found)


def determined(d: Publication) -> dict[tuple[Name, str], Fraction]:
    """Every (suppressed node, measure) the published equations determine, over all measures."""
    return {
        (name, measure): value
        for measure in d.measures
        for name, value in eliminate(d, measure).determined.items()
    }


# -- exhaustive enumeration of counts --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """The least and greatest value of a suppressed number over every consistent assignment."""

    low: Decimal
    high: Decimal

    @property
    def width(self) -> Decimal:
        return self.high - self.low


@dataclass(frozen=True, slots=True)
class Enumeration:
    """The exact range of every suppressed node of one count measure.

    `free`: the suppressed cells in no published total (unbounded above in an unsigned table).
    """

    measure: str
    ranges: Mapping[Name, Range]
    free: tuple[Name, ...]


@dataclass(frozen=True, slots=True)
class _Share:
    """What one target takes of a group of interchangeable cells whose sum is S: its cells'
    least and greatest sums (`low`, `high`; None: no limit), and the others' (`rest_*`)."""

    low: int
    high: int | None
    rest_low: int
    rest_high: int | None

    def least(self, whole: int) -> int:
        return self.low if self.rest_high is None else max(self.low, whole - self.rest_high)

    def greatest(self, whole: int) -> int:
        most = whole - self.rest_low
        return most if self.high is None else min(self.high, most)


_Result = tuple[tuple[int, ...], tuple[int, ...]]  # per target: (least, greatest) of the rest


class _Search:
    """Depth-first over groups of interchangeable variables, memoised on open residuals.

    Variables in exactly the same equations are interchangeable: the equations only see their
    sum, and every split of a sum S among them within their bounds is possible (integers in
    intervals add up to every integer of the summed interval). So the search assigns each group's
    sum, and a target takes from a group anything from `_Share.least(S)` to `.greatest(S)`.
    """

    def __init__(
        self,
        lows: Sequence[int],
        highs: Sequence[int | None],
        equations: Sequence[tuple[tuple[int, ...], int]],
        targets: Sequence[tuple[int, ...]],
    ) -> None:
        signature: dict[frozenset[int], list[int]] = {}
        for v in range(len(lows)):
            inside = frozenset(j for j, (vs, _) in enumerate(equations) if v in vs)
            signature.setdefault(inside, []).append(v)
        groups = list(signature.items())
        order = _order(
            len(groups),
            [{g for g, (sig, _) in enumerate(groups) if j in sig} for j in range(len(equations))],
        )
        groups = [groups[g] for g in order]
        self.n = len(groups)
        self.lows = [sum(lows[v] for v in members) for _, members in groups]
        self.highs = [_total([highs[v] for v in members]) for _, members in groups]
        self.rhs = tuple(rhs for _, rhs in equations)
        self.touching = [sorted(sig) for sig, _ in groups]
        last = {
            j: max((p for p, (sig, _) in enumerate(groups) if j in sig), default=-1)
            for j in range(len(equations))
        }
        self.open = [[j for j in range(len(equations)) if last[j] >= p] for p in range(self.n + 1)]
        # Per equation and position: the least and greatest sum of its groups after it.
        self.rest_low = [
            [
                sum(self.lows[q] for q in range(p + 1, self.n) if j in groups[q][0])
                for p in range(self.n)
            ]
            for j in range(len(equations))
        ]
        self.rest_high = [
            [
                _total([self.highs[q] for q in range(p + 1, self.n) if j in groups[q][0]])
                for p in range(self.n)
            ]
            for j in range(len(equations))
        ]
        self.shares = [
            [_share(members, set(target), lows, highs) for target in targets]
            for _, members in groups
        ]
        self.width = len(targets)
        self.memo: dict[tuple[int, tuple[int, ...]], _Result | None] = {}

    def run(self) -> _Result | None:
        return self._from(0, self.rhs)

    def _from(self, p: int, residual: tuple[int, ...]) -> _Result | None:
        if p == self.n:
            zero = (0,) * self.width
            return zero, zero
        key = (p, tuple(residual[j] for j in self.open[p]))
        if key in self.memo:
            return self.memo[key]
        low, high = self.lows[p], self.highs[p]
        for j in self.touching[p]:
            rest_high = self.rest_high[j][p]
            if rest_high is not None:
                low = max(low, residual[j] - rest_high)
            cap = residual[j] - self.rest_low[j][p]
            high = cap if high is None else min(high, cap)
        assert high is not None, "a group in no equation needs a bound"
        least: list[int] | None = None
        greatest: list[int] = []
        shares = self.shares[p]
        for whole in range(low, high + 1):
            after = list(residual)
            for j in self.touching[p]:
                after[j] -= whole
            below = self._from(p + 1, tuple(after))
            if below is None:
                continue
            lo, hi = below
            los = [s.least(whole) + x for s, x in zip(shares, lo, strict=True)]
            his = [s.greatest(whole) + x for s, x in zip(shares, hi, strict=True)]
            if least is None:
                least, greatest = los, his
            else:
                least = [min(a, b) for a, b in zip(least, los, strict=True)]
                greatest = [max(a, b) for a, b in zip(greatest, his, strict=True)]
        result = None if least is None else (tuple(least), tuple(greatest))
        self.memo[key] = result
        return result


def _share(
    members: Sequence[int], target: set[int], lows: Sequence[int], highs: Sequence[int | None]
) -> _Share:
    mine = [v for v in members if v in target]
    rest = [v for v in members if v not in target]
    return _Share(
        low=sum(lows[v] for v in mine),
        high=_total([highs[v] for v in mine]),
        rest_low=sum(lows[v] for v in rest),
        rest_high=_total([highs[v] for v in rest]),
    )


def _total(values: Sequence[int | None]) -> int | None:
    """The sum, None (no limit) when any is None."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _order(n: int, equations: Sequence[set[int]]) -> list[int]:
    """Groups in an order that closes equations early: next, a group of the equation with the
    fewest groups still to assign (ties by index)."""
    left = set(range(n))
    order: list[int] = []
    while left:

        def openness(g: int) -> tuple[int, int]:
            sizes = [len(eq & left) for eq in equations if g in eq]
            return (min(sizes, default=n + 1), g)

        chosen = min(left, key=openness)
        order.append(chosen)
        left.remove(chosen)
    return order


def _integer(value: Fraction, what: str) -> int:
    if value.denominator != 1:
        raise ValueError(f"{what}: {value} is not a count")
    return value.numerator


def enumerate_counts(
    d: Publication,
    measure: str,
    *,
    signed: bool = False,
    box: Mapping[Key, tuple[int, int]] | None = None,
) -> Enumeration:
    """The exact range of every suppressed node of the count `measure`.

    Unsigned: each suppressed cell counts at least 1 item (at least 0 of any other count); a cell
    in no published total is unbounded above (Range.high is INFINITY) and leaves the rest alone.
    An optional `box` (cell key -> (least, greatest)) narrows the cells it names.

    Signed: counts are free, so the search needs a finite `box` for every suppressed cell. The
    feasible set of a signed table is the true cells plus the integer points of the equations'
    null space (a lattice): a node that moves at all within a box centred on the truth moves
    without limit outside it, and one that moves in no box is determined (which `eliminate`
    decides). The box bounds the search, not the answer to "can it move"; the ranges are the
    least and greatest values within it.
    """
    if measure == "declaredValueUsd":
        raise ValueError("money is not a count")
    system = _system(d, measure)
    keys = [d.cells[c].key for c in system.unknowns]
    floor = 1 if measure == "items" else 0
    lows: list[int] = []
    highs: list[int | None] = []
    for key in keys:
        greatest: int | None
        if signed:
            if box is None or key not in box:
                raise ValueError(f"cell {key}: a signed table needs a search box for every cell")
            least, greatest = box[key]
        else:
            least, greatest = box[key] if box is not None and key in box else (floor, None)
            least = max(least, floor)
        lows.append(least)
        highs.append(greatest)
    in_equation = {v for inside, _ in system.equations for v in inside}
    free = [v for v in range(len(keys)) if v not in in_equation and highs[v] is None]
    bounded = [v for v in range(len(keys)) if v not in free]
    renumber = {v: i for i, v in enumerate(bounded)}
    equations = [
        (tuple(renumber[v] for v in inside), _integer(rhs, f"{measure} total"))
        for inside, rhs in system.equations
    ]
    targets = [
        tuple(renumber[v] for v in inside if v in renumber) for _, inside, _ in system.targets
    ]
    search = _Search([lows[v] for v in bounded], [highs[v] for v in bounded], equations, targets)
    result = search.run()
    if result is None:
        raise ValueError(f"no assignment of {measure} is consistent with the publication")
    least_of, greatest_of = result
    ranges: dict[Name, Range] = {}
    for t, (name, inside, known) in enumerate(system.targets):
        base = _integer(known, str(name))
        unbounded = [v for v in inside if v in free]
        low = base + least_of[t] + sum(lows[v] for v in unbounded)
        high = INFINITY if unbounded else Decimal(base + greatest_of[t])
        ranges[name] = Range(Decimal(low), high)
    return Enumeration(measure, ranges, tuple((d.dimensions, keys[v]) for v in free))
