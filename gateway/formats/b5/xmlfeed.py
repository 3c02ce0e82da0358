"""XML feeds: hardened parse → root check → feed-level period → one XSD pass → one RawRow a row.

Whole-feed refusals (MessageRejected): everything `gateway.formats.hardened` refuses (DOCTYPE,
entities, not well-formed, not UTF-8, too deep), XML_NAMESPACE (the root is not the mapping's
`{namespace}root`), a feed-level period that is absent (B5_FIELD_MISSING) or not an ISO week
(B5_PERIOD), and XSD_ENVELOPE (any other XSD error outside a row).

An XSD error inside a row rejects that row only, with the code the same fault gets in CSV and
JSON Lines: a mapped attribute that is absent or whose value the schema refuses is handed to
the translation as `RawRow.refused` (B5_FIELD_MISSING, B5_NUMBER, B5_HS_CHAPTER …, with the
same message, path and line); an attribute the schema does not allow is B5_COLUMN_UNKNOWN, as
an unknown JSON key; what has no row-level equivalent (child elements, text) stays XSD.

Rows are numbered by the line of their start tag (its `<`), however the tag is laid out.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from gateway.domain.findings import Finding, error
from gateway.domain.weeks import monday
from gateway.errors import MessageRejected
from gateway.formats.b5.mapping import FeedMapping, XmlLayout
from gateway.formats.b5.rows import FIELD_CODES, RawRow
from gateway.formats.b5.xsd import feed_schema
from gateway.formats.hardened import Element, XmlError, error_entries, parse_xml, source_line

_ROW_STEP = re.compile(r"/[^/]+/(?:[^/:\[\]]+:)?([^/:\[\]]+)(?:\[(\d+)\])?")
# libxml2's schema messages, once namespaces are stripped: "Element 'row', attribute 'count':
# [facet 'pattern'] The value …", "Element 'row': The attribute 'x' is required but missing."
_ON_ATTRIBUTE = re.compile(r"Element '[^']*', attribute '([^']+)': (.*)", re.DOTALL)
_MISSING = re.compile(r"The attribute '([^']+)' is required but missing")
_NOT_ALLOWED = re.compile(r"The attribute '([^']+)' is not allowed")
_CLARK = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True, slots=True)
class XmlFeed:
    """The rows of an XML feed and its feed-level ISO week ("" when rows carry their own)."""

    week: str
    rows: tuple[RawRow, ...]


def xml_rows(data: bytes, mapping: FeedMapping) -> XmlFeed:
    """Parse and validate an XML feed; raise MessageRejected when it is refused as a whole."""
    layout = mapping.xml
    assert layout is not None  # load_mapping gives every XML mapping its layout
    tree = parse_xml(data)
    root = tree.getroot()
    _check_root(root, layout)
    week = _feed_week(root, mapping) if mapping.period.on_root else ""
    row_errors = _validate(tree, layout, mapping)
    tag = f"{{{layout.namespace}}}{layout.row}"
    sources = mapping.row_sources()
    children = [child for child in root if isinstance(child.tag, str)]
    lines = _start_lines(data)
    if len(lines) != len(children):  # pragma: no cover - expat read what libxml2 read
        lines = [source_line(child) or 0 for child in children]
    rows = tuple(
        _row(element, line, sources, row_errors.get(element, _RowErrors()))
        for element, line in zip(children, lines, strict=True)
        if element.tag == tag
    )
    return XmlFeed(week, rows)


def _start_lines(data: bytes) -> list[int]:
    """The line of each start tag's `<` of the root's child elements, in document order ([]
    if expat refuses what libxml2 accepted).

    libxml2 numbers an element by the line where its start tag ends (and inexactly past line
    65535), so the document, already parsed and checked by `parse_xml` (no DOCTYPE, no
    entities), is read once more by expat, which reports where each start tag begins.
    """
    parser = xml.parsers.expat.ParserCreate()
    lines: list[int] = []
    depth = 0

    def start(_name: str, _attributes: object) -> None:
        nonlocal depth
        depth += 1
        if depth == 2:
            lines.append(parser.CurrentLineNumber)

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)  # noqa: FBT003 (isfinal: the whole document)
    except xml.parsers.expat.ExpatError:  # pragma: no cover - see the docstring
        return []
    return lines


def _row(element: Element, number: int, sources: Mapping[str, str], schema: _RowErrors) -> RawRow:
    values = {key: element.get(source) for key, source in sources.items()}
    present = {k: v for k, v in values.items() if v is not None}
    findings = [_structural(number, entry) for entry in schema.structural]
    if schema.unknown:
        unknown = sorted(schema.unknown)
        message = f"attributes the mapping does not know: {unknown}"
        findings.append(error("B5_COLUMN_UNKNOWN", message, f"row[{number}]/{unknown[0]}", number))
    return RawRow(number, present, tuple(findings), dict(schema.refused))


def _check_root(root: Element, layout: XmlLayout) -> None:
    expected = f"{{{layout.namespace}}}{layout.root}"
    if root.tag != expected:
        message = f"the root element is {root.tag}; this partner's feed is {expected}"
        raise MessageRejected(
            "wrong root element", [error("XML_NAMESPACE", message, "/", source_line(root))]
        )


def _period_path(root: Element, mapping: FeedMapping) -> str:
    return f"/{etree.QName(root).localname}/@{mapping.period.field}"


def _feed_week(root: Element, mapping: FeedMapping) -> str:
    """The root's ISO week; MessageRejected B5_FIELD_MISSING or B5_PERIOD, as a row's would be."""
    name = mapping.period.field
    week = root.get(name)
    path, line = _period_path(root, mapping), source_line(root) or 1
    if not week:
        finding = error("B5_FIELD_MISSING", f"the root has no {name} attribute", path, line)
        raise MessageRejected("period missing", [finding])
    try:
        monday(week)
    except ValueError as exc:
        finding = error("B5_PERIOD", f"{week!r} is not an ISO week like 2026-W47", path, line)
        raise MessageRejected("period invalid", [finding]) from exc
    return week


@dataclass(slots=True)
class _RowErrors:
    """A row's schema errors, sorted by what they mean for it."""

    refused: dict[str, str] = field(default_factory=dict)  # canonical key → schema's reason
    unknown: set[str] = field(default_factory=set)  # attributes the schema does not allow
    structural: list[XmlError] = field(default_factory=list)  # no row-level equivalent


