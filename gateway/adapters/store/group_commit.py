"""Group commit, as the SQLite and PostgreSQL stores both do it.

Message commits queue on the event loop and ONE committer task hands them to the store's
`write`, a batch per transaction. A commit that finds the committer idle goes alone at once (no
timer, never waits for company); commits that arrive while a batch is being written are taken
together, the oldest first, up to `BATCH_MESSAGES` messages or about `BATCH_ENTRIES` entries (a
single message holding more goes alone).

`write` commits a batch in one transaction and gives one outcome per commit, in order: its
positions, or the exception that failed that message alone. Every caller learns its outcome
only after `write` returned. When `write` raises (the transaction failed, nothing of it kept)
or the committer is cancelled (the outcome unknown), every caller of the batch, and of the
queue on cancellation, gets a StoreError: no caller is acknowledged, none is left waiting.
Cancelling a caller drops its commit while it queues; one already handed to `write` completes
or fails as a whole regardless.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.domain.journal import MessageRecord
from gateway.errors import StoreError

E = TypeVar("E")
Outcome = list[int] | Exception  # one message of a group commit: its positions, or why it failed

BATCH_MESSAGES = 256  # at most this many messages share one transaction (one fsync)
BATCH_ENTRIES = 20_000  # nor more entries than this, unless a single message holds more


@dataclass(slots=True, eq=False)
class Commit(Generic[E]):
    """One `commit_message` call waiting for its group commit."""

    message: MessageRecord
    entries: Sequence[E]  # as the store writes them (entries, or rows made of them)
    done: asyncio.Future[list[int]]


class GroupCommitter(Generic[E]):
    """The commit queue of one store and the task that empties it through `write`.

    A failure reaches its caller as it is when it is one of `passed`, else as a StoreError
    naming `store` (with the failure as its cause). With `one_per_message`, a batch holds at
    most one commit per (partner, message id): a second one waits for the next batch, where it
    finds the first stored.
    """

    def __init__(
        self,
        write: Callable[[list[Commit[E]]], Awaitable[list[Outcome]]],
        *,
        store: str,
        passed: tuple[type[Exception], ...],
        one_per_message: bool = False,
    ) -> None:
        self._write, self._store, self._passed = write, store, passed
        self._one_per_message = one_per_message
        self._pending: deque[Commit[E]] = deque()  # commits not yet handed to `write`
        self._committer: asyncio.Task[None] | None = None  # runs while `_pending` is not empty

    async def commit(self, message: MessageRecord, entries: Sequence[E]) -> list[int]:
        """Queue the message for the next batch; its positions once that batch committed."""
        commit = Commit(message, entries, asyncio.get_running_loop().create_future())
        self._pending.append(commit)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_pending(), name="store-commit")
        return await commit.done

    async def drain(self) -> None:
        """Wait until the commits queued so far have been written (or failed)."""
        if self._committer is not None:
            await asyncio.wait([self._committer])

    async def _commit_pending(self) -> None:
        """Write the queued commits, a batch per transaction, until none is left."""
        try:
            while self._pending:
                batch = self._take_batch()
                if not batch:
                    continue
                try:
                    outcomes = await self._write(batch)
                except BaseException as exc:
                    # The transaction failed (nothing of it kept), or this task was cancelled
                    # with its outcome unknown: either way no caller is acknowledged.
                    for commit in batch:
                        self._settle(commit, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for commit, outcome in zip(batch, outcomes, strict=True):
                    self._settle(commit, outcome)
        except BaseException as exc:  # cancelled (loop shutdown): no caller is left waiting
            for commit in self._pending:
                self._settle(commit, exc)
            self._pending.clear()
            raise
        finally:
            self._committer = None

    def _take_batch(self) -> list[Commit[E]]:
        """The oldest pending commits that fit one transaction; those whose caller left dropped."""
        batch: list[Commit[E]] = []
        keys: set[tuple[str, str]] = set()  # stays empty unless `one_per_message`
        entries = 0
        while self._pending and len(batch) < BATCH_MESSAGES:
            commit = self._pending[0]
            key = (commit.message.partner, commit.message.message_id)
            if batch and (entries + len(commit.entries) > BATCH_ENTRIES or key in keys):
                break
            self._pending.popleft()
            if not commit.done.done():  # done already: its caller was cancelled while it queued
                batch.append(commit)
                entries += len(commit.entries)
                if self._one_per_message:
                    keys.add(key)
        return batch

    def _settle(self, commit: Commit[E], outcome: Outcome | BaseException) -> None:
        if commit.done.done():  # the caller was cancelled; the commit completed regardless
            return
        if isinstance(outcome, list):
            commit.done.set_result(outcome)
        elif isinstance(outcome, self._passed):
            commit.done.set_exception(outcome)
        else:
            reason = str(outcome) or type(outcome).__name__  # a bare CancelledError says nothing
            error = StoreError(f"{self._store}: {reason}")
            error.__cause__ = outcome
            commit.done.set_exception(error)
