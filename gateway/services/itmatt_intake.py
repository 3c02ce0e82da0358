"""The service layer: orders the stages of one submission and owns its unit of work.

    [parse + XSD + rules + translation, then valuation + seal + sign]  (CPU: one task)
      → sender check → idempotency → history rules + receipt + ONE journal commit (holding the
      locks of the message's items) → notify feeds

Nothing is acknowledged before the commit that holds every accepted item, the message record and
its receipt. The CPU stages of one message are one pure task (`CpuStages.run`): a `CpuRunner`
runs it on worker processes (gateway.adapters.cpu, so both cores work) or, by default, in this
process (large documents on an executor so the event loop keeps serving). Everything that
touches the store, the item locks and the item history stays here, in the main process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import uuid
from abc import abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, date
from functools import partial
from typing import BinaryIO, Protocol

from gateway.domain.bodies import Body, SpooledBody
from gateway.domain.journal import JournalEntry, MessageRecord, StoredMessage
from gateway.domain.limits import STREAM_BYTES
from gateway.domain.messages import ItemOutcome, MessageHeader, ParsedMessage
from gateway.domain.partners import ITMATT_FORMAT, Partner
from gateway.domain.receipts import build_receipt
from gateway.domain.records import Provenance, Sealer, StampLog, seal_all
from gateway.errors import DuplicateMessage, Forbidden, ItemVersionTaken, MessageConflict
from gateway.formats.registry import lookup
from gateway.observability import Metrics
from gateway.ports import Clock, JournalStore, MessageStore, Signer
from gateway.rules.versions import apply_history_rules
from gateway.share.aggregate import Contribution, Contributions
from gateway.wire.declaration_pb2 import Declaration

log = logging.getLogger(__name__)
VERSION_RACE_ATTEMPTS = 3  # commits tried when replicas race on one item's version


@dataclass(frozen=True, slots=True)
class Submission:
    """What the edge sends back: the status and the exact receipt bytes."""

    http_status: int  # 202 accepted, 422 all rejected, 200 idempotent replay
    receipt: bytes
    accepted: int = 0
    rejected: int = 0


class Sealed(Mapping[int, JournalEntry]):
    """A message's sealed journal entries by item index, which can hand the store those of
    some items, in item order (`select`; possibly read lazily from a file), and is closed once
    the message is answered."""

    @abstractmethod
    def select(self, indexes: Sequence[int]) -> Sequence[JournalEntry]: ...

    @abstractmethod
    def record_id(self, index: int) -> str:
        """The record id (declaration id) of item `index`'s entry."""

    def close(self) -> None:
        """Release what holds the entries."""


class SealedEntries(dict[int, JournalEntry], Sealed):
    """Sealed entries held in memory (every message but a streamed one on a worker)."""

    def select(self, indexes: Sequence[int]) -> list[JournalEntry]:
        return [self[index] for index in indexes]

    def record_id(self, index: int) -> str:
        return self[index].record_id


class RecordIds(Mapping[int, str]):
    """The record id of each sealed item, by item index: a view of `sealed`, nothing copied."""

    def __init__(self, sealed: Sealed) -> None:
        self._sealed = sealed

    def __getitem__(self, index: int) -> str:
        if index not in self._sealed:
            raise KeyError(index)
        return self._sealed.record_id(index)

    def __iter__(self) -> Iterator[int]:
        return iter(self._sealed)

    def __len__(self) -> int:
        return len(self._sealed)


@dataclass(frozen=True, slots=True)
class CpuResult:
    """What the CPU task of one message gives back (picklable: it crosses processes)."""

    parsed: ParsedMessage
    sealed: Sealed  # by item index; empty when not sealed (see CpuStages.run)
    # Seconds per stage: parse (XML), validate (XSD), translate (rules and translation), sign
    # (valuation, sealing and signing).
    seconds: tuple[tuple[str, float], ...]
    # Each sealed record's share-cell contribution, by item index, when computed (not for a
    # streamed document): the aggregation then need not read those records back.
    contributions: Contributions | None = None


