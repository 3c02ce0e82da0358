"""Trends against the trailing ISO weeks, with a robust z-score (gateway.share.trends)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import pytest

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.weeks import trailing
from gateway.share.trends import Direction, Trend, TrendConfig, flagged, pair_counts, trends

Cells = Mapping[CellKey, CellCounts]


def cells(
    week: str, items: int, origin: str = "CN", chapter: str = "61"
) -> dict[CellKey, CellCounts]:
    """A pair's items in a week, split over two cells so sums over other dimensions are tested."""
    if items == 0:
        return {}
    half = items // 2
    return {
        CellKey(week, "POST", origin, chapter, "GIFT", "0-20"): CellCounts(items=half),
        CellKey(week, "POST", origin, chapter, "SALE_OF_GOODS", "20-40"): CellCounts(
            items=items - half
        ),
    }


Baseline = dict[str, dict[tuple[str, str], int | None]]


def published(week: str, items: int | None, origin: str = "CN", chapter: str = "61") -> Baseline:
    """One reported week in which a pair's total was published as `items` (None: suppressed;
    0: the pair absent from that week's report)."""
    return {week: {} if items == 0 else {(origin, chapter): items}}


def trend_for(
    week: str, now: int, baseline: Sequence[int | None], **config: Decimal | int
) -> Trend:
    weeks = trailing(week, len(baseline))
    reported: Baseline = {}
    for w, n in zip(weeks, baseline, strict=True):
        reported |= published(w, n)
    [trend] = trends(week, cells(week, now), reported, TrendConfig(**config))  # type: ignore[arg-type]
    return trend


def test_pair_counts_sum_items_over_the_other_dimensions() -> None:
    assert pair_counts(cells("2026-W47", 7)) == {("CN", "61"): 7}


def test_a_week_far_above_a_noisy_baseline_is_a_surge_with_its_robust_z() -> None:
    trend = trend_for("2026-W47", 40, [10, 12, 11, 9, 10, 13, 11, 10])
    assert trend.median == Decimal("10.5")
    assert trend.mad == Decimal("0.5")  # |h - 10.5| sorted: .5 .5 .5 .5 .5 1.5 1.5 2.5
    assert trend.change == Decimal("29.5")
    assert trend.relative_change == Decimal("29.5") / Decimal("10.5")
    assert trend.z == Decimal("29.5") / (Decimal("1.4826") * Decimal("0.5"))
    assert trend.direction is Direction.SURGE


def test_a_week_far_below_the_baseline_is_a_drop() -> None:
    trend = trend_for("2026-W47", 0, [30, 32, 31, 29, 30, 33, 31, 30])
    assert trend.z is not None
    assert trend.z <= Decimal("-3.5")
    assert trend.direction is Direction.DROP


def test_a_change_within_the_threshold_is_steady() -> None:
    trend = trend_for("2026-W47", 12, [10, 12, 11, 9, 10, 13, 11, 10])
    assert trend.direction is Direction.STEADY


def test_the_threshold_is_configurable() -> None:
    baseline = [10, 12, 11, 9, 10, 13, 11, 10]
    # change 2.5, z = 2.5 / (1.4826 * 0.5) = 3.37
    assert trend_for("2026-W47", 13, baseline).direction is Direction.STEADY
    assert trend_for("2026-W47", 13, baseline, threshold=Decimal(3)).direction is Direction.SURGE


def test_a_flat_baseline_leaves_z_undefined_and_flags_any_non_zero_change() -> None:
    flat = [5] * 8
    same, up, down = (trend_for("2026-W47", n, flat) for n in (5, 6, 4))
    assert (same.z, up.z, down.z) == (None, None, None)
    assert same.direction is Direction.STEADY
    assert up.direction is Direction.SURGE
    assert down.direction is Direction.DROP


def test_a_pair_new_this_week_has_no_relative_change() -> None:
    trend = trend_for("2026-W47", 3, [0] * 8)
    assert trend.median == 0
    assert (trend.relative_change, trend.z) == (None, None)
    assert trend.direction is Direction.SURGE


