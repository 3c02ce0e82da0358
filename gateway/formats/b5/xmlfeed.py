"""XML feeds: hardened parse → root check → one XSD pass → one RawRow per row element.

Whole-feed refusals (MessageRejected): everything `gateway.formats.hardened` refuses (DOCTYPE,
entities, not well-formed, not UTF-8, too deep), XML_NAMESPACE (the root is not the mapping's
`{namespace}root`), XSD_ENVELOPE (an XSD error outside any row), and a feed-level period that
is absent (B5_FIELD_MISSING) or not an ISO week (B5_PERIOD). An XSD error inside a row rejects
that row only (XSD, with the row's line). Rows are numbered by the line of their start tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from gateway.domain.findings import Finding, error
from gateway.domain.weeks import monday
from gateway.errors import MessageRejected
from gateway.formats.b5.mapping import FeedMapping, XmlLayout
from gateway.formats.b5.rows import RawRow
from gateway.formats.b5.xsd import feed_schema
from gateway.formats.hardened import Element, XmlError, error_entries, parse_xml, source_line

_ROW_STEP = re.compile(r"/[^/]+/(?:[^/:\[\]]+:)?([^/:\[\]]+)(?:\[(\d+)\])?")
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")
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
    row_errors = _validate(tree, layout)
    week = _feed_week(root, mapping) if mapping.period.on_root else ""
    tag = f"{{{layout.namespace}}}{layout.row}"
    sources = mapping.row_sources()
    rows = tuple(
        _row(element, sources, row_errors.get(element, ()))
        for element in root
        if element.tag == tag
    )
    return XmlFeed(week, rows)


def _row(element: Element, sources: Mapping[str, str], findings: tuple[Finding, ...]) -> RawRow:
    values = {key: element.get(source) for key, source in sources.items()}
    number = source_line(element) or 0
    return RawRow(number, {k: v for k, v in values.items() if v is not None}, findings)


def _check_root(root: Element, layout: XmlLayout) -> None:
    expected = f"{{{layout.namespace}}}{layout.root}"
    if root.tag != expected:
        message = f"the root element is {root.tag}; this partner's feed is {expected}"
        raise MessageRejected(
            "wrong root element", [error("XML_NAMESPACE", message, "/", source_line(root))]
        )


def _feed_week(root: Element, mapping: FeedMapping) -> str:
    name = mapping.period.field
    week = root.get(name)
    path = f"/{etree.QName(root).localname}/@{name}"
    if not week:
        finding = error("B5_FIELD_MISSING", f"the root has no {name} attribute", path, 1)
        raise MessageRejected("period missing", [finding])
    try:
        monday(week)
    except ValueError as exc:
        finding = error("B5_PERIOD", f"{week!r} is not an ISO week like 2026-W47", path, 1)
        raise MessageRejected("period invalid", [finding]) from exc
    return week


def _validate(tree: etree._ElementTree, layout: XmlLayout) -> dict[Element, tuple[Finding, ...]]:
    """XSD findings by row element; MessageRejected (XSD_ENVELOPE) for any outside a row."""
    schema = feed_schema(layout.schema)
    if schema.validate(tree):
        return {}
    root = tree.getroot()
    envelope: list[Finding] = []
    by_row: dict[Element, list[Finding]] = {}
    for entry in error_entries(schema.error_log):
        row = _row_of(root, entry.path, layout)
        if row is None:
            envelope.append(_envelope_finding(entry))
        else:
            by_row.setdefault(row, []).append(_row_finding(row, entry))
    if envelope:
        raise MessageRejected("feed invalid", envelope)
    return {row: tuple(findings) for row, findings in by_row.items()}


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


def _row_finding(row: Element, entry: XmlError) -> Finding:
    number = source_line(row) or entry.line
    attribute = _ATTRIBUTE.search(entry.message)
    path = f"row[{number}]" + (f"/{attribute.group(1)}" if attribute else "")
    return error("XSD", _CLARK.sub("", entry.message), path, number)


def _envelope_finding(entry: XmlError) -> Finding:
    return error("XSD_ENVELOPE", _CLARK.sub("", entry.message), entry.path or "/", entry.line)