@dataclass(frozen=True, slots=True)
class Streamed:
    """A document parsed as a stream (CpuStages.stream_file): its outcomes and stage times so
    far, and its sealed entries, made as they are iterated."""

    parsed: ParsedMessage
    seconds: dict[str, float]
    sealed: Iterator[tuple[int, JournalEntry]]  # (item index, entry)
    stamping: float | None  # seconds valuing and stamping; None when nothing is to be sealed

    def result(self, sealed: Sealed, sealing: float) -> CpuResult:
        """The CpuResult, given the entries iterated out of `sealed` and the seconds it took."""
        seconds = dict(self.seconds)
        if self.stamping is not None:
            seconds["sign"] = self.stamping + sealing
        return CpuResult(self.parsed, sealed, tuple(seconds.items()))


class CpuStages:
    """The pure CPU work of one declaration message: parse, validate, translate, value, seal,
    sign. The format parsing it is the registry's (`gateway.formats.registry`), named per run.

    Runs in whichever process holds it (the gateway's, or each worker of the process pool); it
    touches no store and no lock. Raises MessageRejected (400) as the format's parse does, and
    KeyError for a format the registry does not hold.
    """

    def __init__(
        self,
        signer: Signer,
        value: Callable[[Declaration, date], None] | None = None,
        *,
        stream_bytes: int = STREAM_BYTES,
    ) -> None:
        """`value` fills each accepted declaration's valuation (USD value, band, de minimis)
        given the day received; None leaves valuations empty. Bodies from `stream_bytes` up
        are parsed as a stream (see `run`)."""
        self._signer, self._value, self._stream_bytes = signer, value, stream_bytes

    def run(self, body: bytes, operator_code: str, prov: Provenance, fmt: str) -> CpuResult:
        """Parse `body`, a document of format `fmt`; seal its accepted items when its sender is
        `operator_code` (else the pipeline refuses it, so nothing is signed).

        A body from `stream_bytes` up is parsed as a stream (`DeclarationFormat.parse_stream`):
        each item is valued and stamped as soon as it is read, its Declaration dropped, and no
        tree of the whole document is ever built; the outcome is the same.
        """
        if len(body) >= self._stream_bytes:
            return self.run_file(io.BytesIO(body), operator_code, prov, fmt)
        timings: dict[str, float] = {}
        parsed = lookup(fmt).parse(body, timings=timings)
        sealed = SealedEntries()
        contributions = Contributions()
        if parsed.header.sender == operator_code:
            start = time.perf_counter()
            sealed = SealedEntries(self._seal_all(parsed, prov, contributions))
            timings["sign"] = time.perf_counter() - start
        return CpuResult(parsed, sealed, tuple(timings.items()), contributions)

    def run_file(
        self, source: BinaryIO, operator_code: str, prov: Provenance, fmt: str
    ) -> CpuResult:
        """`run` for a body in a file, always as a stream: memory bounded by an item and the
        records sealed, never by the document."""
        streamed = self.stream_file(source, operator_code, prov, fmt)
        start = time.perf_counter()
        sealed = SealedEntries(streamed.sealed)
        return streamed.result(sealed, time.perf_counter() - start)

    def stream_file(
        self,
        source: BinaryIO,
        operator_code: str,
        prov: Provenance,
        fmt: str,
        log: StampLog | None = None,
    ) -> Streamed:
        """Parse the document (of format `fmt`) in `source` as a stream, valuing and stamping
        each accepted item as it is read (its entry and payload kept in `log`, a list by
        default); the records are signed and made one at a time as `Streamed.sealed` is
        iterated."""
        sealer = Sealer(prov, self._signer, log)
        day = prov.received_at.astimezone(UTC).date()
        stamping = 0.0

        def keep(header: MessageHeader, item: ItemOutcome) -> ItemOutcome:
            nonlocal stamping
            if item.declaration is None:
                return item
            if item.accepted and header.sender == operator_code and not header.test:
                start = time.perf_counter()
                if self._value is not None:
                    self._value(item.declaration, day)
                sealer.add(item)
                stamping += time.perf_counter() - start
            return item.declaration_dropped()

        timings: dict[str, float] = {}
        parsed = lookup(fmt).parse_stream(source, keep=keep, timings=timings)
        if parsed.header.sender != operator_code:
            return Streamed(parsed, timings, iter(()), None)
        timings["translate"] -= stamping  # keep ran inside the stream's translate time
        return Streamed(parsed, timings, sealer.seal(), stamping)

    def _seal_all(
        self, parsed: ParsedMessage, prov: Provenance, contributions: Contributions
    ) -> dict[int, JournalEntry]:
        """Value, then seal, each accepted item; add each one's share-cell contribution (what
        the aggregation would compute from its record) to `contributions`, from the declaration
        as sealed (sealing stamps the received time, which a cell's week may come from)."""
        if parsed.header.test:
            return {}
        accepted = [i for i in parsed.items if i.accepted]
        if self._value is not None:
            day = prov.received_at.astimezone(UTC).date()
            for item in accepted:
                assert item.declaration is not None
                self._value(item.declaration, day)
        sealed = seal_all(accepted, prov, self._signer)
        for item in accepted:
            assert item.declaration is not None
            contributions.add(item.index, item.declaration)
        return sealed


