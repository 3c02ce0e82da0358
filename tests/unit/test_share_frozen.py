"""Frozen share weeks and late arrivals (gateway.share.frozen,
gateway.services.b5_reports.ShareService).

The attack these defeat: two versions of one week's report, subtracted, expose the cells of the
items that arrived between them. A week's report is therefore built once per partner from the
week's frozen snapshot, and what changes later is reported once, in a later report's
`lateArrivals`, as a table with suppression of its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.adapters.crypto.dsse import DsseSigner, verify_json_envelope
from gateway.adapters.crypto.keys import SigningKey, generate_private_key
from gateway.bootstrap import build
from gateway.config import CpuSettings, Settings, ShareSettings
from gateway.domain.cells import CellCounts, CellKey, Frozen, FrozenRow
from gateway.domain.partners import Partner, PartnerKind, ShareAgreement
from gateway.ports import Store
from gateway.services.b5_reports import Built, ShareService
from gateway.share.aggregate import Change, increments
from gateway.share.frozen import freeze_rows, published, reported
from gateway.share.report import CELL_DIMENSIONS, build_report, published_pairs, report_bytes
from gateway.wire.declaration_pb2 import AMENDMENT, CANCELLATION, ORIGINAL, Declaration
from tests.builders import make_entries, make_message
from tests.clocks import FrozenClock
from tests.fakes import FixedClock, InMemoryStore
from tests.unit.test_share_aggregate import declaration

W45, W46, W47, W48, W49 = "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"
MONDAY = {W46: date(2026, 11, 9), W47: date(2026, 11, 16), W48: date(2026, 11, 23)}
KEY = SigningKey("aedgw-test", "ed25519", generate_private_key("ed25519"))
KEYS = {KEY.keyid: KEY.verification_key("gateway")}
AT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # the Monday after W47


def customs(pid: str, country: str, *, push_url: str = "") -> Partner:
    return Partner(
        id=pid,
        name=pid,
        kind=PartnerKind.CUSTOMS,
        country=country,
        operator_code=None,
        formats=frozenset({"b5-trend-1"}),
        max_body_bytes=1024 * 1024,
        key_ids=(f"{pid}-2026",),
        share=ShareAgreement(k=10, push_url=push_url),
    )


GB_BF = customs("gb-bf", "GB", push_url="https://bf.example/b5/reports")
CA_CBSA = customs("ca-cbsa", "CA")
AU_ABF = customs("au-abf", "AU")
PARTNERS = {p.id: p for p in (GB_BF, CA_CBSA)}


def service(
    store: InMemoryStore, *, at: datetime = AT, partners: Sequence[Partner] = (GB_BF, CA_CBSA)
) -> ShareService:
    return ShareService(
        store=store,
        signer=DsseSigner(KEY),
        clock=FixedClock(at),
        partners={p.id: p for p in partners},
        home_country="US",
    )


# -- items and folding ------------------------------------------------------------------------

ORIGINS = {"CN": "610910", "VN": "950300", "GB": "420212"}


def item(
    n: int,
    week: str = W47,
    origin: str = "CN",
    usd: str = "12.50",
    function: Any = ORIGINAL,
) -> Declaration:
    """Item n, valued on the Wednesday of `week`, counted in (week, origin, its chapter, band)."""
    return declaration(
        item_id=f"RB{n:09d}GB",
        function=function,
        valued_on=MONDAY[week] + timedelta(days=2),
        origins=(origin,),
        sender_country=origin,
        hs_codes=[ORIGINS[origin]],
        value_usd=Decimal(usd),
    )


def originals(first: int, count: int, week: str = W47, origin: str = "CN") -> list[Change]:
    return [(item(n, week, origin), None) for n in range(first, first + count)]


async def fold(store: Store, changes: list[Change]) -> None:
    """Fold `changes` into the cells as the aggregator does (one journal record moves the
    aggregation position past them)."""
    message = make_message(f"M-{await store.last_position()}")
    first = await store.last_position() + 1
    await store.commit_message(message, make_entries(message, 1, first=first))
    after = await store.aggregation_position()
    await store.apply_aggregation(after, await store.last_position(), increments(changes))


async def week_47(store: Store) -> None:
    """40 CN items (chapter 61), 15 VN (95), 12 GB (42), all worth 12.50: 0-20 band."""
    await fold(
        store, originals(1, 40) + originals(41, 15, origin="VN") + originals(56, 12, origin="GB")
    )


LATE_47: list[Change] = [
    (item(100, usd="25.00"), None),  # a late item, alone in its cell (CN, 61, 20-40)
    (item(41, origin="GB", function=AMENDMENT), item(41, origin="VN")),  # moves VN -> GB
    (item(1, function=CANCELLATION), item(1)),  # withdraws a CN item
    *originals(101, 12, origin="VN"),  # enough late VN items to be published
]


def cell(week: str, origin: str, band: str = "0-20") -> CellKey:
    return CellKey(week, "POST", origin, ORIGINS[origin][:2], "SALE_OF_GOODS", band)


def counts(items: int, usd: str) -> CellCounts:
    """`items` items worth `usd`, none under de minimis, all pre-suspension (the builder's)."""
    return CellCounts(items, Decimal(usd), 0, items, 0, 0)


# -- reading what partners hold ---------------------------------------------------------------


def document(built: Built) -> dict[str, Any]:
    """The report a partner receives: its signature verified, its JSON payload."""
    kind, payload = verify_json_envelope(built.report.envelope, KEYS)
    assert kind == "application/vnd.aedgw.b5-report.v1+json"
    doc: dict[str, Any] = json.loads(payload)
    return doc


def of(built: list[Built], partner: str) -> Built:
    (mine,) = [b for b in built if b.report.partner == partner]
    return mine


def numbers(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a report says of our items: all but its header."""
    return {k: v for k, v in doc.items() if k not in ("reportId", "partner", "generatedAt")}


def recoverable(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The suppressed cells of a published table (cells and totals) that some linear
    combination of its published numbers gives away: each published cell and total is an
    equation over the cells' unknown counts; a cell is given away when its unit vector lies in
    the span of the published equations (a rank test: bounds aside, the strongest attack)."""
    cells = table["cells"]
    totals = table["totals"]
    groups: list[tuple[dict[str, Any], tuple[str, ...]]] = [(totals["grand"], ())]
    for dim, entries in totals["byDimension"].items():
        groups += [(entry, (dim,)) for entry in entries]
    groups += [(entry, ("originCountry", "hsChapter")) for entry in totals["byOriginAndChapter"]]
    rows = [
        [1.0 if n == i else 0.0 for n in range(len(cells))]
        for i, c in enumerate(cells)
        if not c["suppressed"]
    ]
    for entry, dims in groups:
        if not entry["suppressed"]:
            rows.append([1.0 if all(c[d] == entry[d] for d in dims) else 0.0 for c in cells])
    known = np.array(rows or [[0.0] * len(cells)])
    rank = np.linalg.matrix_rank(known)
    out = []
    for i, c in enumerate(cells):
        unit = [[1.0 if n == i else 0.0 for n in range(len(cells))]]
        if c["suppressed"] and np.linalg.matrix_rank(np.vstack([known, unit])) == rank:
            out.append(c)
    return out


def late_cells(doc: Mapping[str, Any], week: str) -> dict[tuple[str, ...], dict[str, Any]]:
    (table,) = [t for t in doc["lateArrivals"] if t["week"] == week]
    return {tuple(c[d] for d in CELL_DIMENSIONS): c for c in table["cells"]}


def row_key(key: CellKey) -> tuple[str, ...]:
    return (key.week, key.channel, key.origin_country, key.hs_chapter, key.category, key.value_band)


def test_the_rank_attack_finds_a_cell_that_a_published_total_gives_away() -> None:
    def entry(origin: str, items: int | None) -> dict[str, Any]:
        dims = dict(zip(CELL_DIMENSIONS, row_key(cell(W47, origin)), strict=True))
        return dims | (
            {"suppressed": True} if items is None else {"items": items, "suppressed": False}
        )

    def table(cn: int | None, vn: int | None, grand: int | None) -> dict[str, Any]:
        return {
            "cells": [entry("CN", cn), entry("VN", vn)],
            "totals": {
                "grand": {"suppressed": grand is None, "items": grand},
                "byDimension": {},
                "byOriginAndChapter": [],
            },
        }

    assert recoverable(table(None, 20, 23)) == [entry("CN", None)]  # 23 - 20
    assert recoverable(table(None, None, 23)) == []
    assert recoverable(table(None, 20, None)) == []


# -- the pure rules ---------------------------------------------------------------------------


def test_a_first_freeze_is_the_weeks_own_live_cells_and_nothing_late() -> None:
    live = {cell(W47, "CN"): counts(40, "500.00"), cell(W46, "VN"): counts(3, "9.00")}

    rows = freeze_rows(W47, live, Frozen({}, ()), [W46, W45])

    assert rows == [FrozenRow(W47, cell(W47, "CN"), counts(40, "500.00"))]


def test_a_late_change_is_live_minus_everything_already_reported_of_the_week() -> None:
    frozen = Frozen(
        {W46: 1, W47: 2},
        (
            FrozenRow(W46, cell(W46, "CN"), counts(20, "250.00")),
            FrozenRow(W46, cell(W46, "VN"), counts(12, "150.00")),
            FrozenRow(W47, cell(W46, "CN"), counts(2, "25.00")),  # reported late in W47
        ),
    )
    live = {
        cell(W46, "CN"): counts(22, "275.00"),  # nothing new
        cell(W46, "VN"): counts(11, "137.50"),  # one cancelled
        cell(W46, "GB"): counts(1, "9.99"),  # one new
        cell(W48, "CN"): counts(10, "100.00"),
    }

    rows = freeze_rows(W48, live, frozen, [W47, W46, W45])

    assert rows == [
        FrozenRow(W48, cell(W48, "CN"), counts(10, "100.00")),
        FrozenRow(W48, cell(W46, "GB"), counts(1, "9.99")),
        FrozenRow(W48, cell(W46, "VN"), counts(-1, "-12.50")),
    ]


def test_weeks_never_reported_or_outside_the_window_have_no_late_change() -> None:
    frozen = Frozen({W45: 1}, (FrozenRow(W45, cell(W45, "CN"), counts(10, "1.00")),))
    live = {cell(W45, "CN"): counts(11, "2.00"), cell(W46, "CN"): counts(5, "5.00")}

    assert freeze_rows(W47, live, frozen, [W46]) == []  # W45 is past the window of one week
    assert freeze_rows(W47, live, frozen, [W46, W45]) == [
        FrozenRow(W47, cell(W45, "CN"), counts(1, "1.00"))
    ]


def test_a_frozen_week_publishes_its_snapshot_and_only_the_late_changes_frozen_with_it() -> None:
    frozen = Frozen(
        {W45: 1, W47: 2, W48: 3, W46: 4},  # W46 was first reported after W47 and W48
        (
            FrozenRow(W45, cell(W45, "CN"), counts(10, "1.00")),
            FrozenRow(W47, cell(W45, "CN"), counts(3, "3.00")),  # late, in W47's reports
            FrozenRow(W48, cell(W45, "CN"), counts(5, "5.00")),  # late, in W48's
            FrozenRow(W46, cell(W46, "CN"), counts(30, "30.00")),
            FrozenRow(W47, cell(W47, "VN"), counts(12, "12.00")),
        ),
    )

    content = published(W47, frozen)

    assert content.cells == {cell(W47, "VN"): counts(12, "12.00")}
    assert content.late == {W45: {cell(W45, "CN"): counts(3, "3.00")}}
    assert reported(frozen, W45) == {cell(W45, "CN"): counts(18, "9.00")}


def test_each_weeks_late_changes_are_a_table_of_their_own_oldest_first() -> None:
    late = {  # changes of W45 and W46 reported in W47
        W46: {cell(W46, "CN"): counts(-12, "-150.00")},
        W45: {cell(W45, "VN"): counts(3, "30.00"), cell(W45, "GB"): counts(20, "200.00")},
    }

    built = build_report(
        partner="gb-bf",
        agreement=ShareAgreement(k=10),
        week=W47,
        home_country="US",
        cells={},
        baseline={},
        observations=[],
        generated_at=AT,
        report_id="r-1",
        late=late,
    )

    doc: dict[str, Any] = json.loads(report_bytes(built))

    assert [t["week"] for t in doc["lateArrivals"]] == [W45, W46]
    w45, w46 = doc["lateArrivals"]
    assert late_cells(doc, W45)[row_key(cell(W45, "VN"))]["suppressed"] is True
    assert recoverable(w45) == []
    assert (w46["totals"]["grand"]["items"], w46["totals"]["grand"]["declaredValueUsd"]) == (
        -12,
        "-150.00",
    )
    assert "lateArrivals" in doc["rules"]


# -- the differencing attack ------------------------------------------------------------------


async def test_a_week_rebuilt_after_late_items_returns_the_same_report_and_stores_none() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)
    first = await service(store).build(W47)
    assert [(b.report.partner, b.fresh, b.queued) for b in first] == [
        ("gb-bf", True, True),
        ("ca-cbsa", True, False),
    ]

    await fold(store, LATE_47)
    again = await service(store, at=AT + timedelta(days=1)).build(W47)  # the operator's rebuild

    assert [(b.position, b.report, b.fresh, b.queued) for b in again] == [
        (b.position, b.report, False, False) for b in first
    ]
    assert len(store.report_log) == 2
    assert document(of(again, "gb-bf"))["totals"]["grand"]["items"] == 67  # as first published


async def test_the_next_week_reports_the_late_changes_once_with_their_own_suppression() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)
    await service(store).build(W47)
    await fold(store, LATE_47)

    w48 = await service(store, at=AT + timedelta(days=7)).build(W48)

    late = [r for r in (await store.frozen([W47])).rows if r.report_week == W48]
    assert {r.key: r.counts for r in late} == {
        cell(W47, "CN"): counts(-1, "-12.50"),  # the cancellation
        cell(W47, "CN", "20-40"): counts(1, "25.00"),  # the late item
        cell(W47, "VN"): counts(11, "137.50"),  # 12 late, 1 moved away by the amendment
        cell(W47, "GB"): counts(1, "12.50"),  # the amended item's new cell
    }
    doc = document(of(w48, "gb-bf"))
    assert [t["week"] for t in doc["lateArrivals"]] == [W47]
    published_cells = late_cells(doc, W47)
    assert published_cells[row_key(cell(W47, "CN", "20-40"))]["suppressed"] is True
    assert published_cells[row_key(cell(W47, "GB"))]["suppressed"] is True
    assert published_cells[row_key(cell(W47, "CN"))]["suppressed"] is True
    (table,) = doc["lateArrivals"]
    assert recoverable(table) == []
    assert "25.00" not in json.dumps(table)  # the late item's value appears nowhere
    assert numbers(document(of(w48, "ca-cbsa")))["lateArrivals"] == doc["lateArrivals"]


