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
from gateway.ports import RecordRow, Store
from gateway.share.aggregate import increments
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.envelope_pb2 import SignedEnvelope

log = logging.getLogger(__name__)


def declaration_in(envelope: bytes) -> Declaration:
    """The canonical record a journal envelope carries (the gateway signed it; no
    re-verification)."""
    return Declaration.FromString(SignedEnvelope.FromString(envelope).payload)


class Aggregator:
    def __init__(self, store: Store, *, page: int = 1000) -> None:
        self._store, self._page = store, page

    async def catch_up(self) -> int:
        """Fold every journal record after the aggregation position; the records folded."""
        folded = 0
        while True:
            after = await self._store.aggregation_position()
            rows = await self._store.read_records(after, self._page)
            if not rows:
                return folded
            changes = [
                (declaration_in(row.envelope), await self._previous(row))
                if row.function is not ItemFunction.ORIGINAL
                else (declaration_in(row.envelope), None)
                for row in rows
            ]
            try:
                await self._store.apply_aggregation(after, rows[-1].position, increments(changes))
            except StoreError:
                log.info("aggregation position moved under us; re-reading", exc_info=True)
                continue
            folded += len(rows)

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
