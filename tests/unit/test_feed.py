"""The Feed service over a real grpc.aio server on loopback, with the in-memory store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from gateway.adapters.grpc.client import consume
from gateway.adapters.grpc.record_feed import FeedService, FeedSettings, FeedStreamStats
from gateway.domain.notify import JournalNotifier
from gateway.domain.routing import Consumer, RoutingRule
from gateway.wire import feed_pb2, feed_pb2_grpc
from tests.unit.grpc_fakes import FakeStore, make_entry

GUARD = 10.0  # seconds: only a hang guard, never a measure of speed

GB = Consumer("gb-posts", RoutingRule(partners=frozenset({"gb-royal-mail"})))
DOCS = Consumer("documents", RoutingRule(categories=frozenset({"DOCUMENTS"})))
ALL = Consumer("everything", RoutingRule())
CONSUMERS = (GB, DOCS, ALL)


@asynccontextmanager
async def open_stream(target: str, consumer: str | None) -> AsyncIterator[RawStream]:
    """A RawStream on a new channel, subscribed as `consumer` unless that is None."""
    async with grpc.aio.insecure_channel(target) as channel:
        stream = RawStream(channel)
        if consumer is not None:
            await stream.subscribe(consumer)
        yield stream


@asynccontextmanager
async def feed_server(
    store: FakeStore, notifier: JournalNotifier, **settings: Any
) -> AsyncIterator[tuple[str, FeedService]]:
    """A started server with only the Feed service; stopped (streams cancelled) on exit."""
    server = grpc.aio.server()
    service = FeedService(store, CONSUMERS, notifier, FeedSettings(**settings))
    feed_pb2_grpc.add_FeedServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", service
    finally:
        await server.stop(grace=None)


class RawStream:
    """A hand-driven Subscribe call, for tests that need to control every message."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.call = feed_pb2_grpc.FeedStub(channel).Subscribe()

    async def subscribe(self, consumer: str) -> None:
        await self.call.write(feed_pb2.FeedRequest(subscribe=feed_pb2.Subscribe(consumer=consumer)))

    async def read(self) -> feed_pb2.FeedRecord:
        record = await asyncio.wait_for(self.call.read(), GUARD)
        assert isinstance(record, feed_pb2.FeedRecord), record
        return record

    async def ack(self, position: int) -> None:
        await self.call.write(feed_pb2.FeedRequest(ack=feed_pb2.Ack(position=position)))

    async def status(self) -> grpc.StatusCode:
        """The final status, once the records still in transit are read (grpc needs that)."""
        async with asyncio.timeout(GUARD):
            with contextlib.suppress(grpc.aio.AioRpcError):
                while await self.call.read() is not grpc.aio.EOF:
                    pass
            code: grpc.StatusCode = await self.call.code()
            return code


async def until(predicate: Callable[[], bool]) -> None:
    """Wait until `predicate()` holds (polled), failing after GUARD seconds."""
    async with asyncio.timeout(GUARD):
        while not predicate():  # noqa: ASYNC110 (state owned by the server: no event to await)
            await asyncio.sleep(0.005)


def only_stream(service: FeedService) -> FeedStreamStats:
    (stats,) = service.streams()
    return stats


async def consume_until(target: str, consumer: str, last_record_id: str) -> list[int]:
    """Positions received by `consumer` up to and including the record `last_record_id`."""
    positions: list[int] = []
    stop = asyncio.Event()

    def on_record(record: feed_pb2.FeedRecord) -> None:
        positions.append(record.position)
        if record.record_id == last_record_id:
            stop.set()

    await asyncio.wait_for(consume(target, consumer, on_record=on_record, stop=stop), GUARD)
    return positions


def mixed_journal(store: FakeStore, count: int) -> None:
    """Entries alternating GB / AU partners; every third one is DOCUMENTS."""
    for n in range(1, count + 1):
        partner = "gb-royal-mail" if n % 2 else "au-post"
        category = "DOCUMENTS" if n % 3 == 0 else "SALE_OF_GOODS"
        store.append(make_entry(n, partner=partner, category=category))


async def test_each_consumer_receives_exactly_its_routed_records_in_journal_order() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    mixed_journal(store, 40)
    (last,) = store.append(make_entry(41, category="DOCUMENTS"))  # routed to both: the sentinel
    sentinel = store.rows[-1].entry.record_id
    async with feed_server(store, notifier, page_size=4) as (target, _):
        for consumer in (GB, DOCS):
            expected = [row.position for row in store.rows if consumer.rule.matches(row.entry)]
            assert await consume_until(target, consumer.name, sentinel) == expected
            assert expected[-1] == last
            assert store.cursors[consumer.name] == last


async def test_records_carry_ids_and_the_journaled_envelope() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(make_entry(1, item_id="RB000000001GB", version=2))
    async with feed_server(store, notifier) as (target, _), open_stream(target, ALL.name) as stream:
        record = await stream.read()
    entry = store.rows[0].entry
    assert (record.position, record.record_id, record.item_id, record.version) == (
        1,
        entry.record_id,
        "RB000000001GB",
        2,
    )
    assert record.envelope.SerializeToString() == entry.envelope