async def test_a_published_late_change_may_be_negative_and_shows_its_numbers() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)
    await service(store).build(W47)
    cancelled: list[Change] = [(item(n, function=CANCELLATION), item(n)) for n in range(1, 13)]
    await fold(store, cancelled)  # 12 CN items of W47 withdrawn after its report

    w48 = await service(store, at=AT + timedelta(days=7)).build(W48)

    (table,) = document(of(w48, "gb-bf"))["lateArrivals"]
    assert table["week"] == W47
    (change,) = table["cells"]
    assert (change["items"], change["declaredValueUsd"], change["suppressed"]) == (
        -12,
        "-150.00",
        False,
    )
    assert table["totals"]["grand"]["items"] == -12


async def test_late_changes_are_not_repeated_and_later_weeks_report_only_what_is_new() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)
    await service(store).build(W47)
    await fold(store, LATE_47)
    w48 = await service(store, at=AT + timedelta(days=7)).build(W48)
    await fold(store, originals(200, 10) + originals(300, 10, week=W48, origin="VN"))

    again = await service(store, at=AT + timedelta(days=8)).build(W48)
    w49 = await service(store, at=AT + timedelta(days=14)).build(W49)

    assert [b.report for b in again] == [b.report for b in w48]
    assert not any(b.fresh for b in again)
    doc = document(of(w49, "gb-bf"))
    assert [t["week"] for t in doc["lateArrivals"]] == [W47, W48]  # oldest first
    assert list(late_cells(doc, W47)) == [row_key(cell(W47, "CN"))]
    assert late_cells(doc, W47)[row_key(cell(W47, "CN"))]["items"] == 10
    assert late_cells(doc, W48)[row_key(cell(W48, "VN"))]["items"] == 10
    frozen = await store.frozen([W47, W48])
    for week in (W47, W48):  # every change reported exactly once: published = live
        assert reported(frozen, week) == await store.cells([week])
    holds = [r.report.week for r in await store.reports_after("gb-bf", 0, 100)]
    assert holds == [W47, W48, W49]  # one report per week: no two versions to subtract
    for built in (w48, w49):
        for table in document(of(built, "gb-bf"))["lateArrivals"]:
            assert recoverable(table) == []


