"""The aggregation rules every store backend applies the same way.

`apply_aggregation(after, upto, increments)` is a compare-and-set on the aggregation position:

- ValueError (a caller's bug, nothing applied) when `upto < after`, when `upto` is beyond the
  journal's last position, or when there are increments but `upto == after` (the position must
  move with the counts, or a second worker could apply them again).
- `AggregationMoved` (a StoreError: retriable, re-read and retry) when the stored position is not
  `after`; nothing is applied.
- Otherwise every increment is added to its cell (negative increments subtract) and the position
  becomes `upto`, in one transaction. Values are summed as Decimals, never floats, with a
  precision far beyond any amount. A cell whose counts all return to zero is deleted, so
  `cells()` never reports an all-zero cell: an absent cell means zero. Counts are not clamped at
  zero (a negative count would be reported as it is rather than wedge the aggregator).

`read_fold(after, limit)` is what the aggregation folds: the journal's records (`RecordRow`,
as `read_records` gives them) and the decisions (`DecisionMark`: position, partner, item) with
position > after, in ONE position order, at most `limit`, read in one statement (one
snapshot, as `read_feed`: a reader never skips a row that commits later below what it saw).
Answers and NO_AED events are left out: they change no cell. A decision's detection is folded
with the cells, under the same aggregation position (gateway/services/cell_folding.py).
"""

from __future__ import annotations

from decimal import localcontext

from gateway.domain.cells import CellCounts

AGGREGATION = "aggregation"  # its row in the `positions` table
_PRECISION = 60  # significant digits while summing values: no rounding for any real amount
_ZERO = CellCounts()


def check_span(after: int, upto: int, *, has_increments: bool, last_position: int) -> None:
    if upto < after:
        raise ValueError(f"aggregation cannot move backward from {after} to {upto}")
    if upto > last_position:
        raise ValueError(f"aggregation cannot move to {upto}: the journal ends at {last_position}")
    if has_increments and upto == after:
        raise ValueError(f"increments must move the aggregation position past {after}")


def add(current: CellCounts, increment: CellCounts) -> CellCounts | None:
    """The cell's counts after `increment`, or None when they are all zero (delete the cell)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        total = current + increment
    return None if total == _ZERO else total
