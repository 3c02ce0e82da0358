"""Keeps the share cells current: folds new journal records into ISO-week cells, incrementally.

The aggregation position is stored with the cells, and `apply_aggregation` moves it only from the
position this worker read, in the same transaction as the increments: an hour of new items costs
an hour of work, a restart resumes where it stopped, and two replicas never count a record twice.

Each record is folded from the store's rows, in journal order, as before; what this process
committed itself usually comes with its contribution (cell and counts) already computed where it
was valued (`expect`), so its envelope need not be parsed again. Any other record (another
replica's, one committed before a restart, a streamed document's) is parsed: the same figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

from gateway.domain.journal import RecordRow
from gateway.domain.messages import ItemFunction
from gateway.domain.notify import JournalNotifier
from gateway.errors import StoreError
from gateway.ports import CellStore, JournalStore
from gateway.share.aggregate import Change, Contribution, increments
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.envelope_pb2 import SignedEnvelope

log = logging.getLogger(__name__)


def declaration_in(envelope: bytes) -> Declaration:
    """The canonical record a journal envelope carries (the gateway signed it; no
    re-verification)."""
    return Declaration.FromString(SignedEnvelope.FromString(envelope).payload)


# Contributions kept for records not folded yet: bounded, as the fold may lag (or another
# replica fold them); past it the fold parses the records instead.
EXPECTED_MAX = 200_000


class FoldingStore(JournalStore, CellStore, Protocol):
    """The store roles folding uses: the journal it reads and the cells it folds it into."""


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
        """Fold every journal record after the aggregation position; the records folded."""
        folded = 0
        while True:
            after = await self._store.aggregation_position()
            self._forget_through(after)
            rows = await self._store.read_records(after, self._page)
            if not rows:
                return folded
            changes = [
                self._original(row) if row.function is ItemFunction.ORIGINAL
                else await self._change(row)
                for row in rows
            ]  # fmt: skip
            try:
                await self._store.apply_aggregation(after, rows[-1].position, increments(changes))
            except StoreError:
                log.info("aggregation position moved under us; re-reading", exc_info=True)
                continue
            folded += len(rows)

    def _original(self, row: RecordRow) -> Change:
        expected = self._expected.pop(row.position, None)
        return (expected if expected is not None else declaration_in(row.envelope), None)

    async def _change(self, row: RecordRow) -> Change:
        """An AMENDMENT or CANCELLATION with the version it replaces or withdraws (a
        CANCELLATION adds nothing, so it is never taken as a contribution)."""
        expected = self._expected.pop(row.position, None)
        new = expected if expected is not None and row.function is ItemFunction.AMENDMENT else None
        return (declaration_in(row.envelope) if new is None else new, await self._previous(row))

    async def _previous(self, row: RecordRow) -> Declaration | None:
        """The version an amendment replaces or a cancellation withdraws."""
        history = await self._store.item_history(row.item_id, row.partner)
        earlier = [r for r in history if r.position < row.position]
        return declaration_in(earlier[-1].entry.envelope) if earlier else None

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
