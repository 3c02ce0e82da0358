"""The worker side of the CPU workers (gateway.adapters.cpu): runs in each worker process.

`initialize` runs once per process (the valuer, the compiled schema, a watch on the serving
process); `run_message` and `run_spooled` are the tasks, one per message. `run_spooled_here`
gives a spooled body the same treatment in the serving process (`[cpu] workers = 0`).
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import select
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.adapters.cpu import codec
from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.keys import SigningKey
from gateway.domain.bodies import SpooledBody
from gateway.domain.messages import TRANSLATED, ParsedMessage, with_changes
from gateway.domain.records import Provenance
from gateway.errors import MessageRejected
from gateway.formats import registry
from gateway.rules.rates import RateTable
from gateway.rules.valuation import valuer
from gateway.services.itmatt_intake import CpuResult, CpuStages, SealedEntries
from gateway.wire.declaration_pb2 import Declaration

KEEP_SIGNERS = 4  # key ids a worker keeps signers for (an overlap after rotation needs 2)


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """What a worker needs to sign as the main process does now."""

    keyid: str
    alg: str
    pem: bytes  # PKCS#8, unencrypted


@dataclass
class _Worker:
    value: Callable[[Declaration, date], None] | None
    stages: dict[str, CpuStages]


_worker: _Worker | None = None


def initialize(
    home_country: str | None, rates: RateTable | None, serving: int | None = None
) -> None:
    """Per worker process, once: the valuer and what each registered format prepares (its
    compiled schema); and, given the serving process's pid, end this worker when that process
    is gone."""
    global _worker  # noqa: PLW0603 - the per-process state of a pool worker
    if serving is not None:
        _end_with(serving)
    value = valuer(home_country, rates) if home_country and rates is not None else None
    _worker = _Worker(value, {})
    for fmt in registry.FORMATS.values():
        fmt.prepare()


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


def _stages_for(plain: codec.PlainKey) -> CpuStages:
    """This worker's stages signing with the key a task names (loaded the first time)."""
    if _worker is None:  # pragma: no cover - the pool's initializer always ran
        initialize(None, None)
    assert _worker is not None
    worker, key = _worker, KeyMaterial(*plain)
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
    body: bytes, operator_code: str, prov: codec.PlainProvenance, fmt: str, key: codec.PlainKey
) -> bytes | codec.Rejected:
    """The pool task: CpuStages.run of a document of format `fmt` with the named key; the
    CpuResult marshalled (`codec.encode`)."""
    stages = _stages_for(key)
    try:
        done = stages.run(body, operator_code, codec.provenance(prov), fmt)
    except MessageRejected as exc:
        return codec.Rejected(exc.title, exc.findings)
    return codec.encode(done)


def run_spooled(
    path: str, operator_code: str, prov: codec.PlainProvenance, fmt: str, key: codec.PlainKey
) -> tuple[str, codec.RecordIdTable] | codec.Rejected:
    """The pool task for a body spooled to `path`: CpuStages.stream_file, so neither the body
    nor the records cross the pipe and no process holds all the records: the stamped items
    (entries and payloads) wait in a scratch file, each record is sealed and written on its
    own (one marshalled row each) to `path`.entries, and the CpuResult (outcomes, stage times;
    no entries) to `path`.result. Returns `path` and each entry's item index and record id, in
    file order."""
    stages = _stages_for(key)
    try:
        done, ids = seal_to_file(stages, path, operator_code, codec.provenance(prov), fmt)
    except MessageRejected as exc:
        return codec.Rejected(exc.title, exc.findings)
    with Path(path + codec.RESULT).open("wb") as sink:
        pickle.dump(replace(done, parsed=_without_declarations(done.parsed)), sink, protocol=5)
    del done
    _give_back_memory()
    return path, ids


def seal_to_file(
    stages: CpuStages, path: str, operator_code: str, prov: Provenance, fmt: str
) -> tuple[CpuResult, codec.RecordIdTable]:
    """Stream the document (of format `fmt`) in file `path` through `stages`, its sealed
    entries written to `path`.entries as they are made: the CpuResult (its `sealed` empty) and
    each entry's item index and record id. MessageRejected as CpuStages.run."""
    ids = codec.RecordIdTable()
    with Path(path).open("rb") as source, tempfile.TemporaryFile(dir=Path(path).parent) as scratch:
        streamed = stages.stream_file(source, operator_code, prov, fmt, codec.FileLog(scratch))
        try:
            with Path(path + codec.ENTRIES).open("wb") as sink:
                start = time.perf_counter()
                for index, entry in streamed.sealed:
                    codec.put(sink, codec.row_of(entry))
                    ids.add(index, entry.record_id)
        except BaseException:
            codec.unlink(path + codec.ENTRIES)
            raise
        return streamed.result(SealedEntries(), time.perf_counter() - start), ids


def run_spooled_here(
    stages: CpuStages, body: SpooledBody, operator_code: str, prov: Provenance, fmt: str
) -> CpuResult:
    """A spooled body's CPU stages in this process (`[cpu] workers = 0`), as a worker runs
    them: streamed, its entries left in their file for the store to read as it commits."""
    path = str(body.path)
    done, ids = seal_to_file(stages, path, operator_code, prov, fmt)
    return replace(done, sealed=codec.SpooledSealed(Path(path + codec.ENTRIES), ids))


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


def ready() -> bool:
    return _worker is not None
