"""Cell attribution of own declarations and incremental cell counts (gateway.share.aggregate)."""

from __future__ import annotations

import marshal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.cells import CellCounts, CellKey
from gateway.rules.bands import value_band
from gateway.share.aggregate import (
    Change,
    Contributions,
    cell_of,
    contribution_of,
    counts_of,
    increments,
    merged,
    recount,
)
from gateway.wire.declaration_pb2 import (
    AMENDMENT,
    CANCELLATION,
    ORIGINAL,
    Declaration,
    Function,
    Piece,
)


def declaration(
    *,
    item_id: str = "RB123456785GB",
    function: Function.ValueType = ORIGINAL,
    valued_on: date | None = date(2026, 11, 18),
    posted_at: datetime | None = None,
    received_at: datetime = datetime(2026, 11, 27, 9, 15, tzinfo=UTC),
    origins: Sequence[str] = ("CN",),
    hs_codes: Sequence[str] | None = None,
    sender_country: str = "CN",
    category: str = "SALE_OF_GOODS",
    value_usd: Decimal | None = Decimal("12.50"),
    de_minimis: bool = False,
    pre_suspension: bool = True,
    sender_name: str = "Ellen Jordan",
) -> Declaration:
    """An accepted declaration; value_usd None means the rate was missing."""
    codes = hs_codes if hs_codes is not None else ["610910"] * len(origins)
    decl = Declaration(item_id=item_id, function=function, category=category)
    decl.pieces.extend(
        Piece(description="cotton t-shirt", hs_code=code, origin_country=origin)
        for origin, code in zip(origins, codes, strict=True)
    )
    decl.sender.name = sender_name
    decl.sender.email = "ellen@example.com"
    decl.sender.address.country_code = sender_country
    decl.sender.address.city = "Leeds"
    decl.provenance.received_at.FromDatetime(received_at)
    if posted_at is not None:
        decl.has_posted_at = True
        decl.posted_at.FromDatetime(posted_at)
    valuation = decl.valuation
    if valued_on is not None:
        valuation.valued_on = valued_on.isoformat()
    if value_usd is None:
        valuation.rate_missing = True
    else:
        valuation.value_usd = str(value_usd)
        valuation.value_band = value_band(value_usd)
    valuation.de_minimis = de_minimis
    valuation.pre_suspension_de_minimis = pre_suspension
    return decl


# -- cell_of -----------------------------------------------------------------------------------


def test_cell_of_uses_the_iso_week_of_the_valuation_day_and_the_common_piece_origin() -> None:
    key = cell_of(declaration(origins=("CN", "CN")))
    assert key == CellKey("2026-W47", "POST", "CN", "61", "SALE_OF_GOODS", "0-20")


