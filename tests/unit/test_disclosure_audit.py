"""The disclosure audit (issue 15), checked by an independent attacker (tests/attack.py).

Issue 15: totals on different dimensions that overlap without nesting gave suppressed cells
away. Category GIFT published 30 and value band 100-150 published 27, every cell of that band
being GIFT: GIFT - band 100-150 = the one hidden GIFT cell outside the band, 3 items (and its USD
value the same way); another week leaked a complementary cell of 12 likewise. No single
equation showed it, so suppression that only checked single equations could not see it.

What `disclose` must now guarantee, whatever suppression it chooses: a partner who solves every
published equation at once learns no suppressed number exactly (Gauss-Jordan elimination), and
can narrow none below its protection (exhaustive enumeration of the counts); the audit it
returns says exactly that: its bounds are the enumeration's least and greatest values.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.share.disclosure import (
    Bound,
    Disclosed,
    Number,
    Protection,
    Table,
    disclose,
    required_width,
)
from gateway.share.report import CELL_DIMENSIONS, CELL_TOTALS
from tests.attack import (
    INFINITY,
    Name,
    Publication,
    Range,
    determined,
    eliminate,
    enumerate_counts,
    nodes,
    publish,
)

Key = tuple[str, ...]
MONEY = "declaredValueUsd"
SMALL = ("originCountry", "category", "valueBand")
SMALL_TOTALS: tuple[tuple[str, ...], ...] = ((), ("category",), ("valueBand",))

# -- builders -----------------------------------------------------------------------------------


def table(
    rows: Mapping[str, tuple[int, str]],
    dims: tuple[str, ...] = SMALL,
    totals: tuple[tuple[str, ...], ...] | None = SMALL_TOTALS,
) -> Table:
    """Cells written "CN/GIFT/40-100": (items, "USD value")."""
    return Table(
        dims,
        ("items", MONEY),
        {tuple(key.split("/")): (n, Decimal(usd)) for key, (n, usd) in rows.items()},
        totals,
    )


def report_table(rows: Mapping[str, tuple[int, str]], week: str = "2025-W10") -> Table:
    """A week's cell table as the share report builds it (gateway.share.report)."""
    return table(
        {f"{week}/{key}": value for key, value in rows.items()}, CELL_DIMENSIONS, CELL_TOTALS
    )


def cell(*key: str) -> Name:
    return (SMALL, key)


def members(d: Publication) -> dict[Name, frozenset[Key]]:
    """Each number's cells, by name (a total made of one cell is that cell's number)."""
    return {node.name: frozenset(d.cells[i].key for i in node.cells) for node in nodes(d)}


def true_value(t: Table, cells: frozenset[Key], measure: str) -> Number:
    m = t.measures.index(measure)
    total: Number = 0
    for key in cells:
        total += t.rows[key][m]
    return total


def bound(d: Disclosed, name: Name, measure: str) -> Bound:
    """The audit's one bound on the suppressed number `name` (matched by its cells)."""
    of = members(d)
    found = [
        b for b in d.audit.bounds if b.measure == measure and of[(b.grouping, b.key)] == of[name]
    ]
    assert len(found) == 1, f"{name} {measure}: {found}"
    return found[0]


def span(number: Range | Bound) -> tuple[Decimal, Decimal]:
    """The attacker's range or the audit's bound, as (low, high)."""
    return number.low, number.high


def interval(low: Number, high: Number) -> tuple[Decimal, Decimal]:
    return Decimal(low), Decimal(high)


def counts(d: Publication) -> list[str]:
    return [m for m in d.measures if m != MONEY]


# -- the attacker's verdict on a disclosed table ---------------------------------------------


