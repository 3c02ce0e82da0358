"""The Feed service: each consumer's routed journal records, in order, with acks and backpressure.

Contract of one `Subscribe` stream:

- The first request must be `subscribe` (else INVALID_ARGUMENT) naming a configured consumer
  (else NOT_FOUND). `resolve_consumer` binds the stream to a consumer: the server passes
  `auth.ConsumerAuth.resolve_consumer`, which with mTLS allows only a consumer the peer
  certificate is (else PERMISSION_DENIED) and without TLS takes the name as stated. Acks
  travel on the stream, so they move only the bound consumer's cursor.
- The server then sends, in journal order, exactly the records the consumer receives
  (`Consumer.receives`: declarations and decisions its `RoutingRule` matches, answers addressed
  to it, NO_AED events from countries it takes), starting after the consumer's persisted
  cursor. Records it does not receive advance a private scan position only.
- `ack(P)` acknowledges every record up to and including P. P must be a position sent on this
  stream (a repeat of an earlier ack is a no-op); anything else is INVALID_ARGUMENT. Acks are
  persisted with `store.ack` coalesced (the highest at most every `ack_flush_interval` seconds)
  and always when the stream ends, whatever the reason.
- At most `max_in_flight` records are sent and not yet acknowledged; the sender waits for acks.
- Delivery is at-least-once: a new stream resumes after the last persisted ack, so records
  after it are sent again. Consumers drop repeats by `record_id`.
- The stream ends with OK when the client half-closes (after its acks are persisted), with
  UNAVAILABLE when the notifier is closed (gateway shutting down: subscribe again, possibly to
  another replica), and with the mapped status of any `GatewayError` (store trouble:
  UNAVAILABLE).

`SubscribeBatched` has exactly this contract, with the records sent several to a `FeedBatch`
message (at most `batch_size`, and never beyond `max_in_flight` unacknowledged records: the
window counts records, not messages); an ack may name any position sent, inside a batch too.

Two streams for the same consumer are allowed (both get every record; the cursor only moves
forward), which is what a consumer failing over between replicas briefly looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from gateway.adapters.grpc.records import feed_record
from gateway.adapters.grpc.status import abort_with
from gateway.domain.notify import JournalNotifier
from gateway.domain.routing import Consumer
from gateway.errors import GatewayError, InputError, NotFound
from gateway.ports import CursorStore, JournalStore
from gateway.wire import feed_pb2, feed_pb2_grpc

Write = Callable[[feed_pb2.FeedRecord], Awaitable[None]]
WriteBatch = Callable[[feed_pb2.FeedBatch], Awaitable[None]]
ConsumerResolver = Callable[[feed_pb2.Subscribe, Any], str]
"""(subscribe message, servicer context) -> consumer name: the identity seam (see module doc)."""


class FeedStore(JournalStore, CursorStore, Protocol):
    """The store roles a feed stream uses: the journal it reads, the cursors it moves."""


@dataclass(frozen=True, slots=True)
class FeedSettings:
    max_in_flight: int = 1000
    page_size: int = 500  # rows per read_feed call
    poll_interval: float = 0.5  # seconds: how soon another replica's commits are seen
    ack_flush_interval: float = 0.05  # seconds between two persisted acks of one stream
    batch_size: int = 256  # most records per SubscribeBatched message
    on_sent: Callable[[str, int], None] | None = None  # (consumer, records) per batch sent


@dataclass(frozen=True, slots=True)
class FeedStreamStats:
    """A snapshot of one open stream, for metrics and tests."""

    consumer: str
    sent: int  # records sent on this stream
    acked: int  # highest position acknowledged on this stream (the start cursor before any)
    persisted: int  # highest position persisted with store.ack
    in_flight: int
    waiting_for_acks: bool  # the sender is held back by max_in_flight


def consumer_from_subscribe(subscribe: feed_pb2.Subscribe, context: Any) -> str:  # noqa: ARG001
    """The interim identity: the consumer name the client states."""
    return subscribe.consumer


class InvalidAck(InputError):
    def __init__(self, position: int) -> None:
        self.position = position
        super().__init__(f"ack of position {position}, which was not sent on this stream")


class _ShuttingDown(Exception):
    pass


class _Session:
    """One Subscribe stream after the subscribe message: sender, ack reader and ack flusher."""

    def __init__(
        self,
        consumer: Consumer,
        start: int,
        store: FeedStore,
        notifier: JournalNotifier,
        settings: FeedSettings,
    ) -> None:
        self.consumer = consumer.name
        self._receives = consumer.receives
        self._store, self._notifier, self._settings = store, notifier, settings
        self._start = start
        self._sent = 0
        self._acked = start
        self._acked_any = False
        self._persisted = start
        self._in_flight: deque[int] = deque()
        self._in_flight_set: set[int] = set()
        self._space = asyncio.Event()
        self._waiting = False
        self._dirty = asyncio.Event()

    def stats(self) -> FeedStreamStats:
        return FeedStreamStats(
            consumer=self.consumer,
            sent=self._sent,
            acked=self._acked,
            persisted=self._persisted,
            in_flight=len(self._in_flight),
            waiting_for_acks=self._waiting,
        )

    async def run(
        self,
        requests: AsyncIterator[feed_pb2.FeedRequest],
        write: Write | None = None,
        write_batch: WriteBatch | None = None,
    ) -> None:
        """Stream until the client half-closes (return) or something ends the stream (raise).

        Records go one per message to `write`, or several per message to `write_batch`.

        Raises the GatewayError that ended it, or _ShuttingDown when the notifier closed.
        Acks received are persisted before this returns or raises.
        """
        reader = asyncio.create_task(self._read_acks(requests))
        tasks = (
            reader,
            asyncio.create_task(
                self._send(write) if write is not None else self._send_batches(_given(write_batch))
            ),
            asyncio.create_task(self._flush_acks()),
            asyncio.create_task(self._notifier.wait_closed()),
        )
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(tasks)
            await self._persist()
        for task in done:
            if (error := task.exception()) is not None:
                raise error
        if reader not in done:
            raise _ShuttingDown

    async def _send(self, write: Write) -> None:
        """Send the routed rows one per message (Subscribe)."""

        async def send_one(records: list[feed_pb2.FeedRecord]) -> None:
            await write(records[0])

        await self._scan(send_one, 1)

    async def _send_batches(self, write: WriteBatch) -> None:
        """Send the routed rows several per message (SubscribeBatched)."""

        async def send_batch(records: list[feed_pb2.FeedRecord]) -> None:
            await write(feed_pb2.FeedBatch(records=records))

        await self._scan(send_batch, self._settings.batch_size)

    async def _scan(
        self, send: Callable[[list[feed_pb2.FeedRecord]], Awaitable[None]], most: int
    ) -> None:
        """Read the journal after the start cursor and `send` the routed rows in order, at most
        `most` records per call and never more than `max_in_flight` unacknowledged."""
        scan = self._start
        page = self._settings.page_size
        receives = self._receives
        on_sent = self._settings.on_sent
        while not self._notifier.closed:
            seen = self._notifier.latest
            rows = await self._store.read_feed(scan, page)
            routed = [row for row in rows if receives(row.entry)]
            if rows:
                scan = rows[-1].position
            start = 0
            while start < len(routed):
                room = await self._wait_for_space()
                chunk = routed[start : start + min(most, room)]
                start += len(chunk)
                records = [feed_record(row) for row in chunk]
                for row in chunk:
                    self._track(row.position)
                await send(records)
                if on_sent is not None:
                    on_sent(self.consumer, len(chunk))
            if len(rows) < page:
                # Caught up: wait for a commit beyond both what was read and what was already
                # notified when reading (so a notification that raced the read is not lost).
                await self._notifier.wait_beyond(max(scan, seen), self._settings.poll_interval)
            else:
                await asyncio.sleep(0)  # a full page of unrouted rows must not starve the loop

    async def _wait_for_space(self) -> int:
        """Wait until fewer than `max_in_flight` records are unacknowledged; return the room."""
        while len(self._in_flight) >= self._settings.max_in_flight:
            self._space.clear()
            self._waiting = True
            await self._space.wait()
        self._waiting = False
        return self._settings.max_in_flight - len(self._in_flight)

    def _track(self, position: int) -> None:
        self._in_flight.append(position)
        self._in_flight_set.add(position)
        self._sent += 1

    async def _read_acks(self, requests: AsyncIterator[feed_pb2.FeedRequest]) -> None:
        async for request in requests:
            if request.WhichOneof("kind") != "ack":
                raise InputError("after subscribe, a feed stream accepts only ack messages")
            self._on_ack(request.ack.position)

    def _on_ack(self, position: int) -> None:
        if position not in self._in_flight_set:
            if self._acked_any and position <= self._acked:
                return  # a repeat of an acknowledged position
            raise InvalidAck(position)
        while self._in_flight and self._in_flight[0] <= position:
            self._in_flight_set.discard(self._in_flight.popleft())
        self._acked, self._acked_any = position, True
        self._space.set()
        self._dirty.set()

    async def _flush_acks(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._persist()
            await asyncio.sleep(self._settings.ack_flush_interval)

    async def _persist(self) -> None:
        acked = self._acked
        if acked > self._persisted:
            await self._store.ack(self.consumer, acked)
            self._persisted = max(self._persisted, acked)


def _given(write_batch: WriteBatch | None) -> WriteBatch:
    if write_batch is None:
        raise TypeError("run needs write or write_batch")
    return write_batch


async def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class FeedService(feed_pb2_grpc.FeedServicer):
    """The Feed servicer. See the module docstring for the stream contract."""

    def __init__(
        self,
        store: FeedStore,
        consumers: Sequence[Consumer],
        notifier: JournalNotifier,
        settings: FeedSettings | None = None,
        resolve_consumer: ConsumerResolver = consumer_from_subscribe,
    ) -> None:
        self._store, self._notifier = store, notifier
        self._consumers = {consumer.name: consumer for consumer in consumers}
        self._settings = settings or FeedSettings()
        self._resolve = resolve_consumer
        self._sessions: set[_Session] = set()

    def streams(self) -> list[FeedStreamStats]:
        """A snapshot of every open stream."""
        return [session.stats() for session in self._sessions]

    # The read/write API (not an async generator) lets records and acks flow concurrently.
    async def Subscribe(  # type: ignore[override]  # noqa: N802 (generated name)
        self,
        request_iterator: AsyncIterator[feed_pb2.FeedRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await self._serve(request_iterator, context, batched=False)

    async def SubscribeBatched(  # type: ignore[override]  # noqa: N802 (generated name)
        self,
        request_iterator: AsyncIterator[feed_pb2.FeedRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await self._serve(request_iterator, context, batched=True)

    async def _serve(
        self,
        request_iterator: AsyncIterator[feed_pb2.FeedRequest],
        context: grpc.aio.ServicerContext,
        *,
        batched: bool,
    ) -> None:
        try:
            session = await self._open(request_iterator, context)
            self._sessions.add(session)
            try:
                if batched:
                    await session.run(request_iterator, write_batch=context.write)
                else:
                    await session.run(request_iterator, context.write)
            finally:
                self._sessions.discard(session)
        except GatewayError as exc:
            await abort_with(context, exc)
        except _ShuttingDown:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down; subscribe again"
            )

    async def _open(
        self, requests: AsyncIterator[feed_pb2.FeedRequest], context: grpc.aio.ServicerContext
    ) -> _Session:
        first = await anext(requests, None)
        if first is None or first.WhichOneof("kind") != "subscribe":
            raise InputError("the first message on a feed stream must be subscribe")
        name = self._resolve(first.subscribe, context)
        consumer = self._consumers.get(name)
        if consumer is None:
            raise NotFound("consumer", name)
        start = await self._store.get_cursor(name)
        return _Session(consumer, start, self._store, self._notifier, self._settings)