class CpuRunner(Protocol):
    """Runs `CpuStages.run` for one message somewhere (this process, a thread, a process pool).

    May raise MessageRejected (400) and, when the worker running it died or hung, Overloaded
    (503)."""

    async def start(self) -> None:
        """Make it ready (start its processes); called once, before the first `run`."""

    async def run(self, body: Body, operator_code: str, prov: Provenance, fmt: str) -> CpuResult:
        """`CpuStages.run` of `body`, a document of format `fmt`."""
        ...

    def close(self) -> None: ...


SpooledRun = Callable[[CpuStages, SpooledBody, str, Provenance, str], CpuResult]


class InProcessCpu:
    """CpuStages in this process: on the event loop, or on `executor` (threads) from
    `offload_bytes` up so a large document does not stall the loop. A body spooled to a file
    goes to `spooled` (the gateway's keeps its entries in a file too; by default they are
    held in memory)."""

    def __init__(
        self,
        stages: CpuStages,
        executor: Executor | None = None,
        offload_bytes: int = 64 * 1024,
        *,
        spooled: SpooledRun | None = None,
    ) -> None:
        self._stages, self._executor, self._offload_bytes = stages, executor, offload_bytes
        self._spooled = spooled or _run_spooled

    async def start(self) -> None:
        """Nothing to start: the stages run in this process."""

    async def run(self, body: Body, operator_code: str, prov: Provenance, fmt: str) -> CpuResult:
        if isinstance(body, SpooledBody):
            work = partial(self._spooled, self._stages, body, operator_code, prov, fmt)
        else:
            work = partial(self._stages.run, body, operator_code, prov, fmt)
            if len(body) < self._offload_bytes:
                return work()
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        """Nothing to release: the executor belongs to whoever passed it."""


def _run_spooled(
    stages: CpuStages, body: SpooledBody, operator_code: str, prov: Provenance, fmt: str
) -> CpuResult:
    with body.path.open("rb") as source:
        return stages.run_file(source, operator_code, prov, fmt)