def assert_attacker_learns_nothing(t: Table, d: Disclosed, k: int, *, signed: bool = False) -> None:
    """No suppressed number determined; the audit's bounds are the attacker's and wide enough.

    Unsigned: the enumeration's exact range of every suppressed count holds the audit's bound
    (the two are equal where the audit says its bound is exact) and is wide enough. Signed:
    every number is free, so a suppressed number that elimination does not determine takes
    every integer value (the truth plus any multiple of an integral null-space vector of the
    equations): an exact bound is (-Infinity, Infinity).
    """
    leaks = determined(d)
    assert not leaks, f"the attacker recovers {leaks}"
    assert d.audit.ok, [str(b) for b in d.audit.failures]
    protection = Protection(k)
    of = members(d)
    hidden = {(of[n.name], m) for n in nodes(d) if n.suppressed for m in d.measures}
    assert {(of[(b.grouping, b.key)], b.measure) for b in d.audit.bounds} == hidden
    for b in d.audit.bounds:
        true = true_value(t, of[(b.grouping, b.key)], b.measure)
        assert b.true == true, b
        small = abs(int(true_value(t, of[(b.grouping, b.key)], "items"))) < k
        moved = any(true_value(t, of[(b.grouping, b.key)], m) != 0 for m in d.measures)
        assert b.primary == (small and moved), b
        assert b.required == required_width(b.measure, true, protection, primary=b.primary), b
        assert b.low <= true <= b.high, b
        if signed:
            if b.exact:
                assert span(b) == (-INFINITY, INFINITY), b
        elif b.measure == MONEY:
            assert b.low >= 0, b
    if signed:
        return
    for measure in counts(d):
        for name, exact in enumerate_counts(d, measure).ranges.items():
            b = bound(d, name, measure)
            assert exact.low <= b.low, f"{b} but the attacker: {exact}"
            assert b.high <= exact.high, f"{b} but the attacker: {exact}"
            if b.exact:
                assert span(b) == span(exact), f"{b} but the attacker: {exact}"
            assert exact.width >= b.required, b


# -- issue 15: the leaks, as they were published and as they are now -------------------------

# Week 10: GIFT 30 = the hidden CN/GIFT/40-100 (3) + band 100-150 (27, all GIFT).
WEEK_10 = {
    "CN/GIFT/40-100": (3, "210.00"),
    "CN/GIFT/100-150": (15, "1800.00"),
    "VN/GIFT/100-150": (12, "1500.00"),
    "CN/SALE_OF_GOODS/40-100": (40, "2600.00"),
    "VN/SALE_OF_GOODS/40-100": (22, "1430.00"),
    "CN/SALE_OF_GOODS/0-20": (50, "500.00"),
}
# Week 11: the small cell is CN/SALE_OF_GOODS/40-100 (5); its complement in band 40-100, the
# GIFT cell of 12, is GIFT 47 - band 100-150 35.
WEEK_11 = {
    "CN/GIFT/40-100": (12, "780.00"),
    "CN/GIFT/100-150": (15, "1800.00"),
    "VN/GIFT/100-150": (20, "2500.00"),
    "CN/SALE_OF_GOODS/40-100": (5, "300.00"),
    "VN/SALE_OF_GOODS/40-100": (30, "1900.00"),
    "CN/SALE_OF_GOODS/0-20": (45, "450.00"),
    "VN/SALE_OF_GOODS/0-20": (38, "400.00"),
}
# What single-equation suppression withheld in each (every published total passed its check).
WEEK_10_WITHHELD = [
    cell("CN", "GIFT", "40-100"),
    cell("CN", "GIFT", "100-150"),
    cell("VN", "GIFT", "100-150"),
    cell("CN", "SALE_OF_GOODS", "40-100"),
    cell("VN", "SALE_OF_GOODS", "40-100"),
]
WEEK_11_WITHHELD = WEEK_10_WITHHELD


def test_the_attacker_recovers_the_week_10_cell_as_it_was_published() -> None:
    """The attacker works: from the old publication it gets the 3 items and 210.00 USD back."""
    published = publish(table(WEEK_10), WEEK_10_WITHHELD)
    leaked = cell("CN", "GIFT", "40-100")
    assert eliminate(published, "items").determined == {leaked: 3}
    assert eliminate(published, MONEY).determined == {leaked: Decimal("210.00")}
    exact = enumerate_counts(published, "items").ranges
    assert span(exact[leaked]) == interval(3, 3)
    other = exact[cell("VN", "GIFT", "100-150")]  # the other GIFT cells are not given away
    assert span(other) == interval(1, 26)


