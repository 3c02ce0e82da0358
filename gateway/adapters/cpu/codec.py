"""What crosses between the serving process and its CPU workers (gateway.adapters.cpu).

A message's CpuResult as marshalled plain values (`encode`, `decode`), its provenance and key as
plain tuples; and, for a large message, its spool files: the body (`spool`), the sealed entries
a worker writes beside it (read back lazily by `SpooledSealed`, indexed by a `RecordIdTable`)
and its result (`load_result`).
"""

from __future__ import annotations

import marshal
import os
import pickle
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from gateway.domain.findings import Finding, Severity
from gateway.domain.journal import JournalEntry
from gateway.domain.messages import (
    TRANSLATED,
    ItemFunction,
    ItemOutcome,
    MessageHeader,
    ParsedMessage,
)
from gateway.domain.records import Provenance, Stamped
from gateway.domain.sequences import Lazy
from gateway.services.itmatt_intake import CpuResult, Sealed, SealedEntries
from gateway.share.aggregate import Contributions


@dataclass(frozen=True, slots=True)
class Rejected:
    """MessageRejected, carried back as a value (the exception does not survive pickling)."""

    title: str
    findings: tuple[Finding, ...]


# -- a message's CpuResult as plain values, across the pool ------------------------------------
#
# Pickling a CpuResult names ~13 classes, and pickle looks each one up (import and attribute
# checks) on both sides: ~40-80 µs a message each way here, more than a 1-item message's own
# values cost. Marshalled tuples of plain values name none; the main process builds the objects
# from them directly. The provenance and key go the other way as plain tuples too.

PlainProvenance = tuple[str, str, str, str]
PlainKey = tuple[str, str, bytes]
_FUNCTION = {f.value: f for f in ItemFunction}
_SEVERITY = {s.value: s for s in Severity}


def plain_provenance(prov: Provenance) -> PlainProvenance:
    return prov.partner, prov.received_at.isoformat(), prov.receipt_id, prov.content_digest


def provenance(plain: PlainProvenance) -> Provenance:
    partner, received_at, receipt_id, digest = plain
    return Provenance(partner, datetime.fromisoformat(received_at), receipt_id, digest)


def encode(done: CpuResult) -> bytes:
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
            tuple((index, row_of(entry)) for index, entry in done.sealed.items()),
            done.seconds,
            None if contributions is None else contributions.plain(),
        )
    )  # fmt: skip


def decode(data: bytes) -> CpuResult:
    """The CpuResult `encode` gave (translated items carry TRANSLATED)."""
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
        SealedEntries({index: entry_of(row) for index, row in sealed}),
        seconds,
        None if contributions is None else Contributions.from_plain(contributions),
    )


# Entries cross the pipe and files as marshalled tuples of plain values: several times cheaper
# to write and read than pickling the frozen dataclass (which goes through dataclasses.fields()
# each time). Both ends are the same interpreter, whose marshal format they share.
_Row = tuple[str, str, str, str, int, str, str, tuple[str, ...], tuple[str, ...], str, str, bytes]


def row_of(e: JournalEntry) -> _Row:
    return (
        e.record_id, e.partner, e.message_id, e.item_id, e.version, e.function.value,
        e.category, e.hs_chapters, e.origin_countries, str(e.value_amount), e.value_currency,
        e.envelope,
    )  # fmt: skip


def entry_of(r: _Row) -> JournalEntry:
    return JournalEntry(
        r[0], r[1], r[2], r[3], r[4], _FUNCTION[r[5]], r[6], r[7], r[8], Decimal(r[9]),
        r[10], r[11],
    )  # fmt: skip


# -- spool files: a large message's body, entries and result beside it -------------------------


def put(file: IO[bytes], value: Any) -> None:
    """Append one length-prefixed marshalled value to `file`."""
    data = marshal.dumps(value)
    file.write(len(data).to_bytes(4, "big"))
    file.write(data)


def take(file: IO[bytes]) -> Any:
    """The next value `put` wrote to `file`; None at its end."""
    size = file.read(4)
    if not size:
        return None
    return marshal.loads(file.read(int.from_bytes(size, "big")))  # noqa: S302 - our own file


ENTRIES, RESULT = ".entries", ".result"


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
    """The sealed entries of a streamed message, in a file `worker.run_spooled` wrote: read lazily,
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
                row = take(source)
                if wanted is None or index in wanted:
                    yield entry_of(row)


class FileLog:
    """A StampLog in a scratch file: one marshalled row per stamped item, read back once in
    order."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def append(self, stamped: Stamped, /) -> None:
        index, entry, payload = stamped
        put(self._file, (index, row_of(entry), payload))

    def __iter__(self) -> Iterator[Stamped]:
        self._file.seek(0)
        while (stamped := take(self._file)) is not None:
            index, row, payload = stamped
            yield index, entry_of(row), payload


def spool(body: bytes, folder: Path | None) -> str:
    """Write `body` to a new file in `folder` (the system's temporary folder when None)."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="itmatt-", suffix=".xml", dir=folder)
    with os.fdopen(handle, "wb") as sink:
        sink.write(body)
    return name


def load_result(path: str, ids: RecordIdTable) -> CpuResult:
    """The CpuResult `worker.run_spooled` wrote for `path`, its entries left in their file."""
    name = path + RESULT
    try:
        with Path(name).open("rb") as source:
            result = pickle.load(source)  # noqa: S301 - written just now by our own worker
    finally:
        unlink(name)
    assert isinstance(result, CpuResult)
    return replace(result, sealed=SpooledSealed(Path(path + ENTRIES), ids))


def unlink(name: str) -> None:
    Path(name).unlink(missing_ok=True)