async def test_late_arrivals_are_always_present() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)

    (built, _) = await service(store).build(W47)

    assert document(built)["lateArrivals"] == []


async def test_a_partner_added_later_gets_the_frozen_numbers_of_the_week() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)
    await service(store).build(W47)
    await fold(store, LATE_47)

    later = await service(store, at=AT + timedelta(days=3), partners=(GB_BF, AU_ABF)).build(W47)

    assert [(b.report.partner, b.fresh) for b in later] == [("gb-bf", False), ("au-abf", True)]
    assert numbers(document(of(later, "au-abf"))) == numbers(document(of(later, "gb-bf")))


async def test_the_trend_baseline_is_what_the_partner_was_sent_never_the_live_cells(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Mapping[str, Mapping[tuple[str, str], int | None]]] = []

    def spy(**kwargs: Any) -> dict[str, object]:
        seen.append(kwargs["baseline"])
        return build_report(**kwargs)

    monkeypatch.setattr("gateway.services.b5_reports.build_report", spy)
    store = InMemoryStore()
    await store.open()
    await fold(store, originals(500, 10, week=W46))  # W46 is never reported
    await week_47(store)
    [w47] = await service(store).build(W47, ["gb-bf"])
    await fold(store, LATE_47)
    await fold(store, originals(600, 10))  # late for W47, after W48's freeze below

    await service(store, at=AT + timedelta(days=7)).build(W48, ["gb-bf"])
    await fold(store, originals(700, 10))
    await service(store, at=AT + timedelta(days=8)).build(W48, ["ca-cbsa"])

    sent = published_pairs(document(w47))
    assert sent == {("CN", "61"): 40, ("GB", "42"): 12, ("VN", "95"): 15}  # the snapshot's
    assert seen[0] == {}  # live cells of W46 exist, but no report showed them
    assert seen[1] == {W47: sent}  # not the 49 CN items W47 holds after its late ones
    assert seen[2] == {}  # ca-cbsa was never sent W47


