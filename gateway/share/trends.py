"""Trends: for each (origin, HS chapter), the week's items against the trailing ISO weeks.

A trend is computed only from what the partner was sent: the baseline holds, per trailing ISO
week reported to it, the (origin, HS chapter) totals as that week's report published them. A
trailing week never reported is left out of every baseline (not counted as 0); a week whose report
suppressed a pair's total is left out of that pair's baseline; a pair absent from a reported week
counts 0 there (its report shows it absent). So every statistic is a function of published
numbers, and gives nothing suppressed away. ISO arithmetic crosses year ends and 53-week years.

A pair with fewer than `min_history` baseline weeks has INSUFFICIENT_HISTORY: no statistics, never
a surge or a drop. Otherwise, for x items this week and counts h1..hn in its baseline weeks:

- baseline median m = median(h), MAD = median(|h_i - m|);
- change = x - m (absolute), relative change = change / m (None when m = 0);
- robust z = change / (1.4826 * MAD). When MAD = 0 the baseline is flat and z is None; such a
  pair is flagged whenever change != 0 (a departure from a flat baseline is beyond any finite
  threshold), and never when change = 0;
- a surge is z >= threshold, a drop z <= -threshold (default threshold 3.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from statistics import median

from gateway.domain.cells import CellCounts, CellKey
from gateway.domain.weeks import trailing

__all__ = [
    "MAD_SCALE",
    "Direction",
    "Pair",
    "Trend",
    "TrendConfig",
    "flagged",
    "pair_counts",
    "trends",
]

MAD_SCALE = Decimal("1.4826")  # makes the MAD a consistent estimator of a normal's sigma

Pair = tuple[str, str]  # (origin_country, hs_chapter)


class Direction(StrEnum):
    SURGE = "SURGE"
    DROP = "DROP"
    STEADY = "STEADY"
    INSUFFICIENT_HISTORY = "INSUFFICIENT_HISTORY"


@dataclass(frozen=True, slots=True)
class TrendConfig:
    threshold: Decimal = Decimal("3.5")  # |z| at or beyond which a pair is flagged
    weeks: int = 8  # trailing ISO weeks in the baseline
    min_history: int = 4  # published baseline weeks a pair needs for a trend

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.weeks < 1:
            raise ValueError("a trend needs a positive threshold and at least one trailing week")
        if not 1 <= self.min_history <= self.weeks:
            raise ValueError(
                f"min_history must be within 1..{self.weeks} (the baseline weeks), "
                f"not {self.min_history}"
            )


@dataclass(frozen=True, slots=True)
class Trend:
    """One (origin, HS chapter) pair's week against its baseline (see the module docstring)."""

    origin_country: str
    hs_chapter: str
    items: int
    baseline: tuple[int, ...]  # items per published baseline week, oldest first
    median: Decimal | None  # None (like every statistic) with INSUFFICIENT_HISTORY
    mad: Decimal | None
    change: Decimal | None
    relative_change: Decimal | None
    z: Decimal | None
    direction: Direction


def pair_counts(cells: Mapping[CellKey, CellCounts]) -> dict[Pair, int]:
    """Items per (origin_country, hs_chapter), summed over the other dimensions."""
    out: dict[Pair, int] = {}
    for key, counts in cells.items():
        pair = (key.origin_country, key.hs_chapter)
        out[pair] = out.get(pair, 0) + counts.items
    return out


def _median(values: Iterable[Decimal]) -> Decimal:
    return Decimal(median(values))


def direction_of(change: Decimal, z: Decimal | None, threshold: Decimal) -> Direction:
    """SURGE/DROP beyond the threshold; with a flat baseline (z None), any non-zero change."""
    score, limit = (change, Decimal(0)) if z is None else (z, threshold)
    if score > 0 and score >= limit:
        return Direction.SURGE
    if score < 0 and score <= -limit:
        return Direction.DROP
    return Direction.STEADY


def trend_of(
    pair: Pair, items: int, baseline: Sequence[int], threshold: Decimal, min_history: int = 1
) -> Trend:
    """The statistics of one pair; INSUFFICIENT_HISTORY (no statistics) with fewer than
    `min_history` baseline weeks."""
    if len(baseline) < max(min_history, 1):
        return Trend(
            origin_country=pair[0],
            hs_chapter=pair[1],
            items=items,
            baseline=tuple(baseline),
            median=None,
            mad=None,
            change=None,
            relative_change=None,
            z=None,
            direction=Direction.INSUFFICIENT_HISTORY,
        )
    m = _median(Decimal(h) for h in baseline)
    mad = _median(abs(Decimal(h) - m) for h in baseline)
    change = Decimal(items) - m
    z = None if mad == 0 else change / (MAD_SCALE * mad)
    return Trend(
        origin_country=pair[0],
        hs_chapter=pair[1],
        items=items,
        baseline=tuple(baseline),
        median=m,
        mad=mad,
        change=change,
        relative_change=None if m == 0 else change / m,
        z=z,
        direction=direction_of(change, z, threshold),
    )


def trends(
    week: str,
    cells: Mapping[CellKey, CellCounts],
    baseline: Mapping[str, Mapping[Pair, int | None]],
    config: TrendConfig = TrendConfig(),
) -> list[Trend]:
    """Every pair seen this week or in a reported trailing week, sorted by pair.

    `baseline` maps each ISO week reported to the partner to its published pair totals (None:
    suppressed); weeks outside the trailing `config.weeks` are ignored (see the module docstring).
    """
    now = pair_counts(cells)
    reported = [baseline[w] for w in trailing(week, config.weeks) if w in baseline]
    pairs = sorted(set(now).union(*reported))
    out = []
    for pair in pairs:
        published = [week_pairs.get(pair, 0) for week_pairs in reported]
        history = [n for n in published if n is not None]
        out.append(trend_of(pair, now.get(pair, 0), history, config.threshold, config.min_history))
    return out


def flagged(all_trends: Iterable[Trend]) -> tuple[list[Trend], list[Trend]]:
    """(surges, drops), each in pair order."""
    listed = list(all_trends)
    return (
        [t for t in listed if t.direction is Direction.SURGE],
        [t for t in listed if t.direction is Direction.DROP],
    )