def _validate(
    tree: etree._ElementTree, layout: XmlLayout, mapping: FeedMapping
) -> dict[Element, _RowErrors]:
    """XSD errors by row element; MessageRejected for any outside a row (the feed-level period:
    B5_PERIOD, as a row's period would be; anything else: XSD_ENVELOPE)."""
    schema = feed_schema(layout.schema)
    if schema.validate(tree):
        return {}
    root = tree.getroot()
    keys = {source: key for key, source in mapping.row_sources().items()}
    envelope: list[Finding] = []
    by_row: dict[Element, _RowErrors] = {}
    for entry in error_entries(schema.error_log):
        row = _row_of(root, entry.path, layout)
        if row is None:
            envelope.append(_envelope_finding(root, entry, mapping))
        else:
            _sort_error(by_row.setdefault(row, _RowErrors()), entry, keys)
    if envelope:
        raise MessageRejected("feed invalid", envelope)
    return by_row


def _sort_error(errors: _RowErrors, entry: XmlError, keys: Mapping[str, str]) -> None:
    message = _CLARK.sub("", entry.message)
    if (missing := _MISSING.search(message)) and missing.group(1) in keys:
        errors.refused[keys[missing.group(1)]] = ""
    elif not_allowed := _NOT_ALLOWED.search(message):
        errors.unknown.add(not_allowed.group(1))
    elif (
        (value := _ON_ATTRIBUTE.fullmatch(message))
        and (key := keys.get(value.group(1))) is not None
        and key in FIELD_CODES
    ):
        errors.refused[key] = value.group(2).strip()
    else:
        errors.structural.append(entry)


def _row_of(root: Element, path: str, layout: XmlLayout) -> Element | None:
    """The row element a libxml2 node path (`/*/*[3]`, `/p:root/p:row[3]/@a`) is in, if any."""
    match = _ROW_STEP.match(path)
    if match is None:
        return None
    name, position = match.group(1), int(match.group(2) or 1)
    children = [child for child in root if isinstance(child.tag, str)]
    if name != "*":
        children = [child for child in children if etree.QName(child).localname == name]
    if position > len(children):
        return None
    element = children[position - 1]
    return element if element.tag == f"{{{layout.namespace}}}{layout.row}" else None


def _structural(number: int, entry: XmlError) -> Finding:
    return error("XSD", _CLARK.sub("", entry.message), f"row[{number}]", number)


def _envelope_finding(root: Element, entry: XmlError, mapping: FeedMapping) -> Finding:
    message = _CLARK.sub("", entry.message)
    on = _ON_ATTRIBUTE.fullmatch(message)
    if mapping.period.on_root and on is not None and on.group(1) == mapping.period.field:
        week = root.get(mapping.period.field, "")
        reason = f"{week!r} is refused by this partner's schema: {on.group(2).strip()}"
        return error("B5_PERIOD", reason, _period_path(root, mapping), entry.line)
    return error("XSD_ENVELOPE", message, entry.path or "/", entry.line)