def test_the_attacker_recovers_the_week_11_complement_as_it_was_published() -> None:
    """From the old week 11 it gets the complementary GIFT cell back: 12 items, 780.00 USD."""
    published = publish(table(WEEK_11), WEEK_11_WITHHELD)
    leaked = cell("CN", "GIFT", "40-100")
    assert eliminate(published, "items").determined == {leaked: 12}
    assert eliminate(published, MONEY).determined == {leaked: Decimal("780.00")}
    assert enumerate_counts(published, "items").ranges[leaked].width == 0


@pytest.mark.parametrize(
    ("rows", "hidden"),
    [
        pytest.param(WEEK_10, cell("CN", "GIFT", "40-100"), id="week-10-small-cell"),
        pytest.param(WEEK_11, cell("CN", "SALE_OF_GOODS", "40-100"), id="week-11-complement"),
    ],
)
def test_overlapping_totals_no_longer_give_a_suppressed_cell_away(
    rows: Mapping[str, tuple[int, str]], hidden: Name
) -> None:
    """GIFT and band 100-150 overlap without nesting: after disclose the attacker, solving
    every equation at once, recovers nothing, and the small cell is protected by k items and by
    20% of its USD value."""
    t = table(rows)
    d = disclose(t, 10)
    assert_attacker_learns_nothing(t, d, 10)
    items = bound(d, hidden, "items")
    assert items.protected
    assert items.width >= 10
    money = bound(d, hidden, MONEY)
    assert money.protected
    assert money.width >= money.true * Decimal("0.2")


def test_the_report_cell_table_of_week_10_gives_nothing_away() -> None:
    """The same shape in the share report's six-dimension cell table with its seven groupings
    of totals (grand, per channel, origin, chapter, category, band, origin and chapter)."""
    t = report_table(
        {
            "POST/CN/95/GIFT/40-100": (3, "210.00"),
            "POST/CN/61/GIFT/100-150": (15, "1800.00"),
            "COURIER/VN/62/GIFT/100-150": (12, "1500.00"),
            "POST/CN/95/SALE_OF_GOODS/40-100": (40, "2600.00"),
            "COURIER/CN/95/SALE_OF_GOODS/0-20": (22, "200.00"),
            "COURIER/VN/61/SALE_OF_GOODS/20-40": (25, "750.00"),
            "POST/VN/61/SALE_OF_GOODS/40-100": (31, "1900.00"),
            "POST/US/62/SALE_OF_GOODS/0-20": (50, "500.00"),
            "COURIER/US/62/SALE_OF_GOODS/20-40": (18, "540.00"),
            "COURIER/US/95/SALE_OF_GOODS/40-100": (27, "1600.00"),
            "POST/CN/62/SALE_OF_GOODS/20-40": (33, "990.00"),
        }
    )
    d = disclose(t, 10)
    assert_attacker_learns_nothing(t, d, 10)
    hidden = (CELL_DIMENSIONS, ("2025-W10", "POST", "CN", "95", "GIFT", "40-100"))
    assert bound(d, hidden, "items").protected
    assert bound(d, hidden, MONEY).protected


# -- the audit's own numbers, by hand ----------------------------------------------------------

