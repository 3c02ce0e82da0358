"""The frozen-week rules every store backend applies the same way.

A share report week is frozen once, when its first report is built
(gateway/services/b5_reports.py): the
rows it freezes are its own snapshot (cells of the week itself) and the late changes of earlier
weeks it reports. `freeze_week(report_week, rows, generation=g)` is one transaction:

- ValueError (a caller's bug, nothing written) when a row belongs to another report week,
  counts a cell of a later week than the report week, is all zero, or repeats a cell.
- False, nothing written, when `report_week` is frozen already: the first writer wins, and the
  caller reads the winner's rows (`frozen`).
- `FreezeMoved` (a StoreError: retriable, re-read and retry) when the number of weeks frozen is
  not `g`: another week was frozen since the caller read, and the late changes the caller
  computed may repeat what that week reported. Nothing is written.
- Otherwise the week gets the freeze number g + 1 and its rows are stored; the freeze numbers
  order every freeze, so what had been published of a week when another was frozen is known.

Counts are additive INTEGERs and values Decimal text, as in `cells`; nothing frozen is ever
updated or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain.cells import CellCounts, FrozenRow


def check_rows(report_week: str, rows: Sequence[FrozenRow]) -> None:
    """Raise ValueError unless `rows` may be frozen as `report_week`'s (module docstring)."""
    seen = set()
    for row in rows:
        if row.report_week != report_week:
            raise ValueError(f"a row of {row.report_week} cannot be frozen as {report_week}'s")
        if row.key.week > report_week:
            raise ValueError(f"{report_week} cannot freeze a cell of the later {row.key.week}")
        if row.counts == CellCounts():
            raise ValueError(f"an all-zero cell of {row.key.week} is not frozen")
        if row.key in seen:
            raise ValueError(f"{report_week} freezes the cell {row.key} twice")
        seen.add(row.key)