def test_weeks_never_reported_are_left_out_and_weeks_outside_the_window_are_ignored() -> None:
    reported = published("2026-W46", 8) | published("2026-W38", 1000) | published("2026-W44", 0)
    [trend] = trends("2026-W47", cells("2026-W47", 8), reported, TrendConfig(min_history=2))
    assert trend.baseline == (0, 8)  # W44 reported without the pair; W39-43 and W45 never


def test_a_week_whose_report_suppressed_the_pair_is_left_out_of_its_baseline() -> None:
    """Weekly counts 0, 0, 0, 4, 30, 30, 30, 30 with the 4 suppressed in its week's report: a
    median over all eight (17) would give the 4 back as 2 x 17 - 30; over the published seven it
    is 30, a published number."""
    trend = trend_for("2026-W47", 200, [0, 0, 0, None, 30, 30, 30, 30])
    assert trend.baseline == (0, 0, 0, 30, 30, 30, 30)
    assert trend.median == 30


def test_a_pair_with_fewer_published_weeks_than_the_minimum_has_insufficient_history() -> None:
    few = trend_for("2026-W47", 500, [None, None, None, None, None, 5, 6, 5])
    assert few.direction is Direction.INSUFFICIENT_HISTORY
    assert (few.median, few.mad, few.change, few.z) == (None, None, None, None)
    assert trend_for("2026-W47", 500, [5, 6, 5]).direction is Direction.INSUFFICIENT_HISTORY
    enough = trend_for("2026-W47", 500, [None, None, None, None, 6, 5, 6, 5])
    assert enough.direction is Direction.SURGE
    assert trend_for("2026-W47", 500, [5, 6, 5], min_history=3).direction is Direction.SURGE
    surges, drops = flagged([few])
    assert (surges, drops) == ([], [])


def test_the_trailing_weeks_cross_a_53_week_year_end() -> None:
    assert trailing("2027-W02", 8) == [
        "2026-W47",
        "2026-W48",
        "2026-W49",
        "2026-W50",
        "2026-W51",
        "2026-W52",
        "2026-W53",
        "2027-W01",
    ]
    assert trailing("2021-W01", 2) == ["2020-W52", "2020-W53"]
    assert trailing("2024-W01", 1) == ["2023-W52"]  # 2023 has 52 weeks
    reported: Baseline = {w: {} for w in trailing("2027-W02", 8)} | published("2026-W53", 4)
    [trend] = trends("2027-W02", {}, reported)
    assert trend.baseline[6] == 4


def test_every_pair_of_the_week_or_its_baseline_is_reported_in_pair_order() -> None:
    week = "2026-W47"
    now = cells(week, 5, "VN", "95") | cells(week, 5, "CN", "61")
    reported = published("2026-W40", 5, "GB", "42")
    got = [(t.origin_country, t.hs_chapter) for t in trends(week, now, reported)]
    assert got == [("CN", "61"), ("GB", "42"), ("VN", "95")]


def test_flagged_lists_surges_and_drops_apart() -> None:
    week = "2026-W47"
    reported: Baseline = {w: {("CN", "61"): 5, ("VN", "61"): 5} for w in trailing(week, 8)}
    now = cells(week, 50, "CN") | cells(week, 5, "VN") | cells(week, 9, "GB")
    surges, drops = flagged(trends(week, now, reported))
    assert [t.origin_country for t in surges] == ["CN", "GB"]
    assert drops == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"threshold": Decimal(0)}, "positive threshold"),
        ({"weeks": 0}, "positive threshold"),
        ({"min_history": 0}, "min_history"),
        ({"weeks": 4, "min_history": 5}, "min_history"),
    ],
)
def test_a_config_without_positive_threshold_weeks_or_a_feasible_history_is_refused(
    config: dict[str, Decimal | int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TrendConfig(**config)  # type: ignore[arg-type]