TWO_BY_TWO = table(
    {
        "CN/61": (3, "45.00"),
        "CN/62": (20, "300.00"),
        "US/61": (15, "150.00"),
        "US/62": (12, "240.00"),
    },
    ("originCountry", "hsChapter"),
    None,
)
_CELL = ("originCountry", "hsChapter")
_INF = INFINITY
# Per suppression pattern that protects CN/61 = 3 (k = 10) with least suppression: the bounds
# (items low, high, USD low, high) of each suppressed number, solved by hand.
# All four cells: a + b = 23, c + d = 27, a + c = 18, b + d = 32; every cell >= 1 item, >= 0 USD:
# a in [1, 17] (c >= 1), b = 23 - a, c = 18 - a, d = 9 + a; USD: va in [0, 195] (vc >= 0) ...
Hand = Mapping[Name, tuple[Number, Number, Number, Number]]
FOUR_CELLS: Hand = {
    (_CELL, ("CN", "61")): (1, 17, 0, 195),
    (_CELL, ("CN", "62")): (6, 22, 150, 345),
    (_CELL, ("US", "61")): (1, 17, 0, 195),
    (_CELL, ("US", "62")): (10, 26, 195, 390),
}
# ... or the cell with the totals it is in (CN, chapter 61, grand): nothing bounds a from above.
CELL_AND_TOTALS: Hand = {
    (_CELL, ("CN", "61")): (1, _INF, 0, _INF),
    (("originCountry",), ("CN",)): (21, _INF, 300, _INF),
    (("hsChapter",), ("61",)): (16, _INF, 150, _INF),
    ((), ()): (48, _INF, 690, _INF),
}


def test_the_audit_of_a_two_by_two_table_gives_the_bounds_solved_by_hand() -> None:
    """CN/61 = 3 is the only small cell; whichever least pattern protects it, each bound is
    the one worked out by hand above (and the attacker's enumeration agrees)."""
    d = disclose(TWO_BY_TWO, 10, exact=True)
    suppressed = frozenset(n.name for n in nodes(d) if n.suppressed)
    # A total of one cell is that cell: a pattern is named by its distinct numbers.
    expected: dict[frozenset[Name], Hand] = {
        frozenset(FOUR_CELLS): FOUR_CELLS,
        frozenset(CELL_AND_TOTALS): CELL_AND_TOTALS,
    }
    distinct = frozenset(
        name for name in suppressed if name[0] == _CELL or len(members(d)[name]) > 1
    )
    assert distinct in expected, f"an unexpected suppression: {sorted(suppressed)}"
    hand = expected[distinct]
    exact = enumerate_counts(d, "items").ranges
    for name, (low, high, usd_low, usd_high) in hand.items():
        items, usd = bound(d, name, "items"), bound(d, name, MONEY)
        assert span(items) == interval(low, high), items
        assert span(usd) == interval(usd_low, usd_high), usd
        assert span(exact[name]) == interval(low, high)
    assert d.audit.ok


def test_a_cell_that_only_the_grand_total_could_give_away_takes_the_grand_total_with_it() -> None:
    """Cells of 1 and 10 items, k = 10. Published, the grand total 11 pins the 1 within [1, 10]
    (the other cell is at least 1), a width of 9 < k, whatever else is withheld: the grand
    total must go, and then nothing bounds the small cell from above.

    (No table is unprotectable under the audit's model: with every total withheld, each
    suppressed number is unbounded above, so `Unprotectable` cannot be provoked by a table.)
    """
    t = table({"CN/GIFT/0-20": (1, "12.00"), "VN/GIFT/0-20": (10, "95.00")}, totals=None)
    d = disclose(t, 10, exact=True)
    grand = dict(d.totals)[()]
    assert grand[0].suppressed
    small = bound(d, cell("CN", "GIFT", "0-20"), "items")
    assert span(small) == interval(1, INFINITY)
    assert_attacker_learns_nothing(t, d, 10)


def test_a_table_of_one_small_cell_publishes_nothing_of_it() -> None:
    """Every total of a one-cell table is that cell: all withheld, the cell at least 1 item."""
    t = table({"CN/GIFT/0-20": (3, "40.00")}, totals=None)
    d = disclose(t, 10, exact=True)
    assert all(n.suppressed for n in nodes(d))
    only = bound(d, cell("CN", "GIFT", "0-20"), "items")
    assert span(only) == interval(1, INFINITY)
    assert_attacker_learns_nothing(t, d, 10)


