"""Two `gateway serve` replicas on one PostgreSQL journal, as a scaled-out deployment runs them.

Partners spread signed submissions over both replicas; consumers hop from one replica to the
other between streams (acknowledging as they go); one replica is SIGKILLed under load, cutting
a consumer stream held on it, its unanswered submissions are resent to the survivor, and it is
restarted. At the end every item a
receipt accepted has reached every consumer whose routing rule matches it, once per item (a
record may come again, never under another id), in increasing positions on every stream, and
every record verifies with the keys both replicas publish. Two replicas handed one messageId at
the same moment store it once and answer both with the same receipt.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from gateway.adapters.crypto.keyring import Keyring
from gateway.adapters.crypto.keys import VerificationKey
from gateway.adapters.grpc.client import consume
from gateway.adapters.http.client import Answer, PartnerClient
from gateway.adapters.store.postgres import PostgresStore
from gateway.entrypoints.consumer import RecordVerifier, consume_verified, grpc_keys
from gateway.formats.itmatt.samples import ItemSpec
from gateway.services.journal_audit import AuditReport, audit_journal
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.feed_pb2 import FeedRecord
from tests import pg
from tests.e2e.conftest import PartnerKit
from tests.e2e.helpers import document, items
from tests.e2e.test_process import Served

pytestmark = pytest.mark.slow
ITEMS_PER_MESSAGE = 6
WORKERS = 5  # concurrent submitters per replica
KILL_AFTER = 8  # receipts from the doomed replica before it is SIGKILLed
STREAM_IDLE = 0.3  # seconds a consumer stream waits for a record before it ends
PROCESSING = 0.05  # seconds the held stream spends on each record
ROUTES = {"analytics": None, "targeting": "SALE_OF_GOODS"}  # consumer -> category it takes


@dataclass(frozen=True)
class Job:
    partner: str
    message_id: str
    body: bytes
    specs: tuple[ItemSpec, ...]


@dataclass
class Ledger:
    """What the partners know: every message sent, and every answer got back for it."""

    jobs: dict[str, Job] = field(default_factory=dict)
    answers: dict[str, list[Answer]] = field(default_factory=lambda: defaultdict(list))

    def add(self, job: Job, answer: Answer) -> None:
        assert answer.status in (200, 202, 422), (job.message_id, answer.status, answer.body)
        assert answer.verified_by is not None
        self.answers[job.message_id].append(answer)

    def receipt(self, message_id: str) -> bytes:
        return self.answers[message_id][0].body

    def accepted(self) -> dict[str, tuple[str, str]]:
        """Declaration id -> (item id, category) of every item a receipt accepted."""
        out: dict[str, tuple[str, str]] = {}
        for message_id, answers in self.answers.items():
            categories = {s.item_id: s.category for s in self.jobs[message_id].specs}
            for item in json.loads(answers[0].body)["items"]:
                if item["status"] == "ACCEPTED":
                    out[item["declarationId"]] = (item["itemId"], categories[item["itemId"]])
        return out


@dataclass
class Feed:
    """What one consumer saw: per stream, the replica and the (position, record, item) it got."""

    name: str
    streams: list[tuple[str, list[tuple[int, str, str]]]] = field(default_factory=list)
    broken: int = 0  # streams ended by an RPC error (their replica died)
    failed: int = 0  # records whose signature did not verify

    def records(self) -> Iterator[tuple[int, str, str]]:
        for _, got in self.streams:
            yield from got


class Replicas:
    """The replicas a client may talk to now, by name; the consumers' view of the deployment."""

    def __init__(self, **served: Served) -> None:
        self.live: dict[str, Served] = dict(served)

    def pick(self, turn: int) -> tuple[str, Served]:
        names = sorted(self.live)
        name = names[turn % len(names)]
        return name, self.live[name]


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    pg.require_postgres()
    name = pg.new_schema()
    try:
        yield name
    finally:
        await pg.drop_schema(name)


def _config(tmp_path: Path, replica: str, partners: Path, schema: str) -> Path:
    """One replica's configuration: its own data_dir and ports, the deployment's store and keys."""
    folder = tmp_path / replica
    folder.mkdir()
    sep = "&" if "?" in pg.DSN else "?"
    consumers = "".join(
        f'[[consumers]]\nname = "{name}"\n' + (f'categories = ["{cat}"]\n' if cat else "")
        for name, cat in ROUTES.items()
    )
    config = folder / "gateway.toml"
    config.write_text(
        f'data_dir = "{folder / "data"}"\npartners_dir = "{partners}"\nlog_level = "WARNING"\n'
        f'store = "{pg.DSN}{sep}schema={schema}&pool_size=4"\n'
        '[http]\nlisten = "127.0.0.1:0"\n[grpc]\nlisten = "127.0.0.1:0"\n'
        f'[signing]\nkey_dir = "{tmp_path / "keys"}"\n{consumers}',
        encoding="utf-8",
    )
    return config


