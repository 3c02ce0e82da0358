"""Trends: for each (origin, HS chapter), the week's items against the trailing ISO weeks.

For a pair with x items this week and counts h1..h8 in the 8 ISO weeks before it (a week absent
from the history counts 0; ISO arithmetic crosses year ends and 53-week years):

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

from gateway.domain.weeks import trailing
from gateway.ports import CellCounts, CellKey

__all__ = [
    "MAD_SCALE",
    "Direction",
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


@dataclass(frozen=True, slots=True)
class TrendConfig:
    threshold: Decimal = Decimal("3.5")  # |z| at or beyond which a pair is flagged
    weeks: int = 8  # trailing ISO weeks in the baseline

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.weeks < 1:
            raise ValueError("a trend needs a positive threshold and at least one trailing week")


@dataclass(frozen=True, slots=True)
class Trend:
    """One (origin, HS chapter) pair's week against its baseline (see the module docstring)."""

    origin_country: str
    hs_chapter: str
    items: int
    baseline: tuple[int, ...]  # items per trailing week, oldest first
    median: Decimal
    mad: Decimal
    change: Decimal
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


def trend_of(pair: Pair, items: int, baseline: Sequence[int], threshold: Decimal) -> Trend:
    """The statistics of one pair (baseline non-empty)."""
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
    history: Mapping[str, Mapping[CellKey, CellCounts]],
    config: TrendConfig = TrendConfig(),
) -> list[Trend]:
    """Every pair seen this week or in the trailing `config.weeks` ISO weeks, sorted by pair.

    `history` maps an ISO week to its cells; weeks outside the trailing window are ignored and
    a missing trailing week counts 0 items for every pair.
    """
    now = pair_counts(cells)
    before = [pair_counts(history.get(w, {})) for w in trailing(week, config.weeks)]
    pairs = sorted(set(now).union(*before))
    return [
        trend_of(pair, now.get(pair, 0), [b.get(pair, 0) for b in before], config.threshold)
        for pair in pairs
    ]


def flagged(all_trends: Iterable[Trend]) -> tuple[list[Trend], list[Trend]]:
    """(surges, drops), each in pair order."""
    listed = list(all_trends)
    return (
        [t for t in listed if t.direction is Direction.SURGE],
        [t for t in listed if t.direction is Direction.DROP],
    )
