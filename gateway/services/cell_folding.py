"""Keeps the share cells current: folds new journal records into ISO-week cells, incrementally.

The aggregation position is stored with the cells, and `apply_aggregation` moves it only from the
position this worker read, in the same transaction as the increments: an hour of new items costs
an hour of work, a restart resumes where it stopped, and two replicas never count a record twice.

Each record is folded from the store's rows, in journal order, as before; what this process
committed itself usually comes with its contribution (cell and counts) already computed where it
was valued (`expect`), so its envelope need not be parsed again. Any other record (another
replica's, one committed before a restart, a streamed document's) is parsed: the same figures.

B5 detections fold in the same pass and under the same position: the store's `read_fold` gives
the decisions in the journal's order among the records. An item counts one detection, in the
cell it is counted in (its latest accepted version's), while `domain.decisions.detection_of` of
its decisions gives one. Every change is computed from the item's own rows up to the position
being folded, never from what the fold remembers, so replicas and restarts agree:

- a decision: the item's detection before it and with it (its decisions below and up to its
  position); when that changes, +1 or -1 in the cell of the item's version current then (none
  when cancelled);
- an AMENDMENT or CANCELLATION of an item detected at that point: its detection leaves the
  cell of the version replaced, and an amendment brings it to the new version's cell;
- an ORIGINAL carries none: no decision can precede an item's first version.

An answer marking a request answered changes no detection (an answered request is no refusal),
so the decisions read later give the same result. The rows each page needs of an item (its
decisions, its versions) are read once per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

from gateway.domain.decisions import StoredDecision, detection_of
from gateway.domain.journal import DecisionMark, JournalRow, RecordRow
from gateway.domain.messages import ItemFunction
from gateway.domain.notify import JournalNotifier
from gateway.errors import StoreError
from gateway.ports import CellStore, DecisionStore, JournalStore
from gateway.share.aggregate import (
    Change,
    Contribution,
    DetectionTerm,
    detection_increments,
    increments,
    merged,
)
from gateway.wire.declaration_pb2 import CANCELLATION, Declaration
from gateway.wire.envelope_pb2 import SignedEnvelope

log = logging.getLogger(__name__)


def declaration_in(envelope: bytes) -> Declaration:
    """The canonical record a journal envelope carries (the gateway signed it; no
    re-verification)."""
    return Declaration.FromString(SignedEnvelope.FromString(envelope).payload)


# Contributions kept for records not folded yet: bounded, as the fold may lag (or another
# replica fold them); past it the fold parses the records instead.
EXPECTED_MAX = 200_000


class FoldingStore(JournalStore, DecisionStore, CellStore, Protocol):
    """The store roles folding uses: the journal and the decisions it reads, the cells it folds
    them into."""


class _Page:
    """What one page's fold read of each item (the rows of a page are all below the position
    it folds to, and an item's rows at or below it never change): read once per item."""

    def __init__(self, store: FoldingStore) -> None:
        self._store = store
        self._decisions: dict[tuple[str, str], list[StoredDecision]] = {}
        self._history: dict[tuple[str, str], list[JournalRow]] = {}
        self._parsed: dict[int, Declaration] = {}

    async def detected(self, partner: str, item_id: str, below: int) -> bool:
        """Whether the item counts a detection with its decisions below `below`."""
        key = (partner, item_id)
        decisions = self._decisions.get(key)
        if decisions is None:
            decisions = self._decisions[key] = await self._store.item_decisions(*key)
        return detection_of(d for d in decisions if d.position < below) is not None

    async def version_before(self, partner: str, item_id: str, below: int) -> Declaration | None:
        """The item's journaled version current just below `below` (None: no version yet)."""
        key = (partner, item_id)
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = await self._store.item_history(item_id, partner)
        earlier = [row for row in history if row.position < below]
        if not earlier:
            return None
        row = earlier[-1]
        parsed = self._parsed.get(row.position)
        if parsed is None:
            parsed = self._parsed[row.position] = declaration_in(row.entry.envelope)
        return parsed