def test_cell_of_falls_back_to_the_posting_day_in_utc_when_not_valued() -> None:
    late_evening_in_new_york = datetime(2026, 11, 22, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    key = cell_of(declaration(valued_on=None, posted_at=late_evening_in_new_york))
    assert key.week == "2026-W48"  # 2026-11-23 04:30 UTC, a Monday


def test_cell_of_falls_back_to_the_received_day_when_not_posted() -> None:
    key = cell_of(declaration(valued_on=None, received_at=datetime(2027, 1, 1, 12, tzinfo=UTC)))
    assert key.week == "2026-W53"


def test_cell_of_takes_the_sender_country_when_piece_origins_disagree_or_are_missing() -> None:
    assert cell_of(declaration(origins=("CN", "VN"), sender_country="HK")).origin_country == "HK"
    assert cell_of(declaration(origins=("CN", ""), sender_country="HK")).origin_country == "HK"
    assert cell_of(declaration(origins=(), sender_country="HK")).origin_country == "HK"
    assert cell_of(declaration(origins=(), sender_country="")).origin_country == "ZZ"


def test_cell_of_takes_the_first_piece_chapter_or_00() -> None:
    assert cell_of(declaration(origins=("CN", "CN"), hs_codes=("9503", "6109"))).hs_chapter == "95"
    assert cell_of(declaration(origins=("CN",), hs_codes=("",))).hs_chapter == "00"
    assert cell_of(declaration(origins=())).hs_chapter == "00"


def test_cell_of_marks_unspecified_category_and_empty_band_when_the_rate_is_missing() -> None:
    key = cell_of(declaration(category="", value_usd=None))
    assert (key.category, key.value_band) == ("UNSPECIFIED", "")


def test_counts_of_counts_one_item_with_its_value_and_de_minimis_flags() -> None:
    counts = counts_of(declaration(value_usd=Decimal("99.95"), de_minimis=True))
    assert counts == CellCounts(1, Decimal("99.95"), 1, 1, 0, 0)


def test_counts_of_counts_a_missing_rate_and_no_value() -> None:
    counts = counts_of(declaration(value_usd=None, pre_suspension=False))
    assert counts == CellCounts(items=1, rate_missing=1)


# -- increments --------------------------------------------------------------------------------


def test_an_amendment_moves_the_item_from_its_old_cell_to_its_new_one() -> None:
    old = declaration(origins=("CN",))
    new = declaration(function=AMENDMENT, origins=("VN",), sender_country="VN")
    out = increments([(old, None), (new, old)])
    assert out == {cell_of(new): counts_of(new)}


def test_a_cancellation_takes_the_previous_version_away_and_ignores_its_own_content() -> None:
    old = declaration()
    cancel = declaration(function=CANCELLATION, origins=("GB",), value_usd=Decimal(5000))
    assert increments([(old, None)]) == {cell_of(old): counts_of(old)}
    assert increments([(cancel, old)]) == {cell_of(old): CellCounts(-1, Decimal("-12.50"), 0, -1)}
    assert increments([(old, None), (cancel, old)]) == {}


# -- the property: increments in any chunks == brute-force recount --------------------------


@dataclass(frozen=True)
class Attributes:
    valued_on: date
    origins: tuple[str, ...]
    hs_codes: tuple[str, ...]
    sender_country: str
    category: str
    value_usd: Decimal | None
    de_minimis: bool
    pre_suspension: bool


def attributes() -> st.SearchStrategy[Attributes]:
    pieces = st.lists(
        st.tuples(st.sampled_from(["CN", "VN", ""]), st.sampled_from(["610910", "9503", "", "6"])),
        max_size=3,
    )
    return st.builds(
        lambda day, p, sender, cat, usd, dm, pre: Attributes(
            date(2026, 12, 20) + timedelta(days=day),
            tuple(o for o, _ in p),
            tuple(h for _, h in p),
            sender,
            cat,
            usd,
            dm,
            pre,
        ),
        st.integers(0, 30),
        pieces,
        st.sampled_from(["US", "GB", ""]),
        st.sampled_from(["SALE_OF_GOODS", "GIFT", ""]),
        st.none() | st.decimals(0, 3000, places=2),
        st.booleans(),
        st.booleans(),
    )


def made(item: int, function: Function.ValueType, a: Attributes) -> Declaration:
    return declaration(
        item_id=f"ITEM{item}",
        function=function,
        valued_on=a.valued_on,
        origins=a.origins,
        hs_codes=a.hs_codes,
        sender_country=a.sender_country,
        category=a.category,
        value_usd=a.value_usd,
        de_minimis=a.de_minimis,
        pre_suspension=a.pre_suspension,
    )


def journal(
    steps: Sequence[tuple[int, bool, Attributes]],
) -> tuple[list[tuple[Declaration, Declaration | None]], list[Declaration]]:
    """Journal changes obeying the version rules, and the latest live version of each item."""
    latest: dict[int, Declaration] = {}
    cancelled: set[int] = set()
    changes: list[tuple[Declaration, Declaration | None]] = []
    for item, cancel, attrs in steps:
        if item in cancelled:
            continue  # ITEM_CANCELLED: never journaled
        if item not in latest:
            new = made(item, ORIGINAL, attrs)
            changes.append((new, None))
            latest[item] = new
        elif cancel:
            changes.append((made(item, CANCELLATION, attrs), latest.pop(item)))
            cancelled.add(item)
        else:
            new = made(item, AMENDMENT, attrs)
            changes.append((new, latest[item]))
            latest[item] = new
    return changes, list(latest.values())


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 5), st.booleans(), attributes()), max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=5),
)
def test_increments_in_any_chunks_equal_the_recount_of_the_latest_live_versions(
    steps: list[tuple[int, bool, Attributes]], cuts: list[int]
) -> None:
    changes, live = journal(steps)
    bounds = [0, *sorted(c for c in cuts if c <= len(changes)), len(changes)]
    chunks = [increments(changes[a:b]) for a, b in pairwise(bounds)]
    expected = recount(live)
    assert merged(increments(changes)) == expected
    assert merged(*chunks) == expected


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 5), st.booleans(), attributes()), max_size=25),
    computed=st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_contributions_computed_where_valued_fold_to_the_same_cells(
    steps: list[tuple[int, bool, Attributes]], computed: list[bool]
) -> None:
    """The fold given some new records as their contributions (as the CPU stages compute them)
    and the others as declarations gives the recount: the same figures either way."""
    changes, live = journal(steps)
    mixed: list[Change] = [
        (contribution_of(new, {}), previous)
        if use and new.function != CANCELLATION
        else (new, previous)
        for (new, previous), use in zip(changes, computed, strict=False)
    ]
    assert merged(increments(mixed)) == recount(live) == merged(increments(changes))


def test_a_contribution_is_the_cell_and_counts_of_its_declaration() -> None:
    decl = declaration(origins=("CN", "CN"), hs_codes=("610910", "9503"))
    cell, counts = contribution_of(decl, {})
    assert CellKey(*cell) == cell_of(decl)
    assert CellCounts(*counts) == counts_of(decl)


def test_contributions_share_equal_cells_and_cross_as_plain_values() -> None:
    contributions = Contributions()
    for index in range(50):
        contributions.add(index, declaration(item_id=f"ITEM{index}"))
    contributions.add(50, declaration(origins=("VN",), sender_country="VN"))
    first, last, other = contributions.get(0), contributions.get(49), contributions.get(50)
    assert first is not None
    assert last is not None
    assert other is not None
    assert last[0] is first[0]  # one tuple for the one cell
    assert other[0] != first[0]
    plain = marshal.dumps(contributions.plain())
    back = Contributions.from_plain(marshal.loads(plain))  # noqa: S302 - our own bytes
    assert len(back) == 51
    again, still = back.get(0), back.get(49)
    assert again is not None
    assert still is not None
    assert again[0] is still[0]  # the one cell crossed once
    assert [back.get(i) for i in range(52)] == [contributions.get(i) for i in range(52)]
    assert back.get(51) is None