def _deployment(tmp_path: Path, partners: Path, schema: str) -> tuple[Path, Path]:
    """Two replicas' configurations; the shared signing keys are made once, before either runs."""
    Keyring.load_or_create(tmp_path / "keys")
    return _config(tmp_path, "a", partners, schema), _config(tmp_path, "b", partners, schema)


async def _serve(*configs: Path) -> list[Served]:
    return list(await asyncio.gather(*(asyncio.to_thread(Served, c) for c in configs)))


def _jobs(partners: dict[str, PartnerKit], messages: int, *, seed: int, tag: str) -> list[Job]:
    """`messages` messages per partner, interleaved, with distinct items (some rejected)."""
    per_partner: list[list[Job]] = []
    for n, kit in enumerate(sorted(partners.values(), key=lambda k: k.id)):
        specs = items(messages * ITEMS_PER_MESSAGE, kit.country, seed=seed + n, bad_every=5)
        jobs = []
        for i in range(messages):
            chunk = specs[i * ITEMS_PER_MESSAGE : (i + 1) * ITEMS_PER_MESSAGE]
            message_id = f"{kit.operator_code}-{tag}{i:04d}"
            body = document(message_id, kit.operator_code, chunk)
            jobs.append(Job(kit.id, message_id, body, tuple(chunk)))
        per_partner.append(jobs)
    return [job for group in zip(*per_partner, strict=True) for job in group]


class Partners:
    """Signed clients for every (replica, partner); answers verified with that replica's JWKS."""

    def __init__(self, session: aiohttp.ClientSession, kits: dict[str, PartnerKit]) -> None:
        self._session, self._kits = session, kits
        self._clients: dict[tuple[str, str], PartnerClient] = {}

    async def attach(self, name: str, served: Served) -> None:
        for kit in self._kits.values():
            client = PartnerClient(self._session, served.http_url, kit.key)
            await client.gateway_keys()
            self._clients[name, kit.id] = client

    async def submit(self, replica: str, job: Job) -> Answer:
        return await self._clients[replica, job.partner].submit_itmatt(job.body)


async def _follow(
    feed: Feed,
    replicas: Replicas,
    keys: dict[str, VerificationKey],
    done: asyncio.Event,
    batch: int,
) -> None:
    """Consume in short streams, switching replica after each (every stream acks what it got).

    Ends with the first stream, started after `done` was set, that finds nothing.
    """
    turn = 0
    while True:
        finished = done.is_set()
        name, served = replicas.pick(turn)
        turn += 1
        got: list[tuple[int, str, str]] = []
        feed.streams.append((name, got))

        def seen(record: FeedRecord, _: Declaration, got: list[tuple[int, str, str]] = got) -> None:
            got.append((record.position, record.record_id, record.item_id))

        try:
            result = await consume_verified(
                served.grpc_target, feed.name, None,
                max_records=batch, idle=STREAM_IDLE, keys=keys, on_declaration=seen,
            )  # fmt: skip
        except (grpc.aio.AioRpcError, TimeoutError):
            # Its replica went away (`consume` documents AioRpcError UNAVAILABLE for that): go
            # on with the next one. What the stream verified is in `got` all the same.
            feed.broken += 1
            await asyncio.sleep(0.05)
            continue
        feed.failed += result.failed
        if finished and result.received == 0:
            return


async def _hold(feed: Feed, name: str, served: Served, keys: dict[str, VerificationKey]) -> Any:
    """One long stream on `served` that processes each record for a moment (so it is behind,
    mid-record, when its replica dies); returns the status code of the error that ended it."""
    verifier = RecordVerifier(keys)
    got: list[tuple[int, str, str]] = []
    feed.streams.append((name, got))

    async def process(record: FeedRecord) -> None:
        await verifier.verify(record)  # a bad signature fails the test
        got.append((record.position, record.record_id, record.item_id))
        await asyncio.sleep(PROCESSING)

    with pytest.raises(grpc.aio.AioRpcError) as cut:  # what `consume` documents for a lost server
        await consume(served.grpc_target, feed.name, on_record=process)
    feed.broken += 1
    return cut.value.code()


async def _published(served: Served) -> dict[str, VerificationKey]:
    return await grpc_keys(served.grpc_target)


