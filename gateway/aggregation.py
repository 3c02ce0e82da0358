"""Keeps the share cells current: folds new journal records into ISO-week cells, incrementally.

The aggregation position is stored with the cells, and `apply_aggregation` moves it only from the
position this worker read, in the same transaction as the increments: an hour of new items costs
an hour of work, a restart resumes where it stopped, and two replicas never count a record twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.domain.messages import ItemFunction
from gateway.domain.notify import JournalNotifier
from gateway.errors import StoreError
from gateway.ports import JournalRow, Store
from gateway.share.aggregate import increments
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.envelope_pb2 import SignedEnvelope

log = logging.getLogger(__name__)


def declaration_of(row: JournalRow) -> Declaration:
    """The canonical record a journal row carries (the gateway signed it; no re-verification)."""
    return Declaration.FromString(SignedEnvelope.FromString(row.entry.envelope).payload)


class Aggregator:
    def __init__(self, store: Store, *, page: int = 1000) -> None:
        self._store, self._page = store, page

    async def catch_up(self) -> int:
        """Fold every journal record after the aggregation position; the records folded."""
        folded = 0
        while True:
            after = await self._store.aggregation_position()
            rows = await self._store.read_journal(after, self._page)
            if not rows:
                return folded
            changes = [(declaration_of(row), await self._previous(row)) for row in rows]
            try:
                await self._store.apply_aggregation(after, rows[-1].position, increments(changes))
            except StoreError:
                log.info("aggregation position moved under us; re-reading", exc_info=True)
                continue
            folded += len(rows)

    async def _previous(self, row: JournalRow) -> Declaration | None:
        """The version this record replaces (amendment) or withdraws (cancellation)."""
        entry = row.entry
        if entry.function is ItemFunction.ORIGINAL:
            return None
        history = await self._store.item_history(entry.item_id, entry.partner)
        earlier = [r for r in history if r.position < row.position]
        return declaration_of(earlier[-1]) if earlier else None

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
