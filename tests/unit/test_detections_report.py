"""Detections in the share report: a measure of the cell like the others. A cell suppressed
for its items hides its detections too, and no published number (cells, totals, the combined
view) lets a partner compute the detections of a suppressed cell more closely than the audit
allows (min(k, true): never pinned when there is one), checked by an attacker's model of its
own (tests/detections.py: items and detections solved together, integer programmes)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.partners import ShareAgreement
from gateway.share.disclosure import Audit
from gateway.share.report import CELL_DIMENSIONS, build_report
from tests.detections import hidden_detection_bounds

WEEK = "2026-W47"
AT = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
DIMENSIONS = CELL_DIMENSIONS


def _cell(origin: str, chapter: str, band: str, category: str = "SALE_OF_GOODS") -> CellKey:
    return CellKey(WEEK, "POST", origin, chapter, category, band)


def _counts(items: int, detections: int) -> CellCounts:
    return CellCounts(items, Decimal(items) * Decimal("14.20"), items // 2, 0, detections, 0)


def _report(
    cells: dict[CellKey, CellCounts], k: int = 10, audits: list[Audit] | None = None
) -> dict[str, Any]:
    return build_report(
        partner="gb-bf",
        agreement=ShareAgreement(k=k, combined_view=True),
        week=WEEK,
        home_country="US",
        cells=cells,
        baseline={},
        observations=[],
        generated_at=AT,
        report_id="r-1",
        audits=audits,
    )


def _key(entry: dict[str, Any]) -> CellKey:
    return CellKey(
        entry["week"], entry["channel"], entry["originCountry"], entry["hsChapter"],
        entry["category"], entry["valueBand"],
    )  # fmt: skip


def _check(doc: dict[str, Any], cells: dict[CellKey, CellCounts]) -> int:
    """Assert what the report shows and hides of detections; the suppressed cells with some."""
    k = int(doc["k"])
    for entry in doc["cells"]:
        if entry["suppressed"]:
            assert not set(entry) & {"items", "detections"}
        else:
            assert entry["detections"] == cells[_key(entry)].detections
            assert entry["items"] >= k
    bounds = hidden_detection_bounds(doc)
    hidden_with_some = 0
    for dims, (low, high) in bounds.items():
        true = cells[CellKey(*dims)].detections
        assert low <= true <= high
        assert high - low >= min(k, true), (dims, true, low, high)
        hidden_with_some += true > 0
    return hidden_with_some


def test_a_small_cell_hides_its_detections_and_the_totals_do_not_give_them_away() -> None:
    cells = {
        _cell("CN", "61", "0-20"): _counts(40, 0),
        _cell("CN", "61", "20-40"): _counts(3, 2),  # suppressed: 3 items, 2 detections
        _cell("CN", "95", "0-20"): _counts(25, 0),
        _cell("VN", "95", "0-20"): _counts(30, 1),
        _cell("VN", "95", "20-40"): _counts(12, 0),
        _cell("GB", "42", "0-20"): _counts(18, 0),
    }
    audits: list[Audit] = []
    doc = _report(cells, audits=audits)

    [small] = [e for e in doc["cells"] if (e["originCountry"], e["valueBand"]) == ("CN", "20-40")]
    assert small["suppressed"]
    assert _check(doc, cells) >= 1
    # The gateway's own audit proved the detections measure as it proves the others: the small
    # cell's 2 detections stay uncertain by at least min(k, 2).
    assert audits[0].ok
    [bound] = [
        b
        for b in audits[0].bounds
        if b.measure == "detections" and b.key == tuple(small[d] for d in DIMENSIONS)
    ]
    assert bound.true == 2
    assert bound.required == 2
    assert bound.width >= 2


@pytest.mark.parametrize("seed", range(6))
def test_no_hidden_detections_value_is_recoverable_from_random_weeks(seed: int) -> None:
    rng = random.Random(seed)
    cells: dict[CellKey, CellCounts] = {}
    for origin in ("CN", "VN", "GB", "US"):
        for chapter in ("61", "95"):
            for band in ("0-20", "20-40", "40-100"):
                if rng.random() < 0.8:
                    items = rng.choice((1, 2, 3, 5, 8, 12, 20, 40))
                    detections = min(items, rng.choice((0, 0, 1, 2, 3, 6)))
                    cells[_cell(origin, chapter, band)] = _counts(items, detections)
    doc = _report(cells)
    _check(doc, cells)


def test_the_attackers_model_pins_a_cell_the_published_numbers_would_give_away() -> None:
    """The checker above is no formality: were every other cell published, the grand total
    would give the last hidden cell's detections exactly, and it says so."""
    cells = {
        _cell("CN", "61", "0-20"): _counts(40, 0),
        _cell("CN", "61", "20-40"): _counts(3, 2),
        _cell("VN", "95", "0-20"): _counts(30, 1),
        _cell("GB", "42", "0-20"): _counts(18, 0),
    }
    doc = _report(cells)
    hidden = [e for e in doc["cells"] if e["suppressed"]]
    assert len(hidden) >= 2
    for entry in hidden[1:]:  # published as if suppression had stopped at one cell
        counts = cells[_key(entry)]
        entry |= {"suppressed": False, "items": counts.items, "detections": counts.detections}
    assert not doc["totals"]["grand"]["suppressed"]
    true = cells[_key(hidden[0])].detections
    assert hidden_detection_bounds(doc) == {tuple(hidden[0][d] for d in DIMENSIONS): (true, true)}