class Aggregator:
    def __init__(
        self, store: FoldingStore, *, page: int = 1000, expected_max: int = EXPECTED_MAX
    ) -> None:
        self._store, self._page, self._expected_max = store, page, expected_max
        # In commit order (about position order): the oldest are dropped first, in O(1).
        self._expected: OrderedDict[int, Contribution] = OrderedDict()

    def expect(self, committed: Iterable[tuple[int, Contribution]]) -> None:
        """Records this process just committed, by position, with their contributions."""
        if len(self._expected) < self._expected_max:
            self._expected.update(committed)

    def _forget_through(self, position: int) -> None:
        """Drop what was expected at or before `position` (folded already, maybe elsewhere)."""
        expected = self._expected
        while expected and (first := next(iter(expected))) <= position:
            del expected[first]

    async def catch_up(self) -> int:
        """Fold every journal record and decision after the aggregation position; the rows
        folded."""
        folded = 0
        while True:
            after = await self._store.aggregation_position()
            self._forget_through(after)
            rows = await self._store.read_fold(after, self._page)
            if not rows:
                return folded
            page = _Page(self._store)
            changes: list[Change] = []
            detections: list[DetectionTerm] = []
            for row in rows:
                if isinstance(row, DecisionMark):
                    detections += await self._decided(row, page)
                elif row.function is ItemFunction.ORIGINAL:
                    changes.append(self._original(row))
                else:
                    change = await self._change(row, page)
                    changes.append(change)
                    if await page.detected(row.partner, row.item_id, row.position):
                        detections += _moved(row, change)
            cells = increments(changes)
            if detections:
                cells = merged(cells, detection_increments(detections))
            try:
                await self._store.apply_aggregation(after, rows[-1].position, cells)
            except StoreError:
                log.info("aggregation position moved under us; re-reading", exc_info=True)
                continue
            folded += len(rows)

    def _original(self, row: RecordRow) -> Change:
        expected = self._expected.pop(row.position, None)
        return (expected if expected is not None else declaration_in(row.envelope), None)

    async def _change(self, row: RecordRow, page: _Page) -> Change:
        """An AMENDMENT or CANCELLATION with the version it replaces or withdraws (a
        CANCELLATION adds nothing, so it is never taken as a contribution)."""
        expected = self._expected.pop(row.position, None)
        new = expected if expected is not None and row.function is ItemFunction.AMENDMENT else None
        previous = await page.version_before(row.partner, row.item_id, row.position)
        return (declaration_in(row.envelope) if new is None else new, previous)

    async def _decided(self, row: DecisionMark, page: _Page) -> list[DetectionTerm]:
        """The detection a decision adds to or takes from its item's current cell."""
        if not row.may_detect:
            return []  # no detection among its decisions up to it: nothing changes
        before = await page.detected(row.partner, row.item_id, row.position)
        now = await page.detected(row.partner, row.item_id, row.position + 1)
        if before == now:
            return []
        current = await page.version_before(row.partner, row.item_id, row.position)
        if current is None or current.function == CANCELLATION:
            return []  # nothing counted (a decision never follows a cancellation)
        return [(current, 1 if now else -1)]

    async def run(
        self,
        notifier: JournalNotifier,
        stop: asyncio.Event,
        *,
        poll_s: float = 2.0,
        batch_s: float = 1.0,
    ) -> None:
        """Fold as records arrive: woken by commits (or every `poll_s`, for other replicas'),
        then waiting `batch_s` so a busy journal is folded in batches, not message by message."""
        seen = 0
        while not stop.is_set():
            try:
                await self.catch_up()
            except StoreError:
                log.warning("aggregation paused: store unavailable", exc_info=True)
            seen = max(seen, notifier.latest)
            if await notifier.wait_beyond(seen, timeout=poll_s):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), batch_s)


def _moved(row: RecordRow, change: Change) -> list[DetectionTerm]:
    """A detected item's detection through an AMENDMENT (from the replaced version's cell to
    the new one's) or a CANCELLATION (out of the withdrawn version's cell)."""
    new, previous = change
    terms: list[DetectionTerm] = [] if previous is None else [(previous, -1)]
    if row.function is ItemFunction.AMENDMENT:
        terms.append((new, 1))
    return terms
