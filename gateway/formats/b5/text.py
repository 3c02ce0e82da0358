"""Text feeds (CSV, JSON Lines): UTF-8 decoding and the readers that yield RawRows.

Whole-feed refusals (MessageRejected): B5_ENCODING (not UTF-8), B5_HEADER (a CSV without the
mapped header: empty, a mapped column absent, a column twice), B5_COLUMN_UNKNOWN (a CSV header
naming a column the mapping does not know: the layout is not the agreed one, so no row is
trusted). Row refusals: B5_CSV (the csv module refuses the record, or its cell count differs
from the header's), B5_JSON (a line that is not one JSON object, NaN, duplicate keys),
B5_COLUMN_UNKNOWN (a JSON key, at any depth, that the mapping does not know).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal

from gateway.domain.findings import error
from gateway.errors import MessageRejected
from gateway.formats.b5.mapping import FeedMapping
from gateway.formats.b5.rows import RawRow

_BOM = "\ufeff"
_ABSENT = object()


def decode(data: bytes) -> str:
    """The feed as text: UTF-8 (a leading BOM dropped); MessageRejected B5_ENCODING otherwise."""
    try:
        return data.decode("utf-8").removeprefix(_BOM)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"the feed is not UTF-8: byte {exc.start} ({exc.reason})"
        raise MessageRejected("not UTF-8", [error("B5_ENCODING", message, "", line)]) from exc


# -- CSV ------------------------------------------------------------------------------------


def csv_rows(text: str, mapping: FeedMapping) -> Iterator[RawRow]:
    """Rows after the header, numbered by the physical line they start on (the header is 1).

    A line ends at a line feed (CRLF too), as in JSON Lines: the reader is handed the text
    split there only, so a carriage return inside a quoted cell is part of the cell and one
    outside a quoted cell is a B5_CSV error, never a line. The header is checked first (and may
    raise MessageRejected); empty lines are skipped.
    """
    lines = io.StringIO(text, newline="\n")  # split at "\n" only, nothing translated
    reader = csv.reader(lines, delimiter=mapping.delimiter, strict=True)
    columns = _header(reader, mapping)
    ended = reader.line_num
    while True:
        start = ended + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(start, {}, (error("B5_CSV", str(exc), f"row[{start}]", start),))
        else:
            if record:
                yield _csv_row(start, record, columns)
        ended = reader.line_num


def _header(reader: Iterator[list[str]], mapping: FeedMapping) -> dict[str, int]:
    """Canonical key → column index, from the first record; MessageRejected otherwise."""
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise _bad_header("B5_HEADER", f"the header cannot be read: {exc}") from exc
    sources = mapping.row_sources()
    known = {source: key for key, source in sources.items()}
    if unknown := [name for name in header if name not in known]:
        raise _bad_header(
            "B5_COLUMN_UNKNOWN",
            f"the header names columns the mapping does not know: {unknown}",
        )
    if len(set(header)) != len(header):
        raise _bad_header("B5_HEADER", "the header names a column twice")
    if missing := [source for source in sources.values() if source not in header]:
        raise _bad_header("B5_HEADER", f"the header lacks the mapped columns {missing}")
    return {known[name]: index for index, name in enumerate(header)}


def _bad_header(code: str, message: str) -> MessageRejected:
    return MessageRejected("header invalid", [error(code, message, "row[1]", 1)])


def _csv_row(number: int, record: list[str], columns: Mapping[str, int]) -> RawRow:
    if len(record) != len(columns):
        message = f"the row has {len(record)} cells, the header {len(columns)}"
        return RawRow(number, {}, (error("B5_CSV", message, f"row[{number}]", number),))
    return RawRow(number, {key: record[index] for key, index in columns.items()})


# -- JSON Lines -----------------------------------------------------------------------------


def jsonl_rows(text: str, mapping: FeedMapping) -> Iterator[RawRow]:
    """One row per non-blank line, numbered by its line; numbers with a fraction as Decimal."""
    sources = mapping.row_sources()
    prefixes = {prefix for source in sources.values() for prefix in _prefixes(source)}
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield _jsonl_row(number, line, sources, prefixes)


def _prefixes(path: str) -> Iterator[str]:
    """The objects a dotted path goes through: "a.b.c" → "a", "a.b"."""
    steps = path.split(".")
    return (".".join(steps[:end]) for end in range(1, len(steps)))


def _jsonl_row(number: int, line: str, sources: Mapping[str, str], prefixes: set[str]) -> RawRow:
    try:
        document = json.loads(
            line,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except ValueError as exc:  # JSONDecodeError, and the hooks' refusals
        return RawRow(number, {}, (error("B5_JSON", str(exc), f"row[{number}]", number),))
    if not isinstance(document, dict):
        message = "a line of the feed is one JSON object"
        return RawRow(number, {}, (error("B5_JSON", message, f"row[{number}]", number),))
    known = set(sources.values())
    if unknown := sorted(_unknown_keys(document, "", known, prefixes)):
        path = f"row[{number}]/{unknown[0]}"
        message = f"keys the mapping does not know: {unknown}"
        return RawRow(number, {}, (error("B5_COLUMN_UNKNOWN", message, path, number),))
    values = {key: _at(document, source) for key, source in sources.items()}
    return RawRow(number, {key: value for key, value in values.items() if value is not _ABSENT})


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("an object names a key twice")
    return document


def _unknown_keys(
    document: Mapping[str, object], prefix: str, known: set[str], prefixes: set[str]
) -> Iterator[str]:
    for key, value in document.items():
        path = prefix + key
        if path in known:
            continue
        if path in prefixes and isinstance(value, dict):
            yield from _unknown_keys(value, path + ".", known, prefixes)
        else:
            yield path


def _at(document: Mapping[str, object], path: str) -> object:
    value: object = document
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            return _ABSENT
        value = value[step]
    return value
