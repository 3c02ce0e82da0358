"""The response documents a post receives (docs/responses.md): XML (namespace
`urn:aedgw:response:1`, schemas/response/1/response.xsd) by default, JSON on request.

A pull answer is a `responses` document (the post, the page of responses oldest first, the next
cursor); a push carries one `response` document. Both are written from `Response` values only,
field by allow-listed field (`response_fields`): a decision's note, detection and consumer are
not in a Response, so no document can carry them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.domain.receipts import rfc3339_millis
from gateway.domain.responses import Response

NAMESPACE = "urn:aedgw:response:1"
XML_TYPE = "application/xml"
JSON_TYPE = "application/json"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "response" / "1" / "response.xsd"
_NS = f"{{{NAMESPACE}}}"
_NSMAP: dict[Any, str] = {None: NAMESPACE}  # the default namespace (lxml's stubs want str keys)


def response_fields(response: Response) -> dict[str, Any]:
    """The fields a post receives of a response, in document order (JSON names)."""
    fields: dict[str, Any] = {
        "responseId": response.response_id,
        "itemId": response.item_id,
        "version": response.version,
        "messageId": response.message_id,
        "code": response.code.value,
        "issuedAt": rfc3339_millis(response.issued_at),
    }
    if response.questions:
        fields["questions"] = [
            {"code": q.code, **({"path": q.path} if q.path else {})} for q in response.questions
        ]
    return fields


def responses_json(partner: str, responses: Sequence[Response], next_cursor: int) -> bytes:
    doc = {
        "partner": partner,
        "responses": [response_fields(r) for r in responses],
        "next": next_cursor,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def response_json(response: Response) -> bytes:
    doc = {"partner": response.partner, **response_fields(response)}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def responses_xml(partner: str, responses: Sequence[Response], next_cursor: int) -> bytes:
    root = etree.Element(f"{_NS}responses", nsmap=_NSMAP)
    root.set("partner", partner)
    root.set("next", str(next_cursor))
    for response in responses:
        _fill(etree.SubElement(root, f"{_NS}response"), response)
    return _bytes(root)


def response_xml(response: Response) -> bytes:
    root = etree.Element(f"{_NS}response", nsmap=_NSMAP)
    root.set("partner", response.partner)
    _fill(root, response)
    return _bytes(root)


def _fill(element: etree._Element, response: Response) -> None:
    fields = response_fields(response)
    questions = fields.pop("questions", [])
    for name, value in fields.items():
        etree.SubElement(element, f"{_NS}{name}").text = str(value)
    if questions:
        holder = etree.SubElement(element, f"{_NS}questions")
        for question in questions:
            q = etree.SubElement(holder, f"{_NS}question")
            for name, value in question.items():
                etree.SubElement(q, f"{_NS}{name}").text = value


def _bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def wants_json(accept: str) -> bool:
    """Whether an Accept header asks for JSON rather than the default XML: it names
    application/json (with a non-zero q) and does not prefer XML to it."""
    best: dict[str, float] = {}
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best[media.strip().lower()] = q
    json_q = best.get(JSON_TYPE, 0.0)
    xml_q = max(best.get(XML_TYPE, 0.0), best.get("text/xml", 0.0))
    return json_q > 0 and json_q > xml_q
