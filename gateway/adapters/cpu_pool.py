"""The CPU stages of ITMATT messages on a process pool, so every core works (issue 6).

One task per message: the body, the partner's operator code, the provenance and the gateway's
active signing key go to a worker; a `CpuResult` (the parsed message, its sealed and signed
journal entries, stage times, share-cell contributions) comes back; both ways as plain values,
not pickled classes (the result marshalled by `_encode`). Each worker process prepares once
what every message needs (the compiled XSD, the valuer and its rates) and keeps a signer per key
id.

Key rotation: each task names the key the main process signs with now (`key()` is read per
task), with its private key in PEM; a worker that does not know that key id yet loads it, so
after SIGHUP the next message is signed with the new key, by any worker. The PEM crosses only a
pipe to a child process of the same user, which could read the key folder itself.

Large bodies (from `spool_bytes`, `[cpu] stream_bytes`) go to the worker as a file instead,
spooled by the edge as they arrived (or written here): the worker parses them as a stream and
leaves its records in a file beside the body, which the store reads as it commits
(`run_spooled`, `SpooledSealed`); neither process ever holds the document or all its records.

The workers are a `WorkerPool` (gateway.adapters.worker_pool), driven by the event loop through
one socket pair per worker, with no feeder or manager thread. Small messages (below
`inline_bytes`) may run in the serving process instead.

A worker that dies (killed, out of memory) breaks the whole pool: every message in flight on it
gets Overloaded (503 + Retry-After; nothing was journaled, so no receipted item is lost) and the
next message gets a fresh pool. A message whose CPU stages have not finished `task_timeout_s`
after it was handed over (queueing included: keep it far above the slowest document's time)
is taken to have hung its worker: the pool's workers are killed, which is the same case.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import marshal
import multiprocessing
import os
import pickle
import select
import sys
import tempfile
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.keys import SigningKey, private_pem
from gateway.adapters.worker_pool import PoolBroken, WorkerPool
from gateway.domain.findings import Finding, Severity
from gateway.domain.messages import (
    TRANSLATED,
    ItemFunction,
    ItemOutcome,
    MessageHeader,
    ParsedMessage,
    with_changes,
)
from gateway.domain.records import Provenance, Stamped
from gateway.domain.sequences import Lazy
from gateway.errors import MessageRejected, Overloaded
from gateway.formats.itmatt import itmatt_schema
from gateway.pipeline import (
    STREAM_BYTES,
    CpuResult,
    CpuRunner,
    CpuStages,
    Sealed,
    SealedEntries,
)
from gateway.ports import Body, JournalEntry, SpooledBody
from gateway.rules.rates import RateTable
from gateway.rules.valuation import valuer
from gateway.share.aggregate import Contributions
from gateway.wire.declaration_pb2 import Declaration

log = logging.getLogger(__name__)
KEEP_SIGNERS = 4  # key ids a worker keeps signers for (an overlap after rotation needs 2)


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """What a worker needs to sign as the main process does now."""

    keyid: str
    alg: str
    pem: bytes  # PKCS#8, unencrypted


@dataclass(frozen=True, slots=True)
class _Rejected:
    """MessageRejected, carried back as a value (the exception does not survive pickling)."""

    title: str
    findings: tuple[Finding, ...]


# -- the worker side (runs in each pool process) ----------------------------------------------


@dataclass
class _Worker:
    value: Callable[[Declaration, date], None] | None
    stages: dict[str, CpuStages]


_worker: _Worker | None = None


def _initialize(
    home_country: str | None, rates: RateTable | None, serving: int | None = None
) -> None:
    """Per worker process, once: the valuer and the compiled schema; and, given the serving
    process's pid, end this worker when that process is gone."""
    global _worker  # noqa: PLW0603 - the per-process state of a pool worker
    if serving is not None:
        _end_with(serving)
    value = valuer(home_country, rates) if home_country and rates is not None else None
    _worker = _Worker(value, {})
    itmatt_schema()