# -- replicas ---------------------------------------------------------------------------------


class RacingStore(InMemoryStore):
    """The fake store, running `meanwhile` (once) just before the next freeze_week: another
    replica's work landing between this replica's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[object]] | None = None

    async def freeze_week(
        self, report_week: str, rows: Sequence[FrozenRow], *, generation: int
    ) -> bool:
        work, self.meanwhile = self.meanwhile, None
        if work is not None:
            await work()
        return await super().freeze_week(report_week, rows, generation=generation)


async def test_a_replica_losing_the_freeze_builds_from_the_winners_snapshot() -> None:
    store = RacingStore()
    await store.open()
    await week_47(store)
    mine = service(store, partners=(GB_BF, CA_CBSA, AU_ABF))
    theirs = service(store, at=AT + timedelta(minutes=1), partners=(GB_BF,))

    async def other_replica() -> None:
        await fold(store, originals(800, 1))  # folded after this replica read the cells
        await theirs.build(W47)

    store.meanwhile = other_replica
    built = await mine.build(W47)

    assert [(b.report.partner, b.fresh) for b in built] == [
        ("gb-bf", False),
        ("ca-cbsa", True),
        ("au-abf", True),
    ]
    assert (await store.frozen([W47])).numbers == {W47: 1}
    docs = [numbers(document(b)) for b in built]
    assert docs[0] == docs[1] == docs[2]
    assert docs[0]["totals"]["grand"]["items"] == 68  # the winner's snapshot, not 67


async def test_a_week_frozen_meanwhile_is_read_again_so_no_change_is_reported_twice() -> None:
    store = RacingStore()
    await store.open()
    await week_47(store)
    await service(store).build(W47)
    await fold(store, LATE_47)
    other = service(store, at=AT + timedelta(days=7))
    w48: list[Built] = []

    async def other_replica() -> None:
        w48.extend(await other.build(W48))  # reports W47's late changes first

    store.meanwhile = other_replica
    w49 = await service(store, at=AT + timedelta(days=14)).build(W49)

    assert [t["week"] for t in document(of(w48, "gb-bf"))["lateArrivals"]] == [W47]
    assert document(of(w49, "gb-bf"))["lateArrivals"] == []
    frozen = await store.frozen([W47])
    assert frozen.numbers == {W47: 1, W48: 2, W49: 3}
    assert reported(frozen, W47) == await store.cells([W47])


async def test_replicas_building_a_week_at_once_store_one_report_per_partner() -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)

    results = await asyncio.gather(
        *(service(store, at=AT + timedelta(s)).build(W47) for s in range(4))
    )

    assert len(store.report_log) == 2
    assert sum(b.fresh for built in results for b in built) == 2
    assert {tuple(b.report for b in built) for built in results} == {tuple(store.report_log)}


def test_a_negative_late_window_is_refused() -> None:
    with pytest.raises(ValueError, match="late_window"):
        ShareService(
            store=InMemoryStore(),
            signer=DsseSigner(KEY),
            clock=FixedClock(AT),
            partners=PARTNERS,
            home_country="US",
            late_window=-1,
        )


def windowed(store: InMemoryStore, at: datetime, late_window: int) -> ShareService:
    return ShareService(
        store=store,
        signer=DsseSigner(KEY),
        clock=FixedClock(at),
        partners=PARTNERS,
        home_country="US",
        late_window=late_window,
    )


@pytest.mark.parametrize(("late_window", "weeks"), [(0, []), (1, []), (2, [W47]), (8, [W47])])
async def test_late_arrivals_look_back_on_the_window_of_earlier_weeks_only(
    late_window: int, weeks: list[str]
) -> None:
    store = InMemoryStore()
    await store.open()
    await week_47(store)
    await service(store).build(W47)
    await service(store, at=AT + timedelta(days=7)).build(W48)
    await fold(store, LATE_47)  # W47 changes after W48 was reported: two weeks back from W49

    w49 = await windowed(store, AT + timedelta(days=14), late_window).build(W49)

    assert [t["week"] for t in document(of(w49, "gb-bf"))["lateArrivals"]] == weeks


REPO_PARTNERS = Path(__file__).resolve().parents[2] / "partners"


async def test_the_gateway_reports_late_arrivals_within_its_configured_window(
    tmp_path: Path,
) -> None:
    """[share] late_window_weeks reaches the gateway's ShareService: with 1, a W47 change folded
    after W48 was reported is two weeks back from W49 and out of its lateArrivals."""
    settings = Settings(
        data_dir=tmp_path / "data",
        partners_dir=REPO_PARTNERS,
        store=f"sqlite:///{tmp_path / 'gateway.db'}",
        cpu=CpuSettings(workers=0),
        share=ShareSettings(late_window_weeks=1),
    )
    clock = FrozenClock(AT)
    async with build(settings, clock=clock).offline() as gateway:
        await week_47(gateway.store)
        await gateway.share.build(W47)
        clock.set(AT + timedelta(days=7))
        await gateway.share.build(W48)
        await fold(gateway.store, LATE_47)
        clock.set(AT + timedelta(days=14))
        w49 = await gateway.share.build(W49)
        w47 = await gateway.store.frozen([W47])

    keys = gateway.keyring.public_keys()
    _, payload = verify_json_envelope(of(w49, "gb-bf").report.envelope, keys)
    assert json.loads(payload)["lateArrivals"] == []
    assert {r.report_week for r in w47.rows} == {W47}  # W47's change was frozen with no week