def _check_feed(feed: Feed, expected: set[str]) -> None:
    """Every expected record delivered, nothing else, one record id per item, ordered streams."""
    assert feed.failed == 0, feed.name
    for replica, got in feed.streams:
        positions = [p for p, _, _ in got]
        assert all(a < b for a, b in itertools.pairwise(positions)), (
            feed.name, replica, positions,
        )  # fmt: skip
    delivered = {record_id for _, record_id, _ in feed.records()}
    assert delivered == expected, (
        feed.name, len(expected - delivered), "lost", len(delivered - expected), "unexpected",
    )  # fmt: skip
    ids_of_item: dict[str, set[str]] = defaultdict(set)
    for _, record_id, item_id in feed.records():
        ids_of_item[item_id].add(record_id)
    twice = {item: ids for item, ids in ids_of_item.items() if len(ids) > 1}
    assert not twice, (feed.name, twice)


async def _load_until_killed(
    partners: Partners, ledger: Ledger, jobs: list[Job], replicas: Replicas
) -> tuple[list[Job], list[str]]:
    """Submit `jobs` from WORKERS clients per replica; SIGKILL B after its KILL_AFTER-th receipt,
    while its clients have requests in flight. Returns what got no answer, and B's receipted ids.
    """
    ledger.jobs |= {j.message_id: j for j in jobs}
    queue = deque(jobs)
    unanswered: list[Job] = []
    from_b: list[str] = []
    kill_now = asyncio.Event()

    async def worker(replica: str) -> None:
        while queue:
            job = queue.popleft()
            try:
                answer = await partners.submit(replica, job)
            except aiohttp.ClientError:
                unanswered.append(job)  # B died under it
                return
            ledger.add(job, answer)
            if replica == "B":
                from_b.append(job.message_id)
                if len(from_b) >= KILL_AFTER:
                    kill_now.set()

    workers = [asyncio.create_task(worker(r)) for r in "AB" for _ in range(WORKERS)]
    await kill_now.wait()
    doomed = replicas.live.pop("B")
    doomed.kill()
    await asyncio.gather(*workers)
    assert unanswered, "B was killed with nothing in flight: the test proves nothing"
    assert len(ledger.answers) + len(unanswered) == len(jobs)
    return unanswered, from_b


async def _resend(
    partners: Partners, ledger: Ledger, unanswered: list[Job], again: list[str]
) -> int:
    """Resend to A what got no answer (its first receipt if B had committed it before dying,
    else a fresh one) and messages B receipted (that very receipt, byte for byte, now from A).
    Returns how many unanswered messages B had committed."""
    jobs = [*unanswered, *(ledger.jobs[m] for m in again)]
    answers = await asyncio.gather(*(partners.submit("A", job) for job in jobs))
    committed_by_b = 0
    for job, answer in zip(jobs, answers, strict=True):
        ledger.add(job, answer)
        if job in unanswered:
            committed_by_b += answer.status == 200
        else:
            assert answer.status == 200, job.message_id
            assert answer.body == ledger.receipt(job.message_id), job.message_id
    return committed_by_b


async def _spread(partners: Partners, ledger: Ledger, jobs: list[Job]) -> None:
    """Submit `jobs` at once, alternating between A and B; each is new, so each is accepted."""
    ledger.jobs |= {j.message_id: j for j in jobs}
    answers = await asyncio.gather(
        *(partners.submit("AB"[i % 2], job) for i, job in enumerate(jobs))
    )
    for job, answer in zip(jobs, answers, strict=True):
        ledger.add(job, answer)
        assert answer.status == 202, job.message_id


async def _check_store(schema: str, ledger: Ledger, key_dir: Path) -> AuditReport:
    """Each message stored once with the receipt every one of its answers carried; the journal
    audits clean (order, signatures, every message whole against its receipt)."""
    assert set(ledger.answers) == set(ledger.jobs)  # every message was answered in the end
    store = PostgresStore(pg.DSN, schema=schema)
    await store.open()
    try:
        for message_id, answers in ledger.answers.items():
            assert len({a.body for a in answers}) == 1, message_id
            stored = await store.find_message(ledger.jobs[message_id].partner, message_id)
            assert stored is not None, message_id
            assert stored.receipt == answers[0].body, message_id
        return await audit_journal(store, Keyring.load(key_dir).public_keys())
    finally:
        await store.close()