def _end_with(serving: int) -> None:
    """Exit this worker as soon as process `serving` has ended, however it ended.

    A worker reads the end of its socket when the serving process is gone, but only between
    tasks; and a serving process killed outright (SIGKILL, the OOM killer) must never leave its
    workers, and the forkserver they keep alive, running: ~50 MB each, piling up at every crash.
    A thread waits on a pidfd of the serving process (Linux 5.3+), or else polls it every
    second.
    """
    try:
        pidfd = os.pidfd_open(serving)
    except ProcessLookupError:
        os._exit(0)  # already gone
    except (AttributeError, OSError):
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the process has exited
        else:
            while process_alive(serving):
                time.sleep(1)
        os._exit(0)  # no task of a dead process can be answered; nothing here to flush

    threading.Thread(target=watch, name="serving-process-watch", daemon=True).start()


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0; another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stages_for(worker: _Worker, key: KeyMaterial) -> CpuStages:
    stages = worker.stages.get(key.keyid)
    if stages is None:
        private = serialization.load_pem_private_key(key.pem, password=None)
        if not isinstance(private, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise TypeError(f"key {key.keyid}: unsupported private key type")
        stages = CpuStages(DsseSigner(SigningKey(key.keyid, key.alg, private)), worker.value)
        while len(worker.stages) >= KEEP_SIGNERS:
            del worker.stages[next(iter(worker.stages))]
        worker.stages[key.keyid] = stages
    return stages


def run_message(
    body: bytes, operator_code: str, prov: _PlainProvenance, key: _PlainKey
) -> bytes | _Rejected:
    """The pool task: CpuStages.run with the named key; the CpuResult marshalled (`_encode`)."""
    if _worker is None:  # pragma: no cover - the pool's initializer always ran
        _initialize(None, None)
    assert _worker is not None
    try:
        done = _stages_for(_worker, KeyMaterial(*key)).run(body, operator_code, _provenance(prov))
    except MessageRejected as exc:
        return _Rejected(exc.title, exc.findings)
    return _encode(done)


def run_spooled(
    path: str, operator_code: str, prov: _PlainProvenance, key: _PlainKey
) -> tuple[str, RecordIdTable] | _Rejected:
    """The pool task for a body spooled to `path`: CpuStages.stream_file, so neither the body
    nor the records cross the pipe and no process holds all the records: the stamped items
    (entries and payloads) wait in a scratch file, each record is sealed and written on its
    own (one marshalled row each) to `path`.entries, and the CpuResult (outcomes, stage times;
    no entries) to `path`.result. Returns `path` and each entry's item index and record id, in
    file order."""
    if _worker is None:  # pragma: no cover - the pool's initializer always ran
        _initialize(None, None)
    assert _worker is not None
    stages = _stages_for(_worker, KeyMaterial(*key))
    try:
        done, ids = seal_to_file(stages, path, operator_code, _provenance(prov))
    except MessageRejected as exc:
        return _Rejected(exc.title, exc.findings)
    with Path(path + _RESULT).open("wb") as sink:
        pickle.dump(replace(done, parsed=_without_declarations(done.parsed)), sink, protocol=5)
    del done
    _give_back_memory()
    return path, ids


def seal_to_file(
    stages: CpuStages, path: str, operator_code: str, prov: Provenance
) -> tuple[CpuResult, RecordIdTable]:
    """Stream the document in file `path` through `stages`, its sealed entries written to
    `path`.entries as they are made: the CpuResult (its `sealed` empty) and each entry's item
    index and record id. MessageRejected as CpuStages.run."""
    ids = RecordIdTable()
    with Path(path).open("rb") as source, tempfile.TemporaryFile(dir=Path(path).parent) as scratch:
        streamed = stages.stream_file(source, operator_code, prov, _FileLog(scratch))
        try:
            with Path(path + _ENTRIES).open("wb") as sink:
                start = time.perf_counter()
                for index, entry in streamed.sealed:
                    _put(sink, _row_of(entry))
                    ids.add(index, entry.record_id)
        except BaseException:
            _unlink(path + _ENTRIES)
            raise
        return streamed.result(SealedEntries(), time.perf_counter() - start), ids


def run_spooled_here(
    stages: CpuStages, body: SpooledBody, operator_code: str, prov: Provenance
) -> CpuResult:
    """A spooled body's CPU stages in this process (`[cpu] workers = 0`), as a worker runs
    them: streamed, its entries left in their file for the store to read as it commits."""
    path = str(body.path)
    done, ids = seal_to_file(stages, path, operator_code, prov)
    return replace(done, sealed=SpooledSealed(Path(path + _ENTRIES), ids))


def _give_back_memory() -> None:
    """Hand the heap pages a large document's parse freed back to the system (glibc keeps
    them otherwise: ~8 MiB for a 50 MiB document), so an idle worker stays small."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc
        return None
    return trim


_malloc_trim = _libc_malloc_trim()


_ENTRIES, _RESULT = ".entries", ".result"


class RecordIdTable:
    """(item index, record id) pairs added in rising index order, packed: 4 bytes an index and
    a record id's UTF-8 bytes end to end, ~45 bytes a record where a dict of strings costs
    ~150. Looked up by bisection."""

    __slots__ = ("_ends", "_ids", "_indexes")

    def __init__(self) -> None:
        self._indexes, self._ends = array("I"), array("I")  # index; where its id ends in _ids
        self._ids = bytearray()

    def add(self, index: int, record_id: str) -> None:
        if self._indexes and index <= self._indexes[-1]:
            raise ValueError(f"item {index} added out of order (after {self._indexes[-1]})")
        self._ids += record_id.encode()
        self._indexes.append(index)
        self._ends.append(len(self._ids))

    def __len__(self) -> int:
        return len(self._indexes)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indexes)

    def __contains__(self, index: object) -> bool:
        return self._position(index) is not None

    def record_id(self, index: int) -> str:
        at = self._position(index)
        if at is None:
            raise KeyError(index)
        return self._ids[self._ends[at - 1] if at else 0 : self._ends[at]].decode()

    def _position(self, index: object) -> int | None:
        if not isinstance(index, int):
            return None
        at = bisect_left(self._indexes, index)
        return at if at < len(self._indexes) and self._indexes[at] == index else None


class SpooledSealed(Sealed):
    """The sealed entries of a streamed message, in a file `run_spooled` wrote: read lazily,
    in order, each time the store iterates what `select` gives; the file goes on `close`."""

    def __init__(self, path: Path, ids: RecordIdTable) -> None:
        self._path, self._ids = path, ids

    def __contains__(self, index: object) -> bool:
        return index in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __getitem__(self, index: int) -> JournalEntry:
        """One entry (reads the file up to it: for tests and tools, not the commit path)."""
        for found in self.select([index]):
            return found
        raise KeyError(index)

    def select(self, indexes: Sequence[int]) -> Sequence[JournalEntry]:
        every = len(indexes) == len(self._ids) and all(
            a == b for a, b in zip(indexes, self._ids, strict=True)
        )  # the usual case: no set of them all to hold
        return _EntryFile(self._path, self._ids, None if every else frozenset(indexes))

    def record_id(self, index: int) -> str:
        return self._ids.record_id(index)

    def close(self) -> None:
        self._path.unlink(missing_ok=True)


class _EntryFile(Lazy[JournalEntry]):
    """The entries of some items of a SpooledSealed, read from its file on each iteration."""

    def __init__(self, path: Path, order: RecordIdTable, wanted: frozenset[int] | None) -> None:
        """`wanted`: the indexes of the entries to give, in file `order`; None: all."""
        self._path, self._order, self._wanted = path, order, wanted
        self._count = len(order) if wanted is None else sum(1 for i in order if i in wanted)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[JournalEntry]:
        with self._path.open("rb") as source:
            wanted = self._wanted
            for index in self._order:
                row = _take(source)
                if wanted is None or index in wanted:
                    yield _entry_of(row)


class _FileLog:
    """A StampLog in a scratch file: one marshalled row per stamped item, read back once in
    order."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def append(self, stamped: Stamped, /) -> None:
        index, entry, payload = stamped
        _put(self._file, (index, _row_of(entry), payload))

    def __iter__(self) -> Iterator[Stamped]:
        self._file.seek(0)
        while (stamped := _take(self._file)) is not None:
            index, row, payload = stamped
            yield index, _entry_of(row), payload


# Entries cross files as marshalled tuples of plain values: several times cheaper to write and
# read than pickling the frozen dataclass (which goes through dataclasses.fields() each time).
# Both ends are the same interpreter, whose marshal format they share.
_Row = tuple[str, str, str, str, int, str, str, tuple[str, ...], tuple[str, ...], str, str, bytes]


def _put(file: IO[bytes], value: Any) -> None:
    """Append one length-prefixed marshalled value to `file`."""
    data = marshal.dumps(value)
    file.write(len(data).to_bytes(4, "big"))
    file.write(data)


def _take(file: IO[bytes]) -> Any:
    """The next value `_put` wrote to `file`; None at its end."""
    size = file.read(4)
    if not size:
        return None
    return marshal.loads(file.read(int.from_bytes(size, "big")))  # noqa: S302 - our own file


# -- a message's CpuResult as plain values, across the pool ------------------------------------
#
# Pickling a CpuResult names ~13 classes, and pickle looks each one up (import and attribute
# checks) on both sides: ~40-80 µs a message each way here, more than a 1-item message's own
# values cost. Marshalled tuples of plain values name none; the main process builds the objects
# from them directly. The provenance and key go the other way as plain tuples too.

_PlainProvenance = tuple[str, str, str, str]
_PlainKey = tuple[str, str, bytes]
_FUNCTION = {f.value: f for f in ItemFunction}
_SEVERITY = {s.value: s for s in Severity}


def _plain_provenance(prov: Provenance) -> _PlainProvenance:
    return prov.partner, prov.received_at.isoformat(), prov.receipt_id, prov.content_digest


def _provenance(plain: _PlainProvenance) -> Provenance:
    partner, received_at, receipt_id, digest = plain
    return Provenance(partner, datetime.fromisoformat(received_at), receipt_id, digest)


def _encode(done: CpuResult) -> bytes:
    """`done` marshalled: each item's outcome without its Declaration (only whether it was
    translated matters past here; the records travel as entries)."""
    parsed, header = done.parsed, done.parsed.header
    contributions = done.contributions
    return marshal.dumps(
        (
            (header.message_id, header.sender, header.recipient, header.prepared_at.isoformat(),
             header.test),
            parsed.source_format,
            tuple(
                (i.index, i.line, i.item_id, i.version, i.function.value,
                 tuple((f.code, f.severity.value, f.message, f.path, f.line) for f in i.findings),
                 i.declaration is not None)
                for i in parsed.items
            ),
            tuple((index, _row_of(entry)) for index, entry in done.sealed.items()),
            done.seconds,
            None if contributions is None else contributions.plain(),
        )
    )  # fmt: skip


def _decode(data: bytes) -> CpuResult:
    """The CpuResult `_encode` gave (translated items carry TRANSLATED)."""
    head, source_format, items, sealed, seconds, contributions = marshal.loads(data)  # noqa: S302
    message_id, sender, recipient, prepared_at, test = head
    header = MessageHeader(message_id, sender, recipient, datetime.fromisoformat(prepared_at), test)
    outcomes = tuple(
        ItemOutcome(
            index, line, item_id, version, _FUNCTION[function],
            tuple(Finding(c, _SEVERITY[s], m, p, n) for c, s, m, p, n in findings),
            TRANSLATED if translated else None,
        )
        for index, line, item_id, version, function, findings, translated in items
    )  # fmt: skip
    return CpuResult(
        ParsedMessage(header, outcomes, source_format),
        SealedEntries({index: _entry_of(row) for index, row in sealed}),
        seconds,
        None if contributions is None else Contributions.from_plain(contributions),
    )


def _row_of(e: JournalEntry) -> _Row:
    return (
        e.record_id, e.partner, e.message_id, e.item_id, e.version, e.function.value,
        e.category, e.hs_chapters, e.origin_countries, str(e.value_amount), e.value_currency,
        e.envelope,
    )  # fmt: skip


def _entry_of(r: _Row) -> JournalEntry:
    return JournalEntry(
        r[0], r[1], r[2], r[3], r[4], _FUNCTION[r[5]], r[6], r[7], r[8], Decimal(r[9]),
        r[10], r[11],
    )  # fmt: skip


def _spool(body: bytes, folder: Path | None) -> str:
    """Write `body` to a new file in `folder` (the system's temporary folder when None)."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="itmatt-", suffix=".xml", dir=folder)
    with os.fdopen(handle, "wb") as sink:
        sink.write(body)
    return name


def _load_result(path: str, ids: RecordIdTable) -> CpuResult:
    """The CpuResult `run_spooled` wrote for `path`, its entries left in their file."""
    name = path + _RESULT
    try:
        with Path(name).open("rb") as source:
            result = pickle.load(source)  # noqa: S301 - written just now by our own worker
    finally:
        _unlink(name)
    assert isinstance(result, CpuResult)
    return replace(result, sealed=SpooledSealed(Path(path + _ENTRIES), ids))


def _unlink(name: str) -> None:
    Path(name).unlink(missing_ok=True)


def _without_declarations(parsed: ParsedMessage) -> ParsedMessage:
    """The parsed message with each translated item's Declaration replaced by an empty one.

    The main process needs only whether an item was translated (ItemOutcome.accepted); the
    records themselves travel in `sealed`. Half the bytes to pickle, and to unpickle on the
    event loop. (A streamed message's items are that way already, and packed.)"""
    changes = {
        n: item.declaration_dropped()
        for n, item in enumerate(parsed.items)
        if item.declaration is not None and item.declaration is not TRANSLATED
    }
    return replace(parsed, items=with_changes(parsed.items, changes))


def _ready() -> bool:
    return _worker is not None


# -- the main-process side ---------------------------------------------------------------------


def _context() -> multiprocessing.context.BaseContext:
    """forkserver on Linux (workers fork from a clean server, never from this process with its
    threads, gRPC and sockets), spawn elsewhere."""
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


class ProcessPoolCpu:
    """A CpuRunner (gateway.pipeline) on `workers` processes."""

    def __init__(
        self,
        workers: int,
        key: Callable[[], SigningKey],
        *,
        home_country: str | None = None,
        rates: RateTable | None = None,
        inline: CpuRunner | None = None,
        inline_bytes: int = 0,
        task_timeout_s: float | None = None,
        spool_bytes: int = STREAM_BYTES,
        spool_dir: Path | None = None,
    ) -> None:
        """`key` gives the key to sign with now (read per message); with `home_country` and
        `rates` the workers value each accepted item. Bodies under `inline_bytes` go to
        `inline` (the same stages in this process) instead of a worker; bodies from
        `spool_bytes` up go to a worker through a file in `spool_dir` (the system's temporary
        folder when None) and are parsed there as a stream."""
        if workers < 1:
            raise ValueError("a process pool needs at least one worker")
        self._workers, self._key = workers, key
        self._inline, self._inline_bytes = inline, inline_bytes
        self._timeout = task_timeout_s
        self._spool_bytes, self._spool_dir = spool_bytes, spool_dir
        self._initargs = (home_country, rates, os.getpid())
        self._material: _PlainKey | None = None
        self._pool: WorkerPool | None = None
        self.restarts = 0  # pools replaced after a worker died

    def _current(self) -> WorkerPool:
        """The pool to hand a message to: made on first use (it needs the running loop), and
        made anew when a worker died while the pool was idle."""
        pool = self._pool
        if pool is not None and pool.broken is not None:
            self._replace(pool)
            pool = self._pool
        if pool is None:
            pool = self._pool = WorkerPool(
                self._workers,
                _context(),
                initializer=_initialize,
                initargs=self._initargs,
                name="aedgw-cpu",
            )
        return pool

    def _key_material(self) -> _PlainKey:
        """The key to sign with now, as a task carries it (its PEM made once per key)."""
        key = self._key()
        if self._material is None or self._material[0] != key.keyid:
            self._material = (key.keyid, key.alg, private_pem(key.private_key))
        return self._material

    async def start(self) -> None:
        """Start every worker now (and let each compile the schema), not on the first
        messages."""
        pool = self._current()
        await asyncio.gather(*(pool.submit(_ready) for _ in range(self._workers)))

    async def run(self, body: Body, operator_code: str, prov: Provenance) -> CpuResult:
        if isinstance(body, SpooledBody):  # the edge wrote it to a file as it arrived
            return await self._run_file(str(body.path), operator_code, prov, len(body))
        if self._inline is not None and len(body) < self._inline_bytes:
            return await self._inline.run(body, operator_code, prov)
        if len(body) >= self._spool_bytes:
            return await self._run_spooled(body, operator_code, prov)
        result = await self._submit(run_message, body, operator_code, prov, size=len(body))
        if isinstance(result, _Rejected):
            raise MessageRejected(result.title, result.findings)
        assert isinstance(result, bytes)
        return _decode(result)

    async def _run_spooled(self, body: bytes, operator_code: str, prov: Provenance) -> CpuResult:
        """A large body goes to its worker as a file, and its records come back as one: a
        50 MiB document pickled through the pipe would cost its size twice in each process."""
        name = await asyncio.to_thread(_spool, body, self._spool_dir)
        try:
            return await self._run_file(name, operator_code, prov, len(body))
        finally:
            _unlink(name)

    async def _run_file(
        self, name: str, operator_code: str, prov: Provenance, size: int
    ) -> CpuResult:
        try:
            result = await self._submit(run_spooled, name, operator_code, prov, size=size)
        except BaseException:  # a dead or hung worker may have left its files half written
            _unlink(name + _ENTRIES)
            _unlink(name + _RESULT)
            raise
        if isinstance(result, _Rejected):
            raise MessageRejected(result.title, result.findings)
        assert isinstance(result, tuple)
        try:
            return await asyncio.to_thread(_load_result, *result)
        except BaseException:
            _unlink(name + _ENTRIES)
            raise

    async def _submit(
        self,
        task: Callable[..., object],
        first: object,
        operator_code: str,
        prov: Provenance,
        *,
        size: int,
    ) -> object:
        """Run `task` on a worker; Overloaded when the pool broke or the task hung."""
        pool = self._current()
        try:
            key = self._key_material()
            future = pool.submit(task, first, operator_code, _plain_provenance(prov), key)
            return await asyncio.wait_for(future, self._timeout)
        except PoolBroken as exc:
            self._replace(pool)
            raise Overloaded(retry_after=1) from exc
        except TimeoutError as exc:
            self._hung(pool, prov, size)
            raise Overloaded(retry_after=1) from exc

    def _hung(self, pool: WorkerPool, prov: Provenance, size: int) -> None:
        """A message ran past the task timeout: kill the workers, start a fresh pool."""
        if self._pool is pool:
            log.error(
                "a message's CPU stages did not finish in %s s; killing the CPU workers",
                self._timeout,
                extra={"partner": prov.partner, "bytes": size},
            )
            pool.kill()
        self._replace(pool)

    def _replace(self, broken: WorkerPool) -> None:
        """A fresh pool for the next messages (once per broken pool, however many failed);
        the broken pool's other workers are killed."""
        if self._pool is not broken:
            return
        log.error("a CPU worker process died (%s); starting a fresh pool", broken.broken)
        self.restarts += 1
        self._pool = None
        broken.kill()
        broken.close(timeout=0.0)

    def close(self) -> None:
        """Stop the workers, each once it has finished the message it is running."""
        if self._pool is not None:
            self._pool.close()
