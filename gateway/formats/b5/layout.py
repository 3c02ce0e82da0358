"""Is a feed's body in the layout its partner's mapping names? Pure.

A body plainly in another layout (CSV sent to the JSON Lines partner, JSON Lines or XML to the
CSV partner …, whatever its media type) is refused as a whole with one finding, B5_LAYOUT,
naming the layout expected and the one seen: reading it row by row would only give one finding
a line that all say the same. A body that merely has errors in its own layout (a broken JSON
line, a CSV with another header) is left to the layout's reader, whose findings are precise.

What a body looks like is read from its first non-blank line (a UTF-8 BOM and leading blanks
skipped): `<` XML, `{` JSON Lines, `[` a JSON document, a line with a `,` `;` tab or `|` CSV;
anything else (binary, one word) is no verdict.
"""

from __future__ import annotations

import re

from gateway.domain.findings import error
from gateway.errors import WrongLayout
from gateway.formats.b5.mapping import FeedKind, FeedMapping

JSON = "json"  # a JSON document (an array): no layout of a mapping, but a common mistake
_SEEN = {
    FeedKind.CSV.value: "CSV",
    FeedKind.JSONL.value: "JSON Lines",
    FeedKind.XML.value: "XML",
    JSON: "a JSON document, not one object a line",
}
_FIRST = {"<": FeedKind.XML.value, "{": FeedKind.JSONL.value, "[": JSON}
_CSV_SEPARATORS = frozenset(",;\t|")
_OBJECT_LINE = re.compile(rb"^[ \t\r]*\{", re.MULTILINE)
_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SHOWN = 60


def check_layout(data: bytes, mapping: FeedMapping) -> None:
    """Raise WrongLayout when `data` plainly looks like another layout than `mapping.kind`."""
    first = _first_line(data)
    if first is None:
        return
    number, line = first
    seen = _looks_like(line)
    if seen is None or seen == mapping.kind.value or not _plainly(seen, line, data, mapping):
        return
    shown = line if len(line) <= _SHOWN else line[:_SHOWN] + "…"
    message = (
        f"expected {_expected(mapping)} per this partner's mapping; the body looks like "
        f"{_SEEN[seen]} (first line: {shown!r})"
    )
    raise WrongLayout(mapping.kind.value, seen, error("B5_LAYOUT", message, "", number))


def _first_line(data: bytes) -> tuple[int, str] | None:
    """The first line with more than blanks, and its number; None when there is none or it is
    not text (not UTF-8, control characters: the layout's reader says what is wrong)."""
    body = data.removeprefix(_BOM)
    number, start = 1, 0
    while start < len(body):
        end = body.find(b"\n", start)
        end = len(body) if end == -1 else end
        try:
            line = body[start:end].decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
        if line:
            return None if _CONTROL.search(line) else (number, line)
        number, start = number + 1, end + 1
    return None


def _looks_like(line: str) -> str | None:
    seen = _FIRST.get(line[0])
    if seen is None and _CSV_SEPARATORS.intersection(line):
        seen = FeedKind.CSV.value
    return seen


def _plainly(seen: str, line: str, data: bytes, mapping: FeedMapping) -> bool:
    """Whether a body that looks like `seen` cannot be in the mapping's layout at all."""
    if mapping.kind is FeedKind.CSV:  # unless a mapped column's name begins like the body
        return not any(source.startswith(line[0]) for source in mapping.row_sources().values())
    if mapping.kind is FeedKind.JSONL and seen == FeedKind.CSV.value:
        return _OBJECT_LINE.search(data) is None  # no line is even an attempt at an object
    return True


def _expected(mapping: FeedMapping) -> str:
    if mapping.kind is FeedKind.CSV:
        return f"CSV (a header line, then one row a line, cells separated by {mapping.delimiter!r})"
    if mapping.kind is FeedKind.JSONL:
        return "JSON Lines (one JSON object a line)"
    assert mapping.xml is not None  # load_mapping gives every XML mapping its layout
    return f"XML (a {mapping.xml.root} root element in namespace {mapping.xml.namespace})"
