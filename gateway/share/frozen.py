"""Frozen weeks: what a share report week publishes, fixed once, and its late arrivals.

A published week never changes under a partner's feet: two versions of one week's report could
be subtracted, and the difference would expose the cells late items fell into, values included.
So:

- **Freeze.** The first time any report of ISO week N is built, the true cells of N (as folded
  then) are frozen as N's snapshot. Every report of N, for any partner and at any later time,
  is built from the snapshot, never from the live cells; a partner that already has its report
  of N never gets another.
- **Late arrivals.** In the same step, for each earlier week W of the trailing window (the
  `window` ISO weeks before N) that is frozen, the late change of W = the live cells of W now
  minus everything published of W so far (its snapshot and the late changes of W earlier
  freezes reported). These changes are frozen with N's snapshot: each is reported exactly once,
  in the late arrivals of N's reports, as a table of its own with its own suppression. Counts
  and values of a change may be negative (amendments, cancellations).
- **Trend baselines** come from what was published too: the pair totals of the partner's own
  reports of the baseline weeks (gateway/services/b5_reports.py `ShareService.baseline`), never
  the live
  cells (a median over them would leak late items).

Pure functions over the store's `Frozen` rows; the store freezes atomically (first writer wins,
gateway/adapters/store/frozen.py) and gateway/services/b5_reports.py drives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.domain.cells import CellCounts, CellKey, Frozen, FrozenRow

__all__ = ["LATE_WINDOW_WEEKS", "Published", "freeze_rows", "published", "reported"]

LATE_WINDOW_WEEKS = 8  # late changes of a week are reported while it is this recent

Cells = dict[CellKey, CellCounts]


def _summed(rows: Iterable[FrozenRow]) -> Cells:
    out: Cells = {}
    for row in rows:
        out[row.key] = out.get(row.key, CellCounts()) + row.counts
    return {key: counts for key, counts in out.items() if counts != CellCounts()}


def reported(frozen: Frozen, week: str, *, through: int | None = None) -> Cells:
    """Everything published of `week`'s cells: its snapshot plus the late changes of it, from
    the freezes numbered up to `through` (all when None). Empty when it was never reported."""
    return _summed(
        row
        for row in frozen.rows
        if row.key.week == week and (through is None or frozen.numbers[row.report_week] <= through)
    )


def freeze_rows(
    week: str, live: Mapping[CellKey, CellCounts], frozen: Frozen, window: Sequence[str]
) -> list[FrozenRow]:
    """The rows to freeze as `week`'s: its own live cells (its snapshot), then for each week of
    `window` older than `week` and frozen already, live minus reported (its late change).

    `live`: the current cells of `week` and of `window`; `frozen`: read before `live`, with
    the rows of `window`'s weeks.
    """
    own = _summed(FrozenRow(week, key, counts) for key, counts in live.items() if key.week == week)
    rows = [FrozenRow(week, key, counts) for key, counts in sorted(own.items(), key=_order)]
    for earlier in sorted(w for w in set(window) if w < week and w in frozen.numbers):
        before = reported(frozen, earlier)
        now = {key: counts for key, counts in live.items() if key.week == earlier}
        for key in sorted(set(before) | set(now), key=_key):
            change = now.get(key, CellCounts()) - before.get(key, CellCounts())
            if change != CellCounts():
                rows.append(FrozenRow(week, key, change))
    return rows


@dataclass(frozen=True, slots=True)
class Published:
    """What every report of a frozen week publishes of our cells."""

    cells: Cells  # the week's snapshot
    late: dict[str, Cells]  # per earlier week: its late change reported here (non-empty only)
    # per week of `late`: everything published of it before this change (a change of a cell is
    # at least minus this, as no count or value is negative: the audit's floor)
    before: dict[str, Cells] = field(default_factory=dict)


def published(week: str, frozen: Frozen) -> Published:
    """The frozen week's snapshot and the late arrivals it reports.

    `frozen` must hold `week` and its rows. Raises KeyError when `week` is not frozen.
    """
    mine = [row for row in frozen.rows if row.report_week == week]
    late: dict[str, Cells] = {}
    for row in mine:
        if row.key.week != week:
            late.setdefault(row.key.week, {})[row.key] = row.counts
    number = frozen.numbers[week]
    return Published(
        cells={row.key: row.counts for row in mine if row.key.week == week},
        late={w: late[w] for w in sorted(late)},
        before={w: reported(frozen, w, through=number - 1) for w in sorted(late)},
    )


def _key(key: CellKey) -> tuple[str, ...]:
    return (key.week, key.channel, key.origin_country, key.hs_chapter, key.category, key.value_band)


def _order(item: tuple[CellKey, CellCounts]) -> tuple[str, ...]:
    return _key(item[0])