class ItemLocks:
    """Which messages hold which items, per (partner, item id): a message takes all its items
    at once or none (so it never holds some while waiting for others: no deadlock), and waits
    for the message holding one of them to release it before it looks again.

    A held item costs one dict slot pointing at its message's single release future (a 40,000
    item message holds 40,000 slots, not 40,000 locks); released items are forgotten, so the
    table is bounded by the items in flight, never by every item ever seen. No queue is kept:
    messages sharing items are rare (an amendment close behind its original), and a waiter
    looks again each time a message it waited for is done.
    """

    def __init__(self) -> None:
        self._held: dict[str, dict[str, asyncio.Future[None]]] = {}

    def __len__(self) -> int:
        return sum(len(held) for held in self._held.values())

    @contextlib.asynccontextmanager
    async def holding(self, partner: str, item_ids: Iterable[str]) -> AsyncIterator[None]:
        ids = item_ids if isinstance(item_ids, set | frozenset) else set(item_ids)
        held = self._held.setdefault(partner, {})
        while (holder := next((held[i] for i in ids if i in held), None)) is not None:
            await asyncio.wait([holder])  # not cancelled with us: it is the holder's release
            held = self._held.setdefault(partner, {})
        mine = asyncio.get_running_loop().create_future()
        for item_id in ids:  # no await since the look: all of them are free
            held[item_id] = mine
        try:
            yield
        finally:
            for item_id in ids:
                del held[item_id]
            if not held and self._held.get(partner) is held:
                del self._held[partner]
            mine.set_result(None)


class IntakeStore(MessageStore, JournalStore, Protocol):
    """The store roles ITMATT intake uses: stored messages (replay) and the journal."""


