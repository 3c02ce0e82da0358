"""ITMATT 1.5 schema validation and the routing of its errors to findings.

The compiled schema is kept per thread (a validator keeps its error log). Each libxml2 error is
routed by the node it names: inside an `item` it rejects that item only (code XSD), anywhere
else the whole message (MessageRejected, XSD_ENVELOPE).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cache

from lxml import etree

from gateway.domain.findings import Finding, error
from gateway.errors import MessageRejected
from gateway.formats.hardened import (
    Element,
    XmlError,
    error_entries,
    source_line,
)
from gateway.formats.itmatt.names import (
    _BIG_LINE,
    _ITMATT,
    _MSGBODY,
    _NS,
    _STEP,
    ITEM,
    XSD_PATH,
    _local,
)
from gateway.rules.items import item_path

_REPEATABLE = frozenset({"item", "line", "piece", "document"})
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")

_schemas = threading.local()


@cache
def _schema_document() -> bytes:
    return XSD_PATH.read_bytes()


def itmatt_schema() -> etree.XMLSchema:
    """The compiled ITMATT 1.5 schema, one per thread (a validator keeps its error log)."""
    schema: etree.XMLSchema | None = getattr(_schemas, "itmatt", None)
    if schema is None:
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        document = etree.fromstring(_schema_document(), parser, base_url=str(XSD_PATH))
        schema = _schemas.itmatt = etree.XMLSchema(document)
    return schema


def _envelope_schema() -> etree.XMLSchema:
    """The schema with the global `item` element taken as any content: the envelope of a
    streamed document, whose items were validated one by one and emptied."""
    schema: etree.XMLSchema | None = getattr(_schemas, "envelope", None)
    if schema is None:
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        document = etree.fromstring(_schema_document(), parser, base_url=str(XSD_PATH))
        xs = "{http://www.w3.org/2001/XMLSchema}"
        for declaration in document.iterchildren(xs + "element"):
            if declaration.get("name") == "item":
                del declaration.attrib["type"]
        schema = _schemas.envelope = etree.XMLSchema(document)
    return schema


def _validate_item(item: Element, index: int) -> list[Finding] | None:
    """The XSD findings of one item, validated alone, with the paths of the whole document."""
    schema = itmatt_schema()
    if schema.validate(item):
        return None
    router = _ErrorRouter(item, prefix=item_path(index))
    return [router.route(entry)[1] for entry in error_entries(schema.error_log)]


def _validate_envelope(root: Element) -> dict[int, list[Finding]]:
    """Validate a streamed document's envelope (its items emptied): raise MessageRejected for
    errors outside any item, as `_validate`; errors on an item element, by item index."""
    router = _ErrorRouter(root)
    by_item = _routed(_envelope_schema(), root, router)
    return {router.index_of(item): findings for item, findings in by_item.items()}


def _validate(tree: etree._ElementTree) -> dict[Element, list[Finding]]:
    """XSD errors by item element; raise MessageRejected for errors outside any item."""
    root = tree.getroot()
    return _routed(itmatt_schema(), root, _ErrorRouter(root))


def _routed(
    schema: etree.XMLSchema, root: Element, router: _ErrorRouter
) -> dict[Element, list[Finding]]:
    """Validate `root`: its errors by the item element they are in; MessageRejected
    (XSD_ENVELOPE) for errors outside any item."""
    if schema.validate(root):
        return {}
    envelope: list[Finding] = []
    by_item: dict[Element, list[Finding]] = {}
    for entry in error_entries(schema.error_log):
        item, finding = router.route(entry)
        if item is None:
            envelope.append(finding)
        else:
            by_item.setdefault(item, []).append(finding)
    if envelope:
        raise MessageRejected("envelope invalid", envelope)
    return by_item


@dataclass(slots=True)
class _ErrorRouter:
    """Turns libxml2's node paths (`/*/*[2]/*/*[7]/*[3]`) into elements and named paths.

    With a `prefix`, `root` is one item validated alone and `prefix` its path in the message.
    """

    root: Element
    prefix: str = ""
    _named: dict[tuple[Element, str], list[Element]] = field(default_factory=dict)
    _positions: dict[tuple[Element, str], dict[Element, int]] = field(default_factory=dict)

    def route(self, entry: XmlError) -> tuple[Element | None, Finding]:
        """(the item the error is inside or None, the finding)."""
        chain, attribute = self._resolve(entry.path)
        if self.prefix:
            named = self.prefix + "".join(self._step(element) for element in chain[1:])
        else:
            named = "".join(self._step(element) for element in chain)
        quoted = _ATTRIBUTE.search(entry.message)
        if attribute or quoted:
            named += f"/@{attribute or (quoted.group(1) if quoted else '')}"
        message = entry.message.replace(_NS, "")
        if self.prefix:
            item: Element | None = self.root
        else:
            item = chain[3] if len(chain) > 3 and _is_item(chain) else None
        code = "XSD_ENVELOPE" if item is None else "XSD"
        line = entry.line if entry.line < _BIG_LINE else source_line(chain[-1])
        return item, error(code, message, named or "/", line)

    def index_of(self, item: Element) -> int:
        """The 1-based position of `item` among the elements of its parent (parse_itmatt's
        item index)."""
        parent = item.getparent()
        assert parent is not None
        key = (parent, "*")
        positions = self._positions.get(key)
        if positions is None:
            every = self._children(parent, "*")
            positions = self._positions[key] = {e: i for i, e in enumerate(every, 1)}
        return positions[item]

    def _resolve(self, path: str) -> tuple[list[Element], str]:
        steps = path.strip("/").split("/")
        chain = [self.root]
        for step in steps[1:]:
            if step.startswith("@"):
                return chain, step[1:]
            match = _STEP.fullmatch(step)
            if match is None:
                break
            candidates = self._children(chain[-1], match.group(1))
            position = int(match.group(2) or 1)
            if position > len(candidates):
                break
            chain.append(candidates[position - 1])
        return chain, ""

    def _children(self, parent: Element, name: str) -> list[Element]:
        key = (parent, name)
        found = self._named.get(key)
        if found is None:
            every = [child for child in parent if isinstance(child.tag, str)]
            found = every if name == "*" else [c for c in every if _local(c) == name]
            self._named[key] = found
        return found

    def _step(self, element: Element) -> str:
        name = _local(element)
        parent = element.getparent()
        if parent is None:
            return f"/{name}"
        key = (parent, name)
        positions = self._positions.get(key)
        if positions is None:
            siblings = self._children(parent, name)
            positions = self._positions[key] = {e: i for i, e in enumerate(siblings, 1)}
        if name in _REPEATABLE or len(positions) > 1:
            return f"/{name}[{positions[element]}]"
        return f"/{name}"


def _is_item(chain: list[Element]) -> bool:
    return chain[1].tag == _MSGBODY and chain[2].tag == _ITMATT and chain[3].tag == ITEM
