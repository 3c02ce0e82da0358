"""The consumer side of the gateway's gRPC services, transport only.

`consume` subscribes to a feed, hands each record to a callback and acknowledges it after the
callback returns, so a record is acknowledged only once the consumer has processed it. Records
arrive at least once: drop repeats by `record_id`. Verifying the envelope signature is the
caller's job (with the published keys and the crypto module); this module never looks inside.

Errors from the server surface as `grpc.aio.AioRpcError` (NOT_FOUND: unknown consumer;
PERMISSION_DENIED: the client certificate is not that consumer's; UNAVAILABLE: gateway shutting
down, store trouble or a refused TLS handshake, subscribe again; INTERNAL: the connection tore
mid-frame, as when a replica is killed outright, subscribe again too).

Transport security: every function takes `tls` (a `tls.ClientTls`: mTLS with the consumer's
certificate); when it is None, the `client_tls` context variable (set with `using_tls`) is used,
and when that is None too, the channel is plaintext. The context variable lets callers that go
through `gateway.entrypoints.consumer` (the CLI) choose TLS without threading it through.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import grpc

from gateway.adapters.grpc.tls import ClientTls
from gateway.wire import decisions_pb2, decisions_pb2_grpc, feed_pb2, feed_pb2_grpc

client_tls: ContextVar[ClientTls | None] = ContextVar("client_tls", default=None)
"""The TLS material of channels opened without an explicit `tls` (None: plaintext)."""


@contextlib.contextmanager
def using_tls(tls: ClientTls | None) -> Iterator[None]:
    """Within the block (and tasks and `asyncio.run` started in it) channels use `tls`."""
    token = client_tls.set(tls)
    try:
        yield
    finally:
        client_tls.reset(token)


def channel_credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
    )


def open_channel(target: str, tls: ClientTls | None = None) -> grpc.aio.Channel:
    """A channel to `target`: mTLS with `tls` (or the context's), else plaintext."""
    chosen = tls if tls is not None else client_tls.get()
    if chosen is None:
        return grpc.aio.insecure_channel(target)
    options = []
    if chosen.server_name:
        options.append(("grpc.ssl_target_name_override", chosen.server_name))
    return grpc.aio.secure_channel(target, channel_credentials(chosen), options=options)


OnRecord = Callable[[feed_pb2.FeedRecord], Awaitable[None] | None]

ACK_DELAY = 0.05
"""Seconds a partial batch of acks (fewer than `ack_every`) waits for more records before it is
sent anyway, so a consumer never holds back the server's in-flight window."""

_NEVER = 1 << 62  # an ack_every that is never reached: batched streams ack per batch

DRAIN_TIMEOUT = 10.0
"""Seconds to wait, after a clean stop, for the server to persist the acks and end the stream."""


async def consume(
    target: str,
    consumer: str,
    *,
    on_record: OnRecord,
    ack_every: int | None = None,
    stop: asyncio.Event | None = None,
    idle_timeout: float | None = None,
    max_records: int | None = None,
    tls: ClientTls | None = None,
    batched: bool = True,
) -> int:
    """Receive `consumer`'s feed from `target` ("host:port"); return how many records arrived.

    Each record goes to `on_record` (awaited when it returns an awaitable), then is acknowledged
    (by its position, which acknowledges every earlier record too). With `batched` (the default:
    `Feed/SubscribeBatched`, several records per stream message) the highest processed position
    is acknowledged after each batch, and also every `ack_every` records when that is given;
    without it (`Feed/Subscribe`, one record per message) every `ack_every` records (default 1).
    In both, a partial count is acknowledged when no further record is ready within `ACK_DELAY`.
    Stops when `stop` is set, after `idle_timeout` seconds without a record, or after
    `max_records` records; then it sends the last ack, half-closes and waits until the server
    has persisted it. An exception from `on_record` propagates; its record is not acknowledged.
    """
    if ack_every is not None and ack_every < 1:
        raise ValueError("ack_every must be at least 1")
    async with open_channel(target, tls) as channel:
        stub = feed_pb2_grpc.FeedStub(channel)
        if batched:
            call = stub.SubscribeBatched()
            every = ack_every if ack_every is not None else _NEVER
        else:
            call = stub.Subscribe()
            every = ack_every if ack_every is not None else 1
        stream = _FeedStream(call, every, stop, batched=batched)
        try:
            await call.write(feed_pb2.FeedRequest(subscribe=feed_pb2.Subscribe(consumer=consumer)))
            count = await stream.receive(on_record, idle_timeout, max_records)
            await stream.finish()
        finally:
            stream.close()
        return count


class _FeedStream:
    """One client-side Subscribe call: reads racing the stop event and the ack delay."""

    def __init__(
        self, call: Any, ack_every: int, stop: asyncio.Event | None, *, batched: bool = False
    ) -> None:
        self._call = call
        self._batched = batched
        self._ack_every = ack_every
        self._read: asyncio.Future[Any] | None = None
        self._stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
        self._unacked: int | None = None  # highest processed, not yet acknowledged position
        self._since_ack = 0

    async def receive(
        self, on_record: OnRecord, idle_timeout: float | None, max_records: int | None
    ) -> int:
        count = 0
        while max_records is None or count < max_records:
            message = await self._next(idle_timeout)
            if message is None:
                break
            if not self._batched:
                result = on_record(message)
                if inspect.isawaitable(result):
                    await result
                count += 1
                await self._processed(message.position)
                continue
            for record in message.records:
                if max_records is not None and count >= max_records:
                    break
                result = on_record(record)
                if inspect.isawaitable(result):
                    await result
                count += 1
                await self._processed(record.position)
            await self._send_ack()  # the whole batch (or what max_records let through)
        return count

    async def finish(self) -> None:
        """Send the last ack, half-close, and wait (bounded) for the server to end the stream."""
        if self._call.done():
            return
        await self._send_ack()
        try:
            await self._call.done_writing()
        except asyncio.InvalidStateError:
            await self._raise_for_status()
            return
        async with asyncio.timeout(DRAIN_TIMEOUT):
            while not self._call.done():
                if await self._pending_read() is grpc.aio.EOF:
                    break

    def close(self) -> None:
        """Cancel what is still pending; harmless after a clean finish."""
        for future in (self._stopped, self._read):
            if future is None:
                continue
            if future.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    future.exception()  # retrieved, so asyncio does not log it as lost
            else:
                future.cancel()
        self._call.cancel()

    async def _next(self, idle_timeout: float | None) -> Any:
        """The next message (a FeedRecord, or a FeedBatch when batched), or None on stop, idle
        timeout or end of stream."""
        loop = asyncio.get_running_loop()
        deadline = None if idle_timeout is None else loop.time() + idle_timeout
        read = self._read_future()
        waiters = [read] if self._stopped is None else [read, self._stopped]
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            wait = left if self._unacked is None else min(ACK_DELAY, left or ACK_DELAY)
            done, _ = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if read in done:
                self._read = None
                message = read.result()
                return None if message is grpc.aio.EOF else message
            if done or (left is not None and left <= 0):
                return None
            await self._send_ack()

    def _read_future(self) -> asyncio.Future[Any]:
        if self._read is None:
            self._read = asyncio.ensure_future(self._call.read())
        return self._read

    async def _pending_read(self) -> Any:
        read = self._read_future()
        self._read = None
        return await read

    async def _processed(self, position: int) -> None:
        self._unacked = position
        self._since_ack += 1
        if self._since_ack >= self._ack_every:
            await self._send_ack()

    async def _send_ack(self) -> None:
        if self._unacked is not None:
            position, self._unacked, self._since_ack = self._unacked, None, 0
            try:
                await self._call.write(feed_pb2.FeedRequest(ack=feed_pb2.Ack(position=position)))
            except asyncio.InvalidStateError:
                # The server ended the call between our read and this write (a replica going
                # away): the caller needs the call's status (UNAVAILABLE, ...) to reconnect,
                # not grpc's "RPC already finished".
                await self._raise_for_status()
                raise

    async def _raise_for_status(self) -> None:
        """Raise the finished call's error as the AioRpcError a read would have raised."""
        code = await self._call.code()
        if code != grpc.StatusCode.OK:
            raise grpc.aio.AioRpcError(
                code,
                await self._call.initial_metadata(),
                await self._call.trailing_metadata(),
                await self._call.details(),
                await self._call.debug_error_string(),
            )


async def list_keys(
    target: str,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 (the RPC deadline, which the server sees too)
    tls: ClientTls | None = None,
) -> list[feed_pb2.PublicKey]:
    """The gateway's published public keys."""
    async with open_channel(target, tls) as channel:
        response = await feed_pb2_grpc.KeysStub(channel).List(
            feed_pb2.ListKeysRequest(), timeout=timeout
        )
        return list(response.keys)


async def get_declaration(
    target: str,
    item_id: str,
    *,
    partner: str | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 (the RPC deadline)
    tls: ClientTls | None = None,
) -> feed_pb2.GetDeclarationResponse | None:
    """The item's latest version and history, or None when the gateway has none (for this
    consumer: with mTLS only versions routed to it count)."""
    request = feed_pb2.GetDeclarationRequest(item_id=item_id, partner=partner or "")
    async with open_channel(target, tls) as channel:
        try:
            response: feed_pb2.GetDeclarationResponse = await feed_pb2_grpc.DeclarationsStub(
                channel
            ).Get(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return response


async def decide(
    target: str,
    request: decisions_pb2.DecideRequest,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 (the RPC deadline)
    tls: ClientTls | None = None,
) -> decisions_pb2.DecideResponse:
    """Report one decision; raises grpc.aio.AioRpcError with the refusal's status."""
    async with open_channel(target, tls) as channel:
        stub = decisions_pb2_grpc.DecisionsStub(channel)
        response: decisions_pb2.DecideResponse = await stub.Decide(request, timeout=timeout)
        return response


async def decide_stream(
    target: str,
    requests: Iterable[decisions_pb2.DecideRequest],
    *,
    batch: int = 1000,
    tls: ClientTls | None = None,
) -> list[decisions_pb2.DecideOutcome]:
    """Report many decisions on one DecideStream, `batch` to a message; every outcome, in
    request order."""
    listed = list(requests)
    batches = (
        decisions_pb2.DecideBatch(requests=listed[start : start + batch])
        for start in range(0, len(listed), batch)
    )
    async with open_channel(target, tls) as channel:
        call = decisions_pb2_grpc.DecisionsStub(channel).DecideStream(batches)
        return [outcome async for answer in call for outcome in answer.outcomes]


async def report_arrivals(
    target: str,
    request: decisions_pb2.ReportArrivalsRequest,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 (the RPC deadline)
    tls: ClientTls | None = None,
) -> decisions_pb2.ReportArrivalsResponse:
    """Report a batch of arrivals (Arrivals/Report); each arrival's outcome, in order. Raises
    grpc.aio.AioRpcError with the refusal's status (the batch is refused as a whole)."""
    async with open_channel(target, tls) as channel:
        stub = decisions_pb2_grpc.ArrivalsStub(channel)
        response: decisions_pb2.ReportArrivalsResponse = await stub.Report(request, timeout=timeout)
        return response