class Pipeline:
    def __init__(
        self,
        *,
        store: IntakeStore,
        signer: Signer,
        clock: Clock,
        metrics: Metrics,
        on_commit: Callable[[int], None],
        executor: Executor | None = None,
        offload_bytes: int = 64 * 1024,
        value: Callable[[Declaration, date], None] | None = None,
        cpu: CpuRunner | None = None,
        on_contributions: Callable[[Iterable[tuple[int, Contribution]]], None] | None = None,
    ) -> None:
        """`cpu` runs each message's CPU stages (e.g. a process pool); None: in this process
        with `signer` and `value` (see CpuStages), messages from `offload_bytes` up on
        `executor`. After each commit, `on_commit` gets the last position and
        `on_contributions` (e.g. the Aggregator's `expect`) each committed record's position and
        share-cell contribution, when the CPU stages computed them."""
        self._store, self._clock = store, clock
        self._metrics, self._on_commit = metrics, on_commit
        self._on_contributions = on_contributions
        self._cpu = cpu or InProcessCpu(CpuStages(signer, value), executor, offload_bytes)
        self._locks = ItemLocks()

    async def submit_itmatt(self, partner: Partner, body: Body, digest: str) -> Submission:
        """`submit` of an ITMATT 1.5 message."""
        return await self.submit(ITMATT_FORMAT, partner, body, digest)

    async def submit(self, fmt: str, partner: Partner, body: Body, digest: str) -> Submission:
        """Validate, seal and journal one message of declaration format `fmt` (a name in
        `gateway.formats.registry.FORMATS`) from an authenticated partner.

        Raises MessageRejected (400), Forbidden (403), MessageConflict (409), StoreError (503),
        Overloaded (503: the CPU worker running it died or hung; nothing was stored).
        """
        if not partner.may_submit(fmt):
            raise Forbidden(partner.id, f"is not allowed to submit {fmt}")
        # The receipt id and time are fixed before the CPU task, which seals them into records.
        prov = Provenance(partner.id, self._clock.now(), str(uuid.uuid4()), digest)
        done = await self._cpu.run(body, partner.operator_code or "", prov, fmt)
        try:
            return await self._journal(partner, done, prov)
        finally:
            done.sealed.close()

    async def _journal(self, partner: Partner, done: CpuResult, prov: Provenance) -> Submission:
        for stage, seconds in done.seconds:
            self._metrics.observe_stage(stage, seconds)
        parsed, sealed, digest = done.parsed, done.sealed, prov.content_digest
        if parsed.header.sender != partner.operator_code:
            raise Forbidden(
                partner.id,
                f"msgheader/sender {parsed.header.sender!r} is not this partner's operator code "
                f"{partner.operator_code!r}",
            )
        existing = await self._store.find_message(partner.id, parsed.header.message_id)
        if existing is not None:
            return replay(existing, digest)
        for attempt in range(1, VERSION_RACE_ATTEMPTS + 1):
            try:
                return await self._commit(partner, parsed, prov, sealed, done.contributions)
            except ItemVersionTaken:
                # Another replica journaled one of these item versions between our read of the
                # history and our commit: nothing was stored; read it again and decide again.
                if attempt == VERSION_RACE_ATTEMPTS:
                    raise
                log.info(
                    "item version taken by a concurrent commit; deciding again",
                    extra={"partner": partner.id, "message_id": parsed.header.message_id},
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _commit(
        self,
        partner: Partner,
        parsed: ParsedMessage,
        prov: Provenance,
        sealed: Sealed,
        contributions: Contributions | None,
    ) -> Submission:
        # Only messages that share an item wait for one another: the history read and the
        # commit of an item are one step, and messages on distinct items commit together (the
        # store groups concurrent commits into one transaction, one fsync).
        item_ids = {i.item_id for i in parsed.items}
        async with self._locks.holding(partner.id, item_ids):
            states = await self._store.item_states(partner.id, item_ids)
            items = apply_history_rules(parsed.items, states)
            committed = [i.index for i in items if i.accepted and i.index in sealed]
            entries = sealed.select(committed)
            receipt = build_receipt(
                receipt_id=prov.receipt_id,
                partner=partner.id,
                message_id=parsed.header.message_id,
                content_digest=prov.content_digest,
                received_at=prov.received_at,
                items=items,
                declaration_ids=RecordIds(sealed),
                test=parsed.header.test,
            )
            record = MessageRecord(
                partner=partner.id,
                message_id=parsed.header.message_id,
                content_digest=prov.content_digest,
                receipt_id=prov.receipt_id,
                received_at=prov.received_at,
                status=receipt.status.value,
                http_status=receipt.http_status,
                receipt=receipt.body,
                test=parsed.header.test,
            )
            try:
                with self._metrics.stage("commit"):
                    positions = await self._store.commit_message(record, entries)
            except DuplicateMessage as dup:  # another request with this messageId won the race
                return replay(dup.existing, prov.content_digest)
        if positions:
            if contributions and self._on_contributions is not None:
                # Positions come in entry order (Store.commit_message); handed over before the
                # commit is announced, so whoever folds it has them.
                terms = map(contributions.get, committed)
                self._on_contributions(
                    (p, t) for p, t in zip(positions, terms, strict=True) if t is not None
                )
            self._on_commit(positions[-1])
        self._count(partner, items)
        log.info(
            "message journaled",
            extra={
                "partner": partner.id,
                "message_id": record.message_id,
                "status": record.status,
                "accepted": receipt.accepted,
                "rejected": receipt.rejected,
                "receipt_id": record.receipt_id,
            },
        )
        return Submission(receipt.http_status, receipt.body, receipt.accepted, receipt.rejected)

    def _count(self, partner: Partner, items: Sequence[ItemOutcome]) -> None:
        outcomes = Counter("accepted" if item.accepted else "rejected" for item in items)
        findings = Counter((f.code, f.severity.value) for item in items for f in item.findings)
        for outcome, n in outcomes.items():
            self._metrics.count_items(partner.id, outcome, n)
        for (code, severity), n in findings.items():
            self._metrics.count_findings(code, severity, n)


def replay(existing: StoredMessage, digest: str) -> Submission:
    """The stored answer to a resubmission; MessageConflict when the content differs."""
    if existing.content_digest != digest:
        raise MessageConflict(existing.partner, existing.message_id)
    return Submission(200, existing.receipt)
