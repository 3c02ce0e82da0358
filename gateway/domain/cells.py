"""The B5 trend cells: partner feeds' observations, the gateway's own aggregation cells and
their counts, and the cells the share reports froze (semantics of freezing:
gateway/adapters/store/frozen.py). Values only: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ObservationEntry:
    """One accepted B5 feed row as a canonical trend observation, with its cell attributes."""

    observation_id: str  # stable for (partner, feed digest, row)
    partner: str
    reporter: str  # ISO country of the counting agency
    week: str  # ISO week "2026-W47"
    channel: str
    origin_country: str
    hs_chapter: str
    category: str
    value_band: str
    items: int
    declared_value_usd: Decimal | None  # None when no rate covered the period
    de_minimis_items: int
    detections: int
    record: bytes  # serialized aedgw.v1.TrendObservation


@dataclass(frozen=True, slots=True)
class CellKey:
    """One aggregation cell of the gateway's own accepted items."""

    week: str
    channel: str
    origin_country: str
    hs_chapter: str
    category: str
    value_band: str  # "" when the item's USD value is unknown (rate missing)


@dataclass(frozen=True, slots=True)
class CellCounts:
    """Additive counts of a cell; increments may be negative (amendments, cancellations)."""

    items: int = 0
    declared_value_usd: Decimal = Decimal(0)
    de_minimis_items: int = 0
    pre_suspension_items: int = 0  # would have qualified under the last rule before a suspension
    detections: int = 0
    rate_missing: int = 0

    def __add__(self, other: CellCounts) -> CellCounts:
        return CellCounts(
            self.items + other.items,
            self.declared_value_usd + other.declared_value_usd,
            self.de_minimis_items + other.de_minimis_items,
            self.pre_suspension_items + other.pre_suspension_items,
            self.detections + other.detections,
            self.rate_missing + other.rate_missing,
        )

    def __sub__(self, other: CellCounts) -> CellCounts:
        return CellCounts(
            self.items - other.items,
            self.declared_value_usd - other.declared_value_usd,
            self.de_minimis_items - other.de_minimis_items,
            self.pre_suspension_items - other.pre_suspension_items,
            self.detections - other.detections,
            self.rate_missing - other.rate_missing,
        )


@dataclass(frozen=True, slots=True)
class FrozenRow:
    """A cell as one share report week froze it (Store.freeze_week).

    `key.week == report_week`: a cell of the report week's own snapshot, as it was folded when
    the week's first report was built. `key.week < report_week`: a late change of an earlier,
    already reported week, published in the late arrivals of `report_week`'s reports; its
    counts and value may be negative (amendments, cancellations).
    """

    report_week: str
    key: CellKey
    counts: CellCounts


@dataclass(frozen=True, slots=True)
class Frozen:
    """What the share reports froze, read in one consistent step (Store.frozen).

    `numbers`: EVERY frozen report week with its freeze number (1, 2, 3 … in the order the
    weeks were frozen); `rows`: the frozen rows whose cell week was asked for, of any report
    week. `generation` (the number of weeks frozen) is `freeze_week`'s compare-and-set token.
    """

    numbers: Mapping[str, int]
    rows: tuple[FrozenRow, ...]

    @property
    def generation(self) -> int:
        return len(self.numbers)