async def test_two_replicas_share_one_journal_through_load_a_sigkill_and_consumer_failover(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]], schema: str
) -> None:
    root, kits = partners_dir
    config_a, config_b = _deployment(tmp_path, root, schema)
    served_a, served_b = await _serve(config_a, config_b)
    everything = [served_a, served_b]
    replicas = Replicas(A=served_a, B=served_b)
    feeds = {name: Feed(name) for name in ROUTES}
    done = asyncio.Event()
    ledger = Ledger()
    followers: list[asyncio.Task[Any]] = []
    try:
        keys = await _published(served_a)
        assert keys.keys() == (await _published(served_b)).keys()  # one deployment, one keyring
        followers += [
            asyncio.create_task(_follow(feeds["analytics"], replicas, keys, done, batch=40)),
            asyncio.create_task(_follow(feeds["targeting"], replicas, keys, done, batch=9)),
        ]
        # And one more "analytics" stream that stays on B: the kill cuts it mid-stream (two
        # streams of one consumer are what a consumer failing over briefly looks like).
        held = asyncio.create_task(_hold(feeds["analytics"], "B", served_b, keys))
        followers.append(held)
        async with aiohttp.ClientSession() as session:
            partners = Partners(session, kits)
            await partners.attach("A", served_a)
            await partners.attach("B", served_b)
            load = _jobs(kits, 40, seed=1000, tag="L")
            unanswered, from_b = await _load_until_killed(partners, ledger, load, replicas)
            again = random.Random(7).sample(from_b, 4)
            # A SIGKILL tears the connection: gRPC core reports UNAVAILABLE, or INTERNAL when
            # the socket died mid-frame (both mean: subscribe again, elsewhere).
            assert await held in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}
            committed_by_b = await _resend(partners, ledger, unanswered, again)
            (restarted,) = await _serve(config_b)  # B again, on the same store and keys
            everything.append(restarted)
            await partners.attach("B", restarted)
            replicas.live["B"] = restarted
            await _spread(partners, ledger, _jobs(kits, 8, seed=2000, tag="T"))
        done.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*followers)
        assert restarted.terminate() == 0
        assert served_a.terminate() == 0
    finally:
        for task in followers:
            task.cancel()
        for served in everything:
            if served.process.poll() is None:
                served.kill()

    report = await _check_store(schema, ledger, tmp_path / "keys")
    accepted = ledger.accepted()
    assert report.ok, report.problems
    assert report.records == len(accepted)
    assert report.messages == len(ledger.jobs)
    # Every consumer got exactly what its rule routes, from both replicas.
    for name, category in ROUTES.items():
        feed = feeds[name]
        expected = {rid for rid, (_, cat) in accepted.items() if category in (None, cat)}
        assert expected, name
        _check_feed(feed, expected)
        assert {replica for replica, got in feed.streams if got} == {"A", "B"}, name
    print(
        f"\nreplicas: {len(ledger.jobs)} messages, {len(accepted)} items accepted, "
        f"{len(unanswered)} unanswered at the kill ({committed_by_b} committed by B), "
        + ", ".join(
            f"{f.name}: {sum(len(g) for _, g in f.streams)} received in {len(f.streams)} "
            f"streams ({f.broken} broken)"
            for f in feeds.values()
        )
    )


async def test_two_replicas_given_one_message_at_the_same_moment_store_it_once(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]], schema: str
) -> None:
    root, kits = partners_dir
    served = await _serve(*_deployment(tmp_path, root, schema))
    ledger = Ledger()
    try:
        async with aiohttp.ClientSession() as session:
            partners = Partners(session, kits)
            await partners.attach("A", served[0])
            await partners.attach("B", served[1])
            jobs = _jobs(kits, 6, seed=3000, tag="R")
            ledger.jobs |= {j.message_id: j for j in jobs}
            for job in jobs:  # one message at a time, each sent to both replicas at once
                pair = await asyncio.gather(partners.submit("A", job), partners.submit("B", job))
                for answer in pair:
                    ledger.add(job, answer)
                assert sorted(a.status for a in pair) == [200, 202], job.message_id
                assert pair[0].body == pair[1].body, job.message_id
        delivered = await consume_verified(served[1].grpc_target, "analytics", None, idle=1.0)
    finally:
        for replica in served:
            assert replica.terminate() == 0

    accepted = ledger.accepted()
    assert delivered.failed == 0
    assert sorted(delivered.record_ids) == sorted(accepted)  # each item journaled once
    store = PostgresStore(pg.DSN, schema=schema)
    await store.open()
    try:
        for job in jobs:
            stored = await store.find_message(job.partner, job.message_id)
            assert stored is not None
            assert stored.receipt == ledger.receipt(job.message_id)
        rows = await store.read_journal(0, 10_000)
    finally:
        await store.close()
    assert len(rows) == len(accepted)