# -- signed tables: late changes against a frozen week ------------------------------------------


def signed_table(rows: Mapping[str, tuple[int, str]]) -> Table:
    return table(rows, ("originCountry", "hsChapter"), None)


def test_a_change_of_value_alone_is_suppressed_and_free() -> None:
    """A late change of 0 items but +120.00 USD is a change all the same: it is withheld, and
    every withheld change can be anything (no sign is known): within any box around the truth
    each moves as far as the box lets it, so without a box it is unbounded."""
    t = signed_table(
        {
            "CN/61": (0, "120.00"),
            "CN/62": (25, "600.00"),
            "US/61": (-14, "-350.00"),
            "US/62": (30, "700.00"),
        }
    )
    d = disclose(t, 10, signed=True, exact=True)
    value_only = (_CELL, ("CN", "61"))
    assert value_only in {n.name for n in nodes(d) if n.suppressed}
    assert_attacker_learns_nothing(t, d, 10, signed=True)
    of = members(d)
    truth = {key: int(values[0]) for key, values in t.rows.items()}
    radius = 10
    box = {key: (n - radius, n + radius) for key, n in truth.items()}
    ranges = enumerate_counts(d, "items", signed=True, box=box).ranges
    for name, exact in ranges.items():
        true = int(true_value(t, of[name], "items"))
        assert span(exact) == interval(true - radius, true + radius), name


def test_a_small_negative_change_is_suppressed() -> None:
    """|items| < k is small whatever its sign: -3 items is withheld."""
    t = signed_table({"CN/61": (-3, "-75.00"), "CN/62": (40, "900.00"), "US/61": (22, "410.00")})
    d = disclose(t, 10, signed=True)
    assert (_CELL, ("CN", "61")) in {n.name for n in nodes(d) if n.suppressed}
    assert_attacker_learns_nothing(t, d, 10, signed=True)


def test_a_late_change_is_audited_knowing_no_cell_goes_below_zero() -> None:
    """A new cell gets +30.00 USD (it was absent: it can only grow) and a cell published at
    5,000.00 is cancelled (-5,000.00: it cannot fall further). Free, the two would look wide;
    with those floors a published total of the pair would pin the cancellation within 30. The
    audit works with the floors, so it withholds enough that both stay wide, and every bound
    respects its floor."""
    t = signed_table(
        {
            "CN/61": (3, "30.00"),
            "CN/62": (-40, "-5000.00"),
            "US/61": (25, "600.00"),
            "US/62": (30, "700.00"),
        }
    )
    floor: dict[Key, tuple[Number, ...]] = {
        ("CN", "61"): (0, Decimal(0)),
        ("CN", "62"): (-40, Decimal("-5000.00")),
        ("US", "61"): (-60, Decimal("-900.00")),
        ("US", "62"): (-80, Decimal("-2000.00")),
    }
    d = disclose(t, 10, signed=True, exact=True, floor=floor)
    assert d.audit.ok, [str(b) for b in d.audit.failures]
    assert not determined(d)
    for b in d.audit.bounds:
        if b.grouping == _CELL:
            least = floor[b.key][0 if b.measure == "items" else 1]
            assert b.low >= least, b
            assert b.width >= b.required, b
    cancelled = bound(d, (_CELL, ("CN", "62")), MONEY)
    assert cancelled.low == Decimal("-5000.00")


# -- properties on random tables --------------------------------------------------------------

VALUES: Mapping[str, tuple[str, ...]] = {
    "week": ("2025-W10", "2025-W11", "2025-W12"),
    "channel": ("POST", "COURIER", "UNKNOWN"),
    "originCountry": ("CN", "VN", "US"),
    "hsChapter": ("61", "62", "95"),
    "category": ("GIFT", "SALE_OF_GOODS", "DOCUMENTS"),
    "valueBand": ("0-20", "40-100", "100-150"),
}
MEASURES = ("items", MONEY, "detections")