async def test_sends_at_most_max_in_flight_until_acknowledged() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(*(make_entry(n) for n in range(1, 21)))
    async with (
        feed_server(store, notifier, max_in_flight=5) as (target, service),
        open_stream(target, ALL.name) as stream,
    ):
        first = [await stream.read() for _ in range(5)]
        await until(lambda: service.streams() != [] and only_stream(service).waiting_for_acks)
        assert only_stream(service).sent == 5
        assert [r.position for r in first] == [1, 2, 3, 4, 5]

        await stream.ack(3)
        more = [await stream.read() for _ in range(3)]
        await until(lambda: only_stream(service).waiting_for_acks)
        stats = only_stream(service)
    assert [r.position for r in more] == [6, 7, 8]
    assert (stats.sent, stats.in_flight, stats.acked) == (8, 5, 3)


async def test_reconnect_resumes_after_the_last_acknowledged_record() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    mixed_journal(store, 30)
    routed = [row.position for row in store.rows if GB.rule.matches(row.entry)]
    async with (
        feed_server(store, notifier) as (target, service),
        open_stream(target, GB.name) as stream,
    ):
        received = [(await stream.read()).position for _ in range(6)]
        await stream.ack(received[3])
        await until(lambda: store.cursors.get(GB.name) == received[3])
        stream.call.cancel()  # the consumer drops off mid-stream, records 5 and 6 unacked
        await until(lambda: service.streams() == [])
        resumed = await consume_until(target, GB.name, store.rows[routed[-1] - 1].entry.record_id)
    assert received == routed[:6]
    assert resumed == routed[4:]  # nothing missed; the unacknowledged ones come again


async def test_acks_are_persisted_when_the_stream_ends() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(*(make_entry(n) for n in range(1, 8)))
    async with feed_server(store, notifier, ack_flush_interval=3600) as (target, _):
        count = await asyncio.wait_for(
            consume(target, ALL.name, on_record=lambda _: None, max_records=7), GUARD
        )
    assert count == 7
    assert store.cursors[ALL.name] == 7


async def test_acks_are_coalesced_into_few_store_writes() -> None:
    store = FakeStore()
    store.append(*(make_entry(n) for n in range(1, 201)))
    async with feed_server(store, JournalNotifier(), ack_flush_interval=3600) as (target, _):
        await asyncio.wait_for(
            consume(target, ALL.name, on_record=lambda _: None, ack_every=1, max_records=200),
            GUARD,
        )
    assert store.cursors[ALL.name] == 200
    assert store.ack_calls <= 2  # the first ack at once, then the rest when the stream ends


async def test_a_restarted_gateway_resumes_after_the_persisted_ack() -> None:
    store = FakeStore()
    store.append(*(make_entry(n) for n in range(1, 11)))
    async with feed_server(store, JournalNotifier()) as (target, _):
        await asyncio.wait_for(
            consume(target, ALL.name, on_record=lambda _: None, max_records=4), GUARD
        )
    async with feed_server(store, JournalNotifier()) as (target, _):
        positions = await consume_until(target, ALL.name, store.rows[-1].entry.record_id)
    assert positions == list(range(5, 11))


async def test_records_committed_while_connected_arrive_via_notify() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    # An hour's poll interval: only the notification can wake the stream in time.
    async with (
        feed_server(store, notifier, poll_interval=3600) as (target, service),
        open_stream(target, ALL.name) as stream,
    ):
        await until(lambda: service.streams() != [])
        for n in (1, 2, 3):
            (position,) = store.append(make_entry(n))
            notifier.notify(position)
            assert (await stream.read()).position == position


async def test_records_committed_by_another_replica_arrive_by_polling() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    async with (
        feed_server(store, notifier, poll_interval=0.01) as (target, service),
        open_stream(target, ALL.name) as stream,
    ):
        await until(lambda: service.streams() != [])
        store.append(make_entry(1))  # no notify: committed elsewhere
        assert (await stream.read()).position == 1


async def test_unknown_consumer_is_not_found() -> None:
    async with (
        feed_server(FakeStore(), JournalNotifier()) as (target, _),
        open_stream(target, "nobody") as stream,
    ):
        assert await stream.status() == grpc.StatusCode.NOT_FOUND


async def test_first_message_must_be_subscribe() -> None:
    async with (
        feed_server(FakeStore(), JournalNotifier()) as (target, _),
        open_stream(target, None) as stream,
    ):
        await stream.ack(1)
        assert await stream.status() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("position", [0, 2, 99])
async def test_ack_of_a_position_not_sent_is_invalid(position: int) -> None:
    store = FakeStore()
    store.append(make_entry(1), make_entry(2, partner="au-post"), make_entry(3))
    async with (
        feed_server(store, JournalNotifier()) as (target, _),
        open_stream(target, GB.name) as stream,
    ):
        assert (await stream.read()).position == 1
        await stream.ack(position)
        assert await stream.status() == grpc.StatusCode.INVALID_ARGUMENT


