"""Hand-written fakes of the ports, for unit tests of the layers above them.

`InMemoryStore` honours the whole Store contract and runs the same contract suite as the real
backends (tests/contract). close() then open() keeps the data, as reopening a file would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from gateway.adapters.store.cursors import advance
from gateway.adapters.store.rejections import DEFAULT_MAX_REJECTIONS, bounded, check_max_rejections
from gateway.errors import DuplicateMessage, StoreError
from gateway.ports import (
    ItemState,
    JournalEntry,
    JournalRow,
    MessageRecord,
    RejectionRecord,
    StoredMessage,
)


class InMemoryStore:
    def __init__(self, *, max_rejections: int = DEFAULT_MAX_REJECTIONS) -> None:
        self.messages: dict[tuple[str, str], MessageRecord] = {}
        self.journal: list[JournalEntry] = []  # position = index + 1
        self.cursors: dict[str, int] = {}
        # Oldest first; the deque drops the oldest beyond the bound, as the backends prune.
        self.rejection_log: deque[RejectionRecord] = deque(
            maxlen=check_max_rejections(max_rejections)
        )
        self.is_open = False

    async def open(self) -> None:
        self.is_open = True

    async def close(self) -> None:
        self.is_open = False

    async def ping(self) -> None:
        if not self.is_open:
            raise StoreError("the in-memory store is not open")

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        await self.ping()
        m = self.messages.get((partner, message_id))
        if m is None:
            return None
        return StoredMessage(m.partner, m.message_id, m.content_digest, m.http_status, m.receipt)

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        if stored := await self.find_message(message.partner, message.message_id):
            raise DuplicateMessage(stored)
        self._check_unique(entries)
        refs = {(e.partner, e.message_id) for e in entries} - {
            (message.partner, message.message_id)
        }
        if refs - self.messages.keys():
            raise StoreError(f"FOREIGN KEY constraint failed: entries refer to {refs}")
        self.messages[message.partner, message.message_id] = message
        self.journal.extend(entries)
        return list(range(len(self.journal) - len(entries) + 1, len(self.journal) + 1))

    def _check_unique(self, entries: Sequence[JournalEntry]) -> None:
        all_entries = [*self.journal, *entries]
        if len({e.record_id for e in all_entries}) < len(all_entries):
            raise StoreError("UNIQUE constraint failed: journal.record_id")
        if len({(e.partner, e.item_id, e.version) for e in all_entries}) < len(all_entries):
            raise StoreError("UNIQUE constraint failed: journal.partner, item_id, version")

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        await self.ping()
        wanted, states = set(item_ids), dict[str, ItemState]()
        mine = [e for e in self.journal if e.partner == partner and e.item_id in wanted]
        for e in sorted(mine, key=lambda e: e.version):
            states[e.item_id] = ItemState(e.version, e.function)
        return states

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        await self.ping()
        start = max(after, 0)
        chosen = self.journal[start : start + max(limit, 0)]
        return [JournalRow(start + i + 1, e) for i, e in enumerate(chosen)]

    async def last_position(self) -> int:
        await self.ping()
        return len(self.journal)

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        rows = await self.read_journal(0, len(self.journal))
        return [
            r for r in rows if r.entry.item_id == item_id and partner in {None, r.entry.partner}
        ]

    async def get_cursor(self, consumer: str) -> int:
        await self.ping()
        return self.cursors.get(consumer, 0)

    async def ack(self, consumer: str, position: int) -> None:
        current = await self.get_cursor(consumer)
        self.cursors[consumer] = advance(consumer, current, position, len(self.journal))

    async def record_rejection(self, rejection: RejectionRecord) -> None:
        kept = bounded(rejection)
        await self.ping()
        self.rejection_log.append(kept)

    async def rejections(self, limit: int = 100) -> list[RejectionRecord]:
        await self.ping()
        return list(reversed(self.rejection_log))[: max(limit, 0)]
