"""ITMATT 1.5, a whole document: bytes → hardened tree → root check → one XSD pass → items.

`parse_itmatt` is the package's reference parse; the streamed one (`stream`) answers exactly as
it does.
"""

from __future__ import annotations

import time

from lxml import etree

from gateway.domain.findings import error
from gateway.domain.messages import (
    ParsedMessage,
)
from gateway.errors import MessageRejected
from gateway.formats.hardened import (
    Element,
    ParseLimits,
    parse_xml,
    source_line,
)
from gateway.formats.itmatt.names import (
    MESSAGE,
    NAMESPACE,
    SOURCE_FORMAT,
)
from gateway.formats.itmatt.translate import _Context, _item_outcome, _read_header
from gateway.formats.itmatt.xsd import (
    _validate,
)
from gateway.rules.versions import mark_duplicates


def parse_itmatt(
    data: bytes,
    *,
    limits: ParseLimits | None = None,
    vague_terms: frozenset[str] | None = None,
    timings: dict[str, float] | None = None,
) -> ParsedMessage:
    """Parse, validate and translate one ITMATT 1.5 document (already gunzipped).

    Raises MessageRejected when the message as a whole is refused: not well-formed, DOCTYPE or
    entities, too deep, not UTF-8 (see `gateway.formats.hardened`), wrong root (XML_NAMESPACE),
    or an XSD error outside any item (XSD_ENVELOPE, one finding per error). Otherwise returns
    one ItemOutcome per `item`, in document order: a Declaration (warnings in its findings)
    when the item has no error, None with the error findings when it has. The Declaration's
    declaration_id and provenance partner, received_at, receipt_id and content_digest are left
    for the pipeline. `vague_terms` replaces the default vague-description list. `timings`, when
    given, receives the seconds spent in "parse" (hardened XML parsing), "validate" (XSD) and
    "translate" (business rules and translation), for the stage profile.
    """
    limits = limits or ParseLimits()
    start = time.perf_counter()
    tree = parse_xml(data, max_depth=limits.max_depth, max_namespaces=limits.max_namespaces)
    root = tree.getroot()
    _check_root(root)
    parsed = time.perf_counter()
    item_errors = _validate(tree)
    validated = time.perf_counter()
    header_element, body = root
    header = _read_header(header_element)
    context = _Context(header, vague_terms)
    items = (
        _item_outcome(element, index, context, item_errors.get(element))
        for index, element in enumerate(body[0], 1)
    )
    message = ParsedMessage(header, mark_duplicates(tuple(items)), SOURCE_FORMAT)
    if timings is not None:
        timings["parse"] = parsed - start
        timings["validate"] = validated - parsed
        timings["translate"] = time.perf_counter() - validated
    return message


def _check_root(root: Element) -> None:
    if root.tag == MESSAGE:
        return
    qname = etree.QName(root)
    if qname.namespace != NAMESPACE:
        raise MessageRejected(
            "wrong namespace",
            [
                error(
                    "XML_NAMESPACE",
                    f"the root element is {root.tag}; an ITMATT 1.5 message is "
                    f"{{{NAMESPACE}}}message",
                    f"/{qname.localname}",
                    source_line(root),
                )
            ],
        )
    raise MessageRejected(
        "envelope invalid",
        [
            error(
                "XSD_ENVELOPE",
                f"the root element is {qname.localname}, not message",
                f"/{qname.localname}",
                source_line(root),
            )
        ],
    )