def overlapping(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two groupings whose totals overlap without nesting (neither refines the other)."""
    return not set(a) <= set(b) and not set(b) <= set(a)


@st.composite
def shapes(
    draw: st.DrawFn, most: int = 10
) -> tuple[tuple[str, ...], list[Key], tuple[tuple[str, ...], ...]]:
    """2 to 5 dimensions of 1 to 3 values, 2 to `most` cells, a random set of groupings of
    totals that always holds two overlapping without nesting."""
    chosen = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=2, max_size=5, unique=True))
    dims = tuple(d for d in VALUES if d in chosen)
    values = [VALUES[d][: draw(st.integers(1, 3))] for d in dims]
    space = list(itertools.product(*values))
    assume(len(space) >= 3)  # a table of one or two possible cells has no structure to test
    keys = draw(
        st.lists(st.sampled_from(space), min_size=min(2, len(space)), max_size=most, unique=True)
    )
    every = [g for r in range(len(dims)) for g in itertools.combinations(dims, r)]
    totals = draw(st.lists(st.sampled_from(every), unique=True, max_size=len(every)))
    if not any(overlapping(a, b) for a, b in itertools.combinations(totals, 2)):
        first, second = draw(st.lists(st.sampled_from(dims), min_size=2, max_size=2, unique=True))
        totals += [g for g in ((first,), (second,)) if g not in totals]
    order = {g: i for i, g in enumerate(every)}
    return dims, keys, tuple(sorted(totals, key=order.__getitem__))


@st.composite
def unsigned_tables(draw: st.DrawFn) -> tuple[Table, int]:
    """Sparse cells, many below k; a random USD value and a number of detections each."""
    dims, keys, totals = draw(shapes())
    k = draw(st.integers(3, 10))
    rows: dict[Key, tuple[Number, ...]] = {}
    for key in keys:
        items = draw(st.integers(1, k - 1) | st.integers(k, 60))
        usd = Decimal(draw(st.integers(0, 500_00 * items))) / 100  # up to 500.00 USD an item
        rows[key] = (items, usd, draw(st.integers(0, items)))
    return Table(dims, MEASURES, rows, totals), k


@st.composite
def signed_tables(draw: st.DrawFn) -> tuple[Table, int]:
    """Late changes: items of either sign (0 with a change of value among them)."""
    dims, keys, totals = draw(shapes())
    k = draw(st.integers(3, 10))
    rows: dict[Key, tuple[Number, ...]] = {}
    for key in keys:
        items = draw(st.integers(-25, 25))
        value_alone = st.integers(-50_000, -1) | st.integers(1, 50_000)  # with 0 items
        cents = draw(st.integers(-50_000, 50_000) if items else value_alone)
        rows[key] = (items, Decimal(cents) / 100, draw(st.integers(-3, 3)))
    return Table(dims, MEASURES, rows, totals), k


@settings(max_examples=50, deadline=None)
@given(unsigned_tables())
def test_no_random_table_gives_a_suppressed_number_away(case: tuple[Table, int]) -> None:
    """Whatever the table and its totals: the audit passes, elimination determines nothing,
    the audit's count bounds are the enumeration's exact ones and wide enough, every small cell
    is withheld, and disclosing twice gives the same."""
    t, k = case
    d = disclose(t, k, exact=True)
    small = {key for key, values in t.rows.items() if 0 < int(values[0]) < k}
    assert small <= {e.key for e in d.cells if e.suppressed}
    assert_attacker_learns_nothing(t, d, k)
    assert disclose(t, k, exact=True) == d
    # The default audit proves a count wide only at whole-number points it finds (no integer
    # programme), so where it cannot it suppresses more than the exact one: never less safely.
    fast = disclose(t, k)
    assert small <= {e.key for e in fast.cells if e.suppressed}
    assert_attacker_learns_nothing(t, fast, k)


@settings(max_examples=40, deadline=None)
@given(signed_tables())
def test_no_random_change_table_gives_a_suppressed_change_away(case: tuple[Table, int]) -> None:
    """Signed tables: every change with |items| < k and some measure non-zero is withheld,
    the audit passes, elimination determines nothing, every withheld change is unbounded, and
    disclosing twice gives the same."""
    t, k = case
    d = disclose(t, k, signed=True, exact=True)
    small = {key for key, values in t.rows.items() if abs(int(values[0])) < k and any(values)}
    assert small <= {e.key for e in d.cells if e.suppressed}
    assert_attacker_learns_nothing(t, d, k, signed=True)
    assert disclose(t, k, signed=True, exact=True) == d


# -- the attacker's own check: its enumeration against brute force -------------------------


def brute_force(d: Publication, domains: Mapping[Key, range]) -> dict[Name, tuple[int, int]]:
    """Least and greatest items of every suppressed number over every assignment of the
    suppressed cells within `domains` that adds up to every published total."""
    everything = nodes(d)
    hidden = [i for i, e in enumerate(d.cells) if e.values is None]
    seen: dict[Name, tuple[int, int]] = {}
    for guess in itertools.product(*(domains[d.cells[i].key] for i in hidden)):
        x = dict(zip(hidden, guess, strict=True))
        items = {n.name: sum(_items(d, c, x) for c in n.cells) for n in everything}
        if any(n.values is not None and items[n.name] != n.values[0] for n in everything):
            continue
        for n in everything:
            if n.values is None:
                low, high = seen.get(n.name, (items[n.name], items[n.name]))
                seen[n.name] = (min(low, items[n.name]), max(high, items[n.name]))
    return seen


def _items(d: Publication, cell: int, guess: Mapping[int, int]) -> int:
    values = d.cells[cell].values
    return guess[cell] if values is None else int(values[0])


@st.composite
def hand_publications(draw: st.DrawFn) -> tuple[Table, list[Name], bool]:
    """Up to 4 small cells (changes of either sign, or not), any of its numbers withheld."""
    dims, keys, totals = draw(shapes(most=4))
    signed = draw(st.booleans())
    counts = st.integers(-4, 4) if signed else st.integers(1, 3)
    t = Table(dims, ("items",), {key: (draw(counts),) for key in keys}, totals)
    cells = [(dims, key) for key in sorted(keys)]
    sums = sorted(n.name for n in nodes(publish(t, [])) if n.name[0] != dims)
    hidden = [name for name in cells if draw(st.booleans())] or cells[:1]
    return t, hidden + [name for name in sums if draw(st.booleans())], signed


@settings(max_examples=100, deadline=None)
@given(hand_publications())
def test_the_attackers_enumeration_is_brute_force_made_fast(
    case: tuple[Table, list[Name], bool],
) -> None:
    """On tables small enough to try every assignment, the enumeration's ranges are exactly
    brute force's: unsigned, each suppressed cell from 1 to the least published total it is in
    (unbounded when in none); signed, within a box of 2 around the truth."""
    t, hidden, signed = case
    d = publish(t, hidden)
    truth = {key: int(values[0]) for key, values in t.rows.items()}
    caps: dict[Key, int] = {}  # unsigned: a cell is at most any published total it is in
    for n in nodes(d):
        if n.values is not None:
            for key in (d.cells[c].key for c in n.cells):
                caps[key] = min(caps.get(key, int(n.values[0])), int(n.values[0]))
    if signed:
        box = {key: (n - 2, n + 2) for key, n in truth.items()}
        got = enumerate_counts(d, "items", signed=True, box=box).ranges
        domains = {key: range(low, high + 1) for key, (low, high) in box.items()}
    else:
        got = enumerate_counts(d, "items").ranges
        domains = {key: range(1, caps.get(key, 1) + 1) for key in truth}
    brute = brute_force(d, domains)
    assert set(got) == set(brute)
    for n in nodes(d):
        if n.values is None:
            unbounded = not signed and any(d.cells[c].key not in caps for c in n.cells)
            low, high = brute[n.name]
            assert span(got[n.name]) == interval(low, INFINITY if unbounded else high), n.name