async def test_closing_the_notifier_ends_streams_unavailable_with_acks_persisted() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(make_entry(1), make_entry(2))
    async with (
        feed_server(store, notifier, ack_flush_interval=3600) as (target, service),
        open_stream(target, ALL.name) as stream,
    ):
        await stream.read()
        await stream.read()
        await stream.ack(1)
        await stream.ack(2)
        await until(lambda: only_stream(service).acked == 2)
        notifier.close()
        assert await stream.status() == grpc.StatusCode.UNAVAILABLE
    assert store.cursors[ALL.name] == 2


async def test_server_stop_ends_open_streams_and_persists_acks() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(make_entry(1))
    server = grpc.aio.server()
    service = FeedService(store, CONSUMERS, notifier, FeedSettings(ack_flush_interval=3600))
    feed_pb2_grpc.add_FeedServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with open_stream(f"127.0.0.1:{port}", ALL.name) as stream:
            await stream.read()
            await stream.ack(1)
            await until(lambda: only_stream(service).acked == 1)
            await asyncio.wait_for(server.stop(grace=0.1), GUARD)
            assert await stream.status() != grpc.StatusCode.OK
    finally:
        await server.stop(grace=None)
    assert store.cursors[ALL.name] == 1


# SubscribeBatched: the same contract, several records per message.


async def read_batch(call: Any) -> list[int]:
    batch = await asyncio.wait_for(call.read(), GUARD)
    assert isinstance(batch, feed_pb2.FeedBatch), batch
    return [record.position for record in batch.records]


async def test_batches_carry_every_routed_record_once_in_order() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    mixed_journal(store, 50)
    expected = [row.position for row in store.rows if GB.rule.matches(row.entry)]
    async with (
        feed_server(store, notifier, page_size=7, batch_size=4) as (target, _),
        grpc.aio.insecure_channel(target) as channel,
    ):
        call = feed_pb2_grpc.FeedStub(channel).SubscribeBatched()
        await call.write(feed_pb2.FeedRequest(subscribe=feed_pb2.Subscribe(consumer=GB.name)))
        received: list[int] = []
        while len(received) < len(expected):
            batch = await read_batch(call)
            assert 1 <= len(batch) <= 4
            received.extend(batch)
            await call.write(feed_pb2.FeedRequest(ack=feed_pb2.Ack(position=batch[-1])))
        call.cancel()
    assert received == expected


async def test_batches_honour_max_in_flight_in_records_and_acks_inside_a_batch() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(*(make_entry(n) for n in range(1, 31)))
    async with (
        feed_server(store, notifier, max_in_flight=5, batch_size=4) as (target, service),
        grpc.aio.insecure_channel(target) as channel,
    ):
        call = feed_pb2_grpc.FeedStub(channel).SubscribeBatched()
        await call.write(feed_pb2.FeedRequest(subscribe=feed_pb2.Subscribe(consumer=ALL.name)))
        first = await read_batch(call)
        second = await read_batch(call)
        await until(lambda: service.streams() != [] and only_stream(service).waiting_for_acks)
        assert (first, second) == ([1, 2, 3, 4], [5])
        assert only_stream(service).sent == 5
        await call.write(feed_pb2.FeedRequest(ack=feed_pb2.Ack(position=2)))  # inside a batch
        third = await read_batch(call)
        await until(lambda: only_stream(service).waiting_for_acks)
        stats = only_stream(service)
        call.cancel()
    assert third == [6, 7]
    assert (stats.sent, stats.in_flight, stats.acked) == (7, 5, 2)


async def test_batched_consume_resumes_without_loss_after_a_mid_batch_stop() -> None:
    store, notifier = FakeStore(), JournalNotifier()
    store.append(*(make_entry(n) for n in range(1, 101)))
    async with feed_server(store, notifier, batch_size=16) as (target, _):
        seen: list[int] = []
        count = await asyncio.wait_for(
            consume(target, ALL.name, on_record=lambda r: seen.append(r.position), max_records=23),
            GUARD,
        )
        assert count == 23
        assert store.cursors[ALL.name] == 23  # acked up to the last processed, mid-batch
        rest = await consume_until(target, ALL.name, store.rows[-1].entry.record_id)
    assert seen + rest == list(range(1, 101))


@pytest.mark.parametrize(("batched", "method"), [(False, "Subscribe"), (True, "SubscribeBatched")])
async def test_consume_calls_the_method_it_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, batched: bool, method: str
) -> None:
    called: list[str] = []
    for name in ("Subscribe", "SubscribeBatched"):
        original = getattr(FeedService, name)

        async def recorded(
            self: FeedService, *args: Any, _o: Any = original, _n: str = name
        ) -> None:
            called.append(_n)
            await _o(self, *args)

        monkeypatch.setattr(FeedService, name, recorded)
    store, notifier = FakeStore(), JournalNotifier()
    store.append(*(make_entry(n) for n in range(1, 11)))
    async with feed_server(store, notifier) as (target, _):
        seen: list[int] = []
        await asyncio.wait_for(
            consume(
                target,
                ALL.name,
                on_record=lambda r: seen.append(r.position),
                max_records=10,
                batched=batched,
            ),
            GUARD,
        )
    assert called == [method]
    assert seen == list(range(1, 11))
    assert store.cursors[ALL.name] == 10
