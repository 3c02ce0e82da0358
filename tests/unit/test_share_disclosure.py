"""Disclosure control: small-cell, complementary suppression and the field allow-list."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import DisclosureError
from gateway.share.disclosure import (
    ALLOWED_FIELDS,
    PERSONAL_FIELDS,
    Disclosed,
    Entry,
    Number,
    Table,
    disclose,
    gate,
    publishable,
)

Key = tuple[str, ...]
VALUES = {
    "originCountry": ["CN", "VN", "GB", "US"],
    "hsChapter": ["61", "62", "95"],
    "category": ["GIFT", "SALE_OF_GOODS"],
    "valueBand": ["0-20", "20-40", ""],
}


def table(
    rows: Mapping[Key, int],
    dims: tuple[str, ...] = ("originCountry", "hsChapter"),
    totals: tuple[tuple[str, ...], ...] | None = None,
) -> Table:
    """A table of `items` with a value measure of 2.50 USD per item beside it."""
    return Table(
        dims,
        ("items", "declaredValueUsd"),
        {key: (n, Decimal("2.50") * n) for key, n in rows.items()},
        totals,
    )


def suppressed_keys(disclosed: Disclosed) -> set[Key]:
    return {e.key for e in disclosed.cells if e.suppressed}


# -- the attacker: differencing along one equation at a time --------------------------------


def levels(d: Disclosed) -> list[tuple[tuple[str, ...], tuple[Entry, ...]]]:
    return [(d.dimensions, d.cells), *d.totals]


def equations(d: Disclosed) -> list[tuple[Entry, list[Entry]]]:
    """Each published-level total with its parts at each finer published level."""
    out = []
    for coarse, parents in levels(d):
        for fine, entries in levels(d):
            if set(coarse) < set(fine):
                where = [fine.index(name) for name in coarse]
                for parent in parents:
                    parts = [e for e in entries if tuple(e.key[i] for i in where) == parent.key]
                    out.append((parent, parts))
    return out


def recovered(d: Disclosed) -> list[str]:
    """What an attacker determines exactly from one equation. Each suppressed number is known to
    be >= 1 (zeros are never suppressed); nothing else is assumed."""
    found = []
    for parent, parts in equations(d):
        hidden = [p for p in parts if p.values is None]
        if parent.values is None:
            if parts and not hidden:
                found.append(f"total {parent.key} = sum of its published parts")
            continue
        residual = int(parent.values[0]) - sum(int(p.values[0]) for p in parts if p.values)
        if len(hidden) == 1:
            found.append(f"{hidden[0].key} = total {parent.key} - published parts")
        elif hidden and residual == len(hidden):
            found.append(f"{[h.key for h in hidden]} are all 1 (residual {residual})")
    return found


# -- examples ----------------------------------------------------------------------------------


def test_a_small_cell_is_suppressed_with_complements_in_its_row_and_column() -> None:
    d = disclose(
        table(
            {
                ("CN", "61"): 3,
                ("CN", "62"): 20,
                ("CN", "95"): 30,
                ("US", "61"): 15,
                ("US", "62"): 12,
            }
        ),
        10,
    )
    assert suppressed_keys(d) == {("CN", "61"), ("CN", "62"), ("US", "61"), ("US", "62")}
    assert recovered(d) == []
    grand = d.totals[0][1][0]
    assert grand.values == (80, Decimal("200.00"))  # a true total, suppressed cells included


def test_a_total_made_of_one_small_cell_is_suppressed_with_it() -> None:
    d = disclose(table({("CN", "61"): 4, ("US", "62"): 40, ("US", "95"): 50}), 10)
    by_origin = dict(d.totals)[("originCountry",)]
    assert by_origin[0] == Entry(("CN",), None)
    assert recovered(d) == []


def test_two_suppressed_ones_are_not_enough_when_they_are_both_one() -> None:
    d = disclose(
        table(
            {("CN", "61"): 1, ("CN", "62"): 1, ("CN", "95"): 30}, totals=((), ("originCountry",))
        ),
        10,
    )
    assert suppressed_keys(d) == {("CN", "61"), ("CN", "62"), ("CN", "95")}
    assert recovered(d) == []


def test_zero_cells_are_published_and_never_used_as_complements() -> None:
    d = disclose(table({("CN", "61"): 0, ("CN", "62"): 12, ("CN", "95"): 30}), 10)
    assert suppressed_keys(d) == set()
    assert d.cells[0].values == (0, Decimal("0.00"))


def test_k_of_one_suppresses_nothing() -> None:
    d = disclose(table({("CN", "61"): 1, ("VN", "95"): 2}), 1)
    assert suppressed_keys(d) == set()


def test_publishable_counts_are_zero_or_at_least_k() -> None:
    assert [publishable(n, 10) for n in (0, 1, 9, 10, 11)] == [True, False, False, True, True]


# -- the allow-list ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "email", "itemId", "description", "comments"])
def test_a_personal_dimension_is_refused(field: str) -> None:
    with pytest.raises(DisclosureError, match="personal data"):
        disclose(Table((field,), ("items",), {("x",): (12,)}), 10)


def test_an_unknown_measure_is_refused() -> None:
    with pytest.raises(DisclosureError, match="not an allow-listed"):
        disclose(Table(("originCountry",), ("items", "weightKg"), {("CN",): (12, 3)}), 10)


def test_free_text_in_a_dimension_value_is_refused() -> None:
    with pytest.raises(DisclosureError, match="category"):
        disclose(Table(("category",), ("items",), {("Ellen's birthday gift",): (12,)}), 10)


def test_the_gate_refuses_a_personal_key_anywhere_in_a_document() -> None:
    with pytest.raises(DisclosureError, match="phone"):
        gate({"cells": [{"originCountry": "CN", "items": 12}, {"phone": "+44 113"}]})
    gate({"cells": [{"originCountry": "CN", "items": 12, "suppressed": False}]})


def test_no_personal_field_is_allowed() -> None:
    assert not PERSONAL_FIELDS & ALLOWED_FIELDS


def test_a_malformed_table_or_k_is_refused() -> None:
    with pytest.raises(ValueError, match="k must be"):
        disclose(table({("CN", "61"): 3}), 0)
    with pytest.raises(ValueError, match="non-negative"):
        disclose(table({("CN", "61"): -1}), 10)
    with pytest.raises(ValueError, match="first measure"):
        disclose(Table(("originCountry",), ("detections",), {("CN",): (1,)}), 10)


# -- properties on random tables ----------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> tuple[Table, int]:
    dims = tuple(
        draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=3, unique=True))
    )
    keys = st.tuples(*(st.sampled_from(VALUES[d]) for d in dims))
    rows = draw(st.dictionaries(keys, st.integers(0, 25), max_size=20))
    extra = (tuple(dims[:2]),) if len(dims) >= 3 and draw(st.booleans()) else ()
    totals = ((), *((d,) for d in dims), *extra)
    return table(rows, dims, totals), draw(st.integers(2, 10))


def entries(d: Disclosed) -> list[Entry]:
    return [e for _, level in levels(d) for e in level]


@settings(max_examples=200, deadline=None)
@given(tables())
def test_every_published_cell_and_total_counts_zero_or_at_least_k(case: tuple[Table, int]) -> None:
    t, k = case
    d = disclose(t, k)
    assert all(publishable(int(e.values[0]), k) for e in entries(d) if e.values is not None)


@settings(max_examples=200, deadline=None)
@given(tables())
def test_no_published_total_has_exactly_one_suppressed_part(case: tuple[Table, int]) -> None:
    d = disclose(*case)
    for parent, parts in equations(d):
        if parent.values is not None:
            assert sum(p.values is None for p in parts) != 1, parent


@settings(max_examples=200, deadline=None)
@given(tables())
def test_no_suppressed_number_is_recovered_by_differencing_along_any_dimension(
    case: tuple[Table, int],
) -> None:
    assert recovered(disclose(*case)) == []


@settings(max_examples=150, deadline=None)
@given(tables())
def test_published_totals_are_true_totals_and_cells_unchanged(case: tuple[Table, int]) -> None:
    t, _ = case
    d = disclose(*case)
    for e in d.cells:
        assert e.values is None or e.values == t.rows[e.key]
    for grouping, level in d.totals:
        where = [t.dimensions.index(name) for name in grouping]
        for e in level:
            true = [v for key, v in t.rows.items() if tuple(key[i] for i in where) == e.key]
            if e.values is not None:
                assert e.values[0] == sum(v[0] for v in true)
                assert e.values[1] == sum((v[1] for v in true), Decimal(0))
    assert disclose(*case) == d  # deterministic


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(sorted({*VALUES, *PERSONAL_FIELDS})), min_size=1, max_size=3, unique=True
    ),
)
def test_no_personal_field_name_ever_leaves(dims: list[str]) -> None:
    rows: dict[Key, tuple[Number, ...]] = {tuple(VALUES.get(d, ["x"])[0] for d in dims): (12,)}
    t = Table(tuple(dims), ("items",), rows)
    if set(dims) & PERSONAL_FIELDS:
        with pytest.raises(DisclosureError):
            disclose(t, 10)
    else:
        d = disclose(t, 10)
        assert not set(d.dimensions) & PERSONAL_FIELDS
        assert all(set(g) <= ALLOWED_FIELDS for g, _ in d.totals)
