"""The gRPC feed's throughput for one consumer, and where a record's time goes.

    .venv/bin/python -m benchmarks.feed_profile [--records N] [--batch-size B]

A child process serves the Feed over an in-memory journal of N signed records (real
Declarations, Ed25519, one signature per record or Merkle form); this process consumes it with
`gateway.adapters.grpc.client.consume`, batched (SubscribeBatched) and one per message
(Subscribe), without and with signature verification
(`gateway.entrypoints.consumer.RecordVerifier`). It also times the server's per-record steps
in process (routing, FeedRecord building, serializing).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.keys import SigningKey, generate_private_key
from gateway.adapters.grpc.client import consume
from gateway.adapters.grpc.records import feed_record
from gateway.domain.decisions import EventRow
from gateway.domain.journal import ItemState, JournalEntry, JournalRow, MessageRecord, RecordRow
from gateway.domain.messages import ItemFunction
from gateway.domain.records import DECLARATION_TYPE
from gateway.domain.routing import Consumer, RoutingRule
from gateway.wire import feed_pb2
from gateway.wire.declaration_pb2 import Declaration

KEY = SigningKey("bench-1", "ed25519", generate_private_key("ed25519"))


def journal(count: int, *, merkle: bool) -> list[JournalRow]:
    signer = DsseSigner(KEY)
    declarations = []
    for n in range(1, count + 1):
        d = Declaration(declaration_id=f"decl-{n}", item_id=f"RB{n:09d}GB", version=1)
        d.category, d.comments, d.origin_office = "SALE_OF_GOODS", "x" * 300, "GBLONA"
        declarations.append(d.SerializeToString())
    if merkle:
        envelopes = []
        for start in range(0, count, 50):
            chunk = declarations[start : start + 50]
            envelopes += signer.sign_batch([(DECLARATION_TYPE, p) for p in chunk])
    else:
        envelopes = [signer.sign(DECLARATION_TYPE, p) for p in declarations]
    return [
        JournalRow(
            n,
            JournalEntry(
                f"decl-{n}",
                "gb-royal-mail",
                f"M{n // 50}",
                f"RB{n:09d}GB",
                1,
                ItemFunction.ORIGINAL,
                "SALE_OF_GOODS",
                ("61",),
                ("GB",),
                Decimal("25.00"),
                "USD",
                envelopes[n - 1],
            ),
        )
        for n in range(1, count + 1)
    ]


class MemoryStore:
    """The journal and cursor roles in memory, over rows built in advance: the feed only reads
    (read_journal) and moves cursors; writing and folding are not measured here."""

    def __init__(self, rows: list[JournalRow]) -> None:
        self.rows, self.cursors = rows, dict[str, int]()

    async def watch_journal(self, on_commit: Callable[[int], None]) -> None:
        """Only this process holds the rows: nothing to report."""

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        raise NotImplementedError("the rows are built in advance")

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        raise NotImplementedError("the feed does not read item states")

    async def read_records(self, after: int, limit: int) -> list[RecordRow]:
        raise NotImplementedError("the feed does not fold cells")

    async def last_position(self) -> int:
        return len(self.rows)

    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        return [
            row
            for row in self.rows
            if row.entry.item_id == item_id and partner in (None, row.entry.partner)
        ]

    async def read_journal(self, after: int, limit: int) -> list[JournalRow]:
        start = bisect.bisect_right(self.rows, after, key=lambda row: row.position)
        return self.rows[start : start + limit]

    async def read_feed(self, after: int, limit: int) -> list[JournalRow | EventRow]:
        return [*await self.read_journal(after, limit)]

    async def read_events(self, after: int, limit: int) -> list[EventRow]:  # noqa: ARG002
        return []

    async def get_cursor(self, consumer: str) -> int:  # noqa: ARG002
        return 0  # every run reads the whole journal again

    async def ack(self, consumer: str, position: int) -> None:
        self.cursors[consumer] = max(position, self.cursors.get(consumer, 0))


def serve(
    count: int,
    merkle: bool,  # noqa: FBT001
    batch_size: int,
    port_out: multiprocessing.Queue[int],
) -> None:
    import grpc

    from gateway.adapters.grpc.record_feed import FeedService, FeedSettings
    from gateway.domain.notify import JournalNotifier
    from gateway.wire import feed_pb2_grpc

    async def main() -> None:
        server = grpc.aio.server()
        service = FeedService(
            MemoryStore(journal(count, merkle=merkle)),
            [Consumer("all", RoutingRule())],
            JournalNotifier(),
            FeedSettings(batch_size=batch_size),
        )
        feed_pb2_grpc.add_FeedServicer_to_server(service, server)
        port_out.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def per_record(label: str, count: int, work: Callable[[], object]) -> None:
    start = time.perf_counter()
    work()
    print(f"  {label:<44} {(time.perf_counter() - start) / count * 1e6:7.2f} µs/record")


def server_steps(count: int) -> None:
    rows = journal(count, merkle=False)
    rule = RoutingRule(
        partners=frozenset({"gb-royal-mail"}), categories=frozenset({"SALE_OF_GOODS"})
    )
    records = [feed_record(row) for row in rows]
    batch = feed_pb2.FeedBatch(records=records[:256])
    print(f"server steps, {count:,} records ({len(rows[0].entry.envelope)} envelope bytes):")
    per_record(
        "routing rule (stored columns)", count, lambda: [rule.matches(r.entry) for r in rows]
    )
    per_record("FeedRecord build (envelope parse)", count, lambda: [feed_record(r) for r in rows])
    per_record(
        "FeedRecord serialize (one per message)",
        count,
        lambda: [r.SerializeToString() for r in records],
    )
    per_record("FeedBatch of 256 serialize", 256, batch.SerializeToString)
    data = [r.SerializeToString() for r in records]
    per_record(
        "client: FeedRecord parse (one per message)",
        count,
        lambda: [feed_pb2.FeedRecord.FromString(d) for d in data],
    )


async def drain(target: str, count: int, *, batched: bool, verify: bool) -> float:
    from gateway.entrypoints.consumer import RecordVerifier

    verifier = RecordVerifier({KEY.keyid: KEY.verification_key("gateway")})
    on_record = verifier.verify if verify else (lambda _: None)
    start = time.perf_counter()
    got = await consume(target, "all", on_record=on_record, max_records=count, batched=batched)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    assert got == count, (got, count)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    server_steps(min(args.records, 5000))
    for merkle in (False, True):
        queue: multiprocessing.Queue[int] = multiprocessing.Queue()
        child = multiprocessing.Process(
            target=serve, args=(args.records, merkle, args.batch_size, queue), daemon=True
        )
        child.start()
        target = f"127.0.0.1:{queue.get(timeout=120)}"
        try:
            form = "Merkle-signed" if merkle else "signed per record"
            for batched in (False, True):
                for verify in (False, True):
                    rate = asyncio.run(drain(target, args.records, batched=batched, verify=verify))
                    print(
                        f"feed, {form:<17} {'SubscribeBatched' if batched else 'Subscribe':<16} "
                        f"{'verified' if verify else 'no verify':<9}: {rate:>9,.0f} records/s"
                    )
        finally:
            child.terminate()
            child.join()


if __name__ == "__main__":
    main()
