"""The disclosure audit: what a partner can compute about each suppressed number of a table.

This is the attacker's own model, the standard audit of tabular statistical disclosure control
(tau-ARGUS, R sdcTable). For one measure of a table after suppression:

- the unknowns are the suppressed cells' values (a suppressed total is the sum of its cells);
- every published total is an equation: the sum of its suppressed cells equals the total minus
  its published cells;
- priors: in an unsigned table every value is non-negative and, when every listed cell has items
  (the report lists no empty cell), a cell's items are at least 1; in a signed table (changes,
  late arrivals) every value is free, or at least its `floor` (minus what was published of the
  cell before: no count or value goes below 0); counts are integers.

For every suppressed node (cell or total) the minimum and maximum of its value over that
feasible set form its interval, which must be at least `required_width` wide: k for `items`,
`value_percent` % of the true value for money, min(k, |true|) for the other counts. Each measure
is its own programme, as in tau-ARGUS and sdcTable (one response variable per table).

The programmes are solved with HiGHS (`highspy`): one model per measure, its objective changed
per bound, each solve warm-started from the last basis. Every optimum found is a feasible point
(integral ones for counts), and every feasible point widens the *seen* interval of every node:
a node whose seen interval is already wide enough needs no programme of its own, so most nodes
are proven by the points others' programmes found. Where an LP optimum of a count is fractional,
the bound comes from the integer programme (MILP). A node's `Bound` is exact (`exact=True`) when
both its optima were solved for; otherwise [low, high] is the interval of feasible points seen,
inside the exact one, and wide enough.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import highspy
import numpy as np
import numpy.typing as npt

__all__ = [
    "MONEY",
    "Audit",
    "Bound",
    "Protection",
    "Structure",
    "audit",
    "required_width",
]

Number = int | Decimal
MONEY = frozenset({"declaredValueUsd"})
INFINITY = Decimal("Infinity")
_CENT = Decimal("0.01")
_INTEGRAL = 1e-6  # a count solution within this of an integer is that integer
_RANDOM_DIRECTIONS = 8  # at most this many seeded random objectives first (`spread`)
_SPREAD_GAIN = 0.9  # ... while each leaves at most this share of the targets still open
_DENOMINATOR = 64  # fractional vertices of these tables have small denominators
_NO_LIMIT = 2**31 - 1  # HiGHS's default mip_max_improving_sols
# A MILP that has not settled within this many branch-and-bound nodes counts as "no point found"
# (so the number stays unproven and gets more suppression): deterministic, unlike a time limit.
_MIP_NODES = 200
_FEASIBLE = 2  # HiGHS's primal_solution_status of a feasible point

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int32]
Ray = tuple[Indices, Floats]  # (suppressed cells' positions, a primitive integral step)


@dataclass(frozen=True, slots=True)
class Protection:
    """How wide a suppressed number's feasible interval must be, per partner agreement.

    `k`: cells and totals with 0 < items < k are suppressed (primary), and every suppressed
    node's items must be uncertain by at least k; `value_percent`: its money by at least this
    share of its true value; its other counts by at least min(k, |true|).
    """

    k: int = 10
    value_percent: Decimal = Decimal(20)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if not Decimal(0) < self.value_percent <= Decimal(100):
            raise ValueError(f"value_percent must be within 0 < p <= 100, not {self.value_percent}")


def required_width(
    measure: str, true: Number, protection: Protection, *, primary: bool = True
) -> Decimal:
    """How wide the feasible interval of a suppressed number of `measure` must be.

    A primary (small, sensitive) node: k for items; `value_percent` % of |true| for money (at
    least a cent); min(k, |true|) for the other counts. A complement, which is suppressed only
    to protect others, must not be pinned down: 1 for items, a cent for a non-zero value,
    min(1, |true|) for the other counts. A zero value or count needs nothing.
    """
    size = abs(Decimal(true))
    if measure == "items":
        return Decimal(protection.k) if primary else Decimal(1)
    if measure in MONEY:
        if size == 0:
            return Decimal(0)
        if not primary:
            return _CENT
        return max((size * protection.value_percent / 100).quantize(_CENT), _CENT)
    return min(Decimal(protection.k) if primary else Decimal(1), size)


@dataclass(frozen=True, slots=True)
class Bound:
    """What a partner can tell of one suppressed number: it lies within [low, high]."""

    grouping: tuple[str, ...]  # the table's dimensions for a cell
    key: tuple[str, ...]
    measure: str
    true: Number
    low: Decimal
    high: Decimal
    required: Decimal
    primary: bool  # suppressed for being small (else a complement)
    exact: bool  # low and high are the optima; else a feasible sub-interval, wide enough

    @property
    def width(self) -> Decimal:
        return self.high - self.low

    @property
    def protected(self) -> bool:
        return self.width >= self.required

    def __str__(self) -> str:
        where = ", ".join(f"{d}={v}" for d, v in zip(self.grouping, self.key, strict=True))
        return (
            f"{{{where or 'grand total'}}} {self.measure}: within [{self.low}, {self.high}], "
            f"{'protected' if self.protected else 'NOT protected'} (needs a width of "
            f"{self.required})"
        )


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit of one table as published: a Bound per suppressed node and measure."""

    bounds: tuple[Bound, ...] = ()
    programmes: int = 0  # linear and integer programmes solved
    # Per unprotected bound's index in `bounds`: the published nodes whose equations bound it
    # (a dual at its LP optima): where a complement relaxes it.
    pinned: Mapping[int, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return all(b.protected for b in self.bounds)

    @property
    def failures(self) -> tuple[Bound, ...]:
        return tuple(b for b in self.bounds if not b.protected)

    @property
    def narrowest(self) -> Bound | None:
        """The bound with the least width for its requirement (None when nothing is hidden)."""
        scored = [b for b in self.bounds if b.required > 0]
        if not scored:
            return None
        return min(scored, key=lambda b: b.width / b.required)

    @property
    def nodes(self) -> int:
        """Suppressed nodes (cells and totals) audited."""
        return len({(b.grouping, b.key) for b in self.bounds})


@dataclass(frozen=True, slots=True)
class Structure:
    """A table's cells and the nodes (distinct sets of cells) it publishes, for auditing.

    `values[i][m]`: cell i's true value of measure m; `members[n]`: node n's cells (a cell's own
    node holds just it); `names[n]`: (grouping, key) naming node n.
    """

    measures: tuple[str, ...]
    values: Sequence[tuple[Number, ...]]
    members: Sequence[Sequence[int]]
    names: Sequence[tuple[tuple[str, ...], tuple[str, ...]]]
    cell_node: Sequence[int]
    primary: frozenset[int] = frozenset()  # the nodes suppressed for being small
    signed: bool = False
    # Signed tables: per cell, the least each measure can be (a change of a count or value
    # that cannot go below 0 is at least minus what was published of it); None: free.
    floor: Sequence[tuple[Number, ...]] | None = None
    _floats: Floats = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        floats = np.array([[float(v) for v in row] for row in self.values], dtype=np.float64)
        object.__setattr__(self, "_floats", floats.reshape(len(self.values), len(self.measures)))

    def true(self, node: int, m: int) -> Number:
        total: Number = 0
        for i in self.members[node]:
            total += self.values[i][m]
        return total

    def column(self, m: int) -> Floats:
        return self._floats[:, m]


_UNSETTLED = frozenset(
    {highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kIterationLimit}
)

# -- HiGHS ------------------------------------------------------------------------------------

_BANNER = threading.Lock()
_quiet = False


def _highs() -> highspy.Highs:
    """A silent HiGHS instance. The first one in a process prints HiGHS's banner on file
    descriptor 1 whatever its options, so that one is made with fd 1 pointed at /dev/null."""
    global _quiet  # noqa: PLW0603 - once per process
    with _BANNER:
        if not _quiet:
            saved = os.dup(1)
            try:
                with Path(os.devnull).open("wb") as null:
                    os.dup2(null.fileno(), 1)
                    highs = highspy.Highs()  # type: ignore[no-untyped-call]
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _quiet = True
        else:
            highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.silent()
    highs.setOptionValue("threads", 1)
    return highs


class _Programme:
    """One measure's feasible set over the suppressed cells, as a HiGHS model."""

    def __init__(
        self, rows: Sequence[Indices], rhs: Floats, lower: Floats, upper: Floats, *, integral: bool
    ) -> None:
        self.size = len(lower)
        self.integral = integral
        self._rows, self._rhs, self._lower, self._upper = rows, rhs, lower, upper
        self._lp = self._model(integer=False)
        self._mip: highspy.Highs | None = None
        self.binding: Indices = np.zeros(0, dtype=np.int32)  # rows with a dual at the last LP
        self._all = np.arange(self.size, dtype=np.int32)
        self.solved = 0

    def _model(self, *, integer: bool) -> highspy.Highs:
        highs = _highs()
        highs.addVars(self.size, self._lower, self._upper)
        if self._rows:
            starts = np.cumsum([0, *(len(r) for r in self._rows[:-1])], dtype=np.int32)
            index = np.concatenate(self._rows).astype(np.int32)
            highs.addRows(
                len(self._rows),
                self._rhs,
                self._rhs,
                len(index),
                starts,
                index,
                np.ones(len(index), dtype=np.float64),
            )
        if integer:
            highs.setOptionValue("mip_max_nodes", _MIP_NODES)
            highs.changeColsIntegrality(
                self.size, np.arange(self.size, dtype=np.int32), np.ones(self.size, dtype=np.uint8)
            )
        return highs

    def integer_point(self, cost: Floats, *, at_least: float, at_most: float) -> Floats | None:
        """Some integral feasible x with at_least <= cost . x <= at_most (the first the MILP
        finds: a feasibility question, much cheaper than an optimum), or None if there is none."""
        highs = self._integer_model()
        index = np.flatnonzero(cost).astype(np.int32)
        highs.addRow(at_least, at_most, len(index), index, cost[index])
        row = highs.getNumRow() - 1
        highs.changeColsCost(self.size, self._all, np.zeros(self.size))
        highs.setOptionValue("mip_max_improving_sols", 1)
        try:
            highs.run()
            status = highs.getModelStatus()
            found = highs.getInfo().primal_solution_status == _FEASIBLE
            x = np.asarray(highs.getSolution().col_value, dtype=np.float64) if found else None
        finally:
            highs.setOptionValue("mip_max_improving_sols", _NO_LIMIT)
            highs.deleteRows(1, np.array([row], dtype=np.int32))
        self.solved += 1
        if x is None and status not in _UNSETTLED | {highspy.HighsModelStatus.kInfeasible}:
            ended = highs.modelStatusToString(status)
            raise RuntimeError(f"the disclosure audit's solver ended: {ended}")
        return x

    def _integer_model(self) -> highspy.Highs:
        if self._mip is None:
            self._mip = self._model(integer=True)
        return self._mip

    def optimum(
        self, cost: Floats, *, maximise: bool, integer: bool = False
    ) -> tuple[float, Floats | None]:
        """(objective, solution) of cost . x; (+-inf, None) when unbounded."""
        highs = self._integer_model() if integer else self._lp
        highs.changeColsCost(self.size, self._all, cost)
        sense = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
        highs.changeObjectiveSense(sense)
        highs.run()
        self.solved += 1
        status = highs.getModelStatus()
        states = highspy.HighsModelStatus
        if status in (states.kUnbounded, states.kUnboundedOrInfeasible):
            return (math.inf if maximise else -math.inf), None
        if integer and status in _UNSETTLED:
            return math.nan, None
        if status != states.kOptimal:
            ended = highs.modelStatusToString(status)
            raise RuntimeError(f"the disclosure audit's solver ended: {ended}")
        answer = highs.getSolution()
        solution = np.asarray(answer.col_value, dtype=np.float64)
        if not integer:
            duals = np.asarray(answer.row_dual, dtype=np.float64)
            self.binding = np.flatnonzero(np.abs(duals) > _INTEGRAL).astype(np.int32)
        return float(highs.getInfo().objective_function_value), solution


# -- the audit --------------------------------------------------------------------------------


@dataclass(slots=True)
class Seen:
    """Per measure and node: the least and greatest value seen at feasible points."""

    low: dict[int, Floats] = field(default_factory=dict)
    high: dict[int, Floats] = field(default_factory=dict)

    def of(self, m: int, nodes: int) -> tuple[Floats, Floats]:
        if m not in self.low:
            self.low[m] = np.full(nodes, math.inf)
            self.high[m] = np.full(nodes, -math.inf)
        return self.low[m], self.high[m]


def _integral(x: Floats) -> bool:
    return bool(np.all(np.abs(x - np.round(x)) <= _INTEGRAL))


def _decimal(value: float, *, money: bool) -> Decimal:
    if math.isinf(value):
        return INFINITY if value > 0 else -INFINITY
    if money:
        return Decimal(repr(value)).quantize(_CENT)
    return Decimal(round(value))


class _MeasureAudit:
    """The audit of one measure: the programme, the targets and their seen intervals."""

    def __init__(
        self,
        structure: Structure,
        hidden: Set[int],
        *,
        m: int,
        protection: Protection,
        seen: Seen,
        rays: list[Ray],
    ) -> None:
        self.s, self.m, self.rays = structure, m, rays
        self.low, self.high = seen.of(m, len(structure.members))
        self.measure = structure.measures[m]
        self.money = self.measure in MONEY
        self.protection = protection
        cells = [i for i, node in enumerate(structure.cell_node) if node in hidden]
        self.cells = cells
        position = {cell: p for p, cell in enumerate(cells)}
        self.truth = structure.column(m)[cells] if cells else np.zeros(0)
        # Equations: each published node with suppressed cells (identical ones once).
        rows: dict[tuple[int, ...], list[int]] = {}  # a row's cells -> the nodes it stands for
        for node, members in enumerate(structure.members):
            if node in hidden:
                continue
            inside = tuple(sorted(position[i] for i in members if i in position))
            if inside:
                rows.setdefault(inside, []).append(node)
        self.row_nodes = list(rows.values())
        self.binding: dict[int, set[int]] = {}  # target -> published nodes pinning it
        row_index = [np.array(r, dtype=np.int32) for r in rows]
        rhs = np.array([float(self.truth[r].sum()) for r in row_index], dtype=np.float64)
        lower, upper = self._priors(cells)
        self.lower = lower
        self.programme = _Programme(row_index, rhs, lower, upper, integral=not self.money)
        # Targets: every suppressed node, as its suppressed cells plus a published constant.
        self.targets = sorted(hidden)
        self.inside: list[Indices] = []
        self.offset: list[float] = []
        for node in self.targets:
            members = structure.members[node]
            self.inside.append(np.array([position[i] for i in members if i in position], np.int32))
            self.offset.append(
                float(sum(structure.column(m)[i] for i in members if i not in position))
            )
        self._flat = np.concatenate(self.inside) if self.inside else np.zeros(0, np.int32)
        sizes = [len(x) for x in self.inside]
        self._starts = np.cumsum([0, *sizes[:-1]], dtype=np.int64)[: len(sizes)]
        self._sizes = np.array(sizes, dtype=np.int64)
        self._nodes = np.array(self.targets, dtype=np.int64)
        self._offsets = np.array(self.offset, dtype=np.float64)
        self.witness(self.truth)
        for ray in rays:
            self.follow(ray)

    def _priors(self, cells: Sequence[int]) -> tuple[Floats, Floats]:
        n = len(cells)
        if self.s.signed:
            if self.s.floor is None:
                return np.full(n, -highspy.kHighsInf), np.full(n, highspy.kHighsInf)
            least = [float(self.s.floor[i][self.m]) for i in cells]
            return np.array(least, dtype=np.float64), np.full(n, highspy.kHighsInf)
        every_cell_has_items = all(row[0] >= 1 for row in self.s.values)
        floor = 1.0 if self.measure == "items" and every_cell_has_items else 0.0
        return np.full(n, floor), np.full(n, highspy.kHighsInf)

    def _sums(self, x: Floats) -> Floats:
        """Each target's sum over its suppressed cells at x (0 for a target with none)."""
        if len(self.targets) == 0:
            return np.zeros(0)
        values = np.append(x[self._flat], 0.0)  # so that every start indexes into it
        sums = np.add.reduceat(values, self._starts)
        return np.where(self._sizes > 0, sums, 0.0)

    def witness(self, x: Floats) -> None:
        """Widen every target's seen interval by the feasible point x (integral for counts);
        for a point of the LP, also keep its direction from the truth as a ray."""
        if len(self.targets) == 0:
            return
        if self.money or _integral(x):
            self._widen(self._sums(x))
        ray = _ray(x - self.truth)
        if ray is not None:
            self.rays.append(ray)
            self.follow(ray)

    def follow(self, ray: Ray) -> None:
        """Widen every target's interval by the farthest integral points truth + j * step both
        ways that the priors allow (every published equation holds along a ray: A step = 0).

        A ray from one measure's programme serves every measure of the table: they share the
        suppressed cells and the equations, only the truth and so the reach differ."""
        if len(self.targets) == 0:
            return
        index, step = ray
        here = self.truth[index] - self.lower[index]
        with np.errstate(divide="ignore", invalid="ignore"):
            limits = np.floor(here / np.abs(step))
        down, up = step < 0, step > 0
        most = float(limits[down].min()) if down.any() else math.inf  # j <= most
        least = -float(limits[up].min()) if up.any() else -math.inf  # j >= least
        delta = np.zeros(self.programme.size)
        delta[index] = step
        change = self._sums(delta)
        base = self._sums(self.truth)
        for j in (most, least):
            if j == 0:
                continue
            if math.isinf(j):
                with np.errstate(invalid="ignore"):
                    moved = np.where(change == 0, base, np.sign(change) * j)
            else:
                moved = base + j * change
            self._widen(moved)

    def _widen(self, sums: Floats) -> None:
        values = sums + self._offsets
        nodes = self._nodes
        self.low[nodes] = np.minimum(self.low[nodes], values)
        self.high[nodes] = np.maximum(self.high[nodes], values)

    def spread(self, seed: int, wanted: Set[int] | None) -> None:
        """Solve seeded random objectives over the targets not yet wide enough (each pushed up
        or down at random): one optimum widens many intervals at once. Stops when a round
        leaves nearly as many open as before."""
        if self.programme.size == 0 or len(self.targets) == 0:
            return
        rng = np.random.default_rng(seed)
        needed = self._needed()
        mask = np.array([wanted is None or n in wanted for n in self.targets])
        before = len(self.targets) + 1
        for turn in range(_RANDOM_DIRECTIONS):
            width = self.high[self._nodes] - self.low[self._nodes]
            still = mask & (width < needed)
            count = int(still.sum())
            if count == 0 or count > before * _SPREAD_GAIN:
                return
            before = count
            signs = rng.choice(np.array([-1.0, 1.0]), size=len(self.targets)) * still
            cost = np.zeros(self.programme.size)
            np.add.at(cost, self._flat, np.repeat(signs, self._sizes))
            value, x = self.programme.optimum(cost, maximise=bool(turn % 2))
            if x is not None and not math.isinf(value):
                self.witness(x)

    def _needed(self) -> Floats:
        """Each target's required width, as floats (for choosing what to push)."""
        trues = self._sums(self.truth) + self._offsets
        out = np.empty(len(self.targets))
        for t, (node, true) in enumerate(zip(self.targets, trues.tolist(), strict=True)):
            primary = node in self.s.primary
            out[t] = float(
                required_width(self.measure, Decimal(repr(true)), self.protection, primary=primary)
            )
        return out

    def wide_enough(self, t: int, required: Decimal) -> bool:
        key = self.targets[t]
        width = float(self.high[key] - self.low[key])
        return math.isinf(width) or Decimal(repr(width)) >= required

    def bound(self, t: int, *, only_if_needed: bool) -> Bound:
        node = self.targets[t]
        true = self.s.true(node, self.m)
        primary = node in self.s.primary
        required = required_width(self.measure, true, self.protection, primary=primary)
        key = node
        if only_if_needed:
            exact = False
            for maximise in (True, False):
                if required == 0 or self.wide_enough(t, required):
                    break
                self._extend(t, maximise=maximise)
        else:
            exact = True
            for maximise in (True, False):
                self._optimise(t, maximise=maximise)
        grouping, name = self.s.names[node]
        return Bound(
            grouping=grouping,
            key=name,
            measure=self.measure,
            true=true,
            low=_decimal(float(self.low[key]), money=self.money),
            high=_decimal(float(self.high[key]), money=self.money),
            required=required,
            primary=primary,
            exact=exact,
        )

    def _cost(self, t: int) -> Floats:
        cost = np.zeros(self.programme.size)
        cost[self.inside[t]] = 1.0
        return cost

    def _extend(self, t: int, *, maximise: bool) -> None:
        """Look for a feasible point that makes target t's seen interval `required` wide, on
        one side: the LP optimum; for a count whose optimum is fractional, an integral point
        reaching far enough (a MILP feasibility question), else the integer optimum."""
        if len(self.inside[t]) == 0:
            return
        key = self.targets[t]
        cost = self._cost(t)
        value, x = self.programme.optimum(cost, maximise=maximise)
        if x is None:
            (self.high if maximise else self.low)[key] = value
            return
        pinning = self.binding.setdefault(t, set())
        for row in self.programme.binding:
            pinning.update(self.row_nodes[row])
        if self.money or _integral(x):
            self.witness(x)
            return
        # A fractional optimum of a count: its ray gives the integral points it can. A count
        # counts as protected only on integral points found, never on the LP alone.
        self.witness(x)

    def _optimise(self, t: int, *, maximise: bool) -> None:
        """Solve for target t's optimum; its value becomes a seen bound (ints: MILP if need be)."""
        key = self.targets[t]
        if len(self.inside[t]) == 0:
            return  # every cell published: the true value is the only one
        cost = self._cost(t)
        value, x = self.programme.optimum(cost, maximise=maximise)
        if x is not None and not self.money and not _integral(x):
            value, x = self.programme.optimum(cost, maximise=maximise, integer=True)
            if math.isnan(value):
                raise RuntimeError("the integer programme of an exact bound did not settle")
        if x is None:
            side = self.high if maximise else self.low
            side[key] = value
            return
        self.witness(x)


_DENOMINATORS = np.arange(1, _DENOMINATOR + 1, dtype=np.float64)


def _ray(delta: Floats) -> Ray | None:
    """The primitive integral step along delta (each entry read back from its float as a
    fraction of denominator at most _DENOMINATOR), as (indices, steps); None when delta is not
    such a rational direction."""
    index = np.flatnonzero(np.abs(delta) > _INTEGRAL).astype(np.int32)
    if len(index) == 0:
        return None
    moved = delta[index]
    scaled = moved[:, None] * _DENOMINATORS[None, :]
    near = np.abs(scaled - np.round(scaled)) <= _INTEGRAL
    if not near.any(axis=1).all():
        return None
    denominators = (near.argmax(axis=1) + 1).tolist()
    q = math.lcm(*denominators)
    numerators = [round(v * q) for v in moved.tolist()]
    g = math.gcd(*numerators)
    step = np.array([n // g for n in numerators], dtype=np.float64)
    if np.max(np.abs(moved - g / q * step)) > _INTEGRAL:
        return None
    return index, step


def audit(
    structure: Structure,
    hidden: Set[int],
    protection: Protection,
    *,
    seen: Seen | None = None,
    only: Mapping[int, Iterable[int]] | None = None,
    exact: bool = False,
) -> Audit:
    """The bounds of every suppressed node (or, with `only`, of the given nodes per measure).

    `seen` carries feasible points' values from an earlier audit of a table with fewer
    suppressed cells (each is feasible here too: a relaxation); `exact` solves both optima of
    every node instead of stopping once a node is proven wide enough.
    """
    seen = seen if seen is not None else Seen()
    bounds: list[Bound] = []
    solved = 0
    rays: list[Ray] = []  # integral directions along which every equation holds
    pinned: dict[int, frozenset[int]] = {}
    for m in range(len(structure.measures)):
        wanted = set(only.get(m, ())) if only is not None else None
        if wanted is not None and not wanted:
            continue
        measure = _MeasureAudit(structure, hidden, m=m, protection=protection, seen=seen, rays=rays)
        if not exact:
            measure.spread(seed=m, wanted=wanted)
        for t, node in enumerate(measure.targets):
            if wanted is None or node in wanted:
                bound = measure.bound(t, only_if_needed=not exact)
                if not bound.protected:
                    pinned[len(bounds)] = frozenset(measure.binding.get(t, ()))
                bounds.append(bound)
        solved += measure.programme.solved
    return Audit(tuple(bounds), solved, pinned)
