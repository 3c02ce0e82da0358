"""ITMATT 1.5 (spec/ITMATT.md): bytes → header, per-item outcomes and canonical Declarations.

Stages, all pure: hardened parse → root check → one XSD pass over the whole document →
translation and business rules per item → DUPLICATE_IN_MESSAGE. The XSD pass runs once; when it
fails, each error is routed by the node it names: inside an `item` it rejects that item only
(code XSD), anywhere else the whole message (XSD_ENVELOPE). History rules (versions against the
store) are the pipeline's, in `gateway.rules.versions`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

from lxml import etree

from gateway.domain.findings import Finding, Severity, error
from gateway.domain.messages import (
    ItemFunction,
    ItemOutcome,
    MessageHeader,
    PackedOutcomes,
    ParsedMessage,
    with_changes,
)
from gateway.errors import MessageRejected
from gateway.formats.hardened import (
    FETCH_REFUSED,
    Element,
    ParseLimits,
    PullEvent,
    XmlError,
    check_doctype,
    check_prolog,
    error_entries,
    parse_xml,
    pull_parser,
    source_line,
    subtree_violations,
    syntax_rejection,
    too_many_namespaces,
)
from gateway.formats.lexical import (
    canonical_decimal,
    datetime_with_nanos,
    epoch_seconds,
    hs_digits,
    normalise_decimal,
    parse_datetime,
    to_timestamp,
)
from gateway.rules.items import ItemFacts, PieceFacts, check_item, item_path
from gateway.rules.versions import mark_duplicates
from gateway.wire import declaration_pb2 as pb

NAMESPACE = "urn:aedgw:itmatt:1.5"
SOURCE_FORMAT = "itmatt-1.5"
XSD_PATH = Path(__file__).resolve().parents[2] / "schemas" / "itmatt" / "1.5" / "itmatt.xsd"

_NS = f"{{{NAMESPACE}}}"
MESSAGE = _NS + "message"
ITEM = _NS + "item"
_MSGBODY = _NS + "msgbody"
_MSGHEADER = _NS + "msgheader"
_ITMATT = _NS + "itmatt_1_5_0"

_FUNCTIONS = {
    ItemFunction.ORIGINAL: pb.ORIGINAL,
    ItemFunction.AMENDMENT: pb.AMENDMENT,
    ItemFunction.CANCELLATION: pb.CANCELLATION,
}
_SEVERITIES = {Severity.ERROR: pb.ERROR, Severity.WARNING: pb.WARNING}
_REPEATABLE = frozenset({"item", "line", "piece", "document"})
_STEP = re.compile(r"(?:[^:/\[\]]+:)?([^:/\[\]]+)(?:\[(\d+)\])?")
_ATTRIBUTE = re.compile(r"attribute '([^']+)'")
_BIG_LINE = 65535  # libxml2 keeps exact element lines below this one


# -- entry point ------------------------------------------------------------------------------


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


# -- the same, streamed: a document read in pieces, in memory bounded by an item ----------------

STREAM_CHUNK = 256 * 1024  # bytes read and fed to the parser at a time
VALID_ITEM_LEVELS = 7  # the deepest element of a schema-valid item (item/contents/piece/value)
_STREAM_EVENTS: tuple[PullEvent, ...] = ("end", "start-ns")

#: What the streaming parse keeps of each item: given the header and the item's outcome (with
#: its Declaration), the outcome to hold until the end (typically without its Declaration,
#: which the caller has sealed and written away). The default keeps the outcome as it is.
Keep = Callable[[MessageHeader, ItemOutcome], ItemOutcome]


def parse_itmatt_stream(
    source: BinaryIO,
    *,
    limits: ParseLimits | None = None,
    vague_terms: frozenset[str] | None = None,
    keep: Keep | None = None,
    timings: dict[str, float] | None = None,
) -> ParsedMessage:
    """`parse_itmatt` over a file read in STREAM_CHUNK pieces: the same outcomes and the same
    rejections, in memory bounded by the largest item instead of the whole document.

    Each `item` is validated against the schema's global `item` element, translated and handed
    to `keep` as soon as its end tag is read, then emptied; what stays of it is an empty element
    (so the envelope can still be validated, with `item` taken as any content, and its errors
    routed as the whole-document pass routes them) and what `keep` returns. A rejection of the
    whole message (not well-formed anywhere, DOCTYPE, too deep, XInclude, too many namespaces,
    wrong root, envelope invalid) is raised only once the whole document has been read, so the
    one raised is the one `parse_itmatt` raises; `keep` may have seen items of a message that
    is then rejected, and must hold nothing it cannot drop.
    """
    stream = _Stream(limits or ParseLimits(), vague_terms, keep)
    start = time.perf_counter()
    try:
        head = _read_at_least(source, STREAM_CHUNK)
        if not head:
            return parse_itmatt(head)  # raises, as libxml2 words it for a whole document
        check_prolog(head)
        chunk = head
        while chunk:
            stream.parser.feed(chunk)
            stream.events()
            chunk = source.read(STREAM_CHUNK)
        root = stream.parser.close()
        stream.events()
    except (etree.XMLSyntaxError, FETCH_REFUSED) as exc:
        raise syntax_rejection(exc, stream.parser) from exc
    message = stream.finish(root)
    if timings is not None:
        timings["validate"] = stream.validating
        timings["translate"] = stream.translating
        timings["parse"] = time.perf_counter() - start - stream.validating - stream.translating
    return message


def _read_at_least(source: BinaryIO, size: int) -> bytes:
    """The first `size` bytes of `source` (fewer at its end), however it hands them out."""
    pieces, got = [], 0
    while got < size:
        piece = source.read(size - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)


class _Stream:
    """The state of one streamed document: the first violation of each kind, the header, the
    items' outcomes.

    Only two kinds of element reach Python as events (the end of `msgheader` and of `item`),
    plus namespace declarations; what `parse_xml` checks on a whole tree is checked in C on
    each item before it is emptied, and on what remains of the document at the end.
    """

    def __init__(
        self, limits: ParseLimits, vague_terms: frozenset[str] | None, keep: Keep | None
    ) -> None:
        self.parser = pull_parser(_STREAM_EVENTS, tags=(_MSGHEADER, ITEM))
        self.limits, self.vague_terms, self.keep = limits, vague_terms, keep
        self.namespaces = 0
        # The first violation of each kind inside an item; raised at the end in parse_xml's
        # order, after what the rest of the document holds (`finish`).
        self.deep: MessageRejected | None = None
        self.forbidden: MessageRejected | None = None
        self.crowded: MessageRejected | None = None
        self.context: _Context | None = None
        self.outcomes = PackedOutcomes()  # what `keep` returns as TRANSLATED packs small
        self.validating = self.translating = 0.0

    @property
    def broken(self) -> bool:
        """The message will be rejected whatever its items hold: do no more item work."""
        return any((self.deep, self.forbidden, self.crowded))

    def events(self) -> None:
        for event, node in self.parser.read_events():
            if event == "end":
                element = cast("Element", node)
                if element.tag == ITEM:
                    if _in_items(element):
                        self._item(element)
                elif self.context is None and _is_header(element):
                    # Not a valid header (KeyError, ValueError): the envelope check says why.
                    with contextlib.suppress(KeyError, ValueError):
                        self.context = _Context(_read_header(element), self.vague_terms)
            else:
                self.namespaces += 1
                if self.namespaces > self.limits.max_namespaces and self.crowded is None:
                    self.crowded = too_many_namespaces(self.limits.max_namespaces)

    def _item(self, element: Element) -> None:
        context = self.context
        if context is None or self.broken:
            self._look_inside(element)  # only the first violation of each kind matters now
            line = source_line(element) or 0
        else:
            began = time.perf_counter()
            index = len(self.outcomes) + 1
            errors = _validate_item(element, index)
            if errors is not None or self.limits.max_depth < VALID_ITEM_LEVELS:
                # A schema-valid item holds only the schema's elements (no wildcard: no
                # XInclude), none deeper than VALID_ITEM_LEVELS: only others need looking into.
                self._look_inside(element)
            validated = time.perf_counter()
            outcome = _item_outcome(element, index, context, errors)
            if self.keep is not None:
                outcome = self.keep(context.header, outcome)
            self.outcomes.append(outcome)
            self.translating += time.perf_counter() - validated
            self.validating += validated - began
            line = outcome.line
        stub = cast("Any", element)  # lxml-stubs know neither keep_tail nor a settable line
        # Whitespace after an item means nothing to the envelope (element-only content) and
        # costs a text node per item (~5 MiB for 40,000); other text is kept for it to refuse.
        tail = element.tail
        stub.clear(keep_tail=tail is not None and not tail.isspace())
        if line < _BIG_LINE:  # its start tag's line, for an envelope error on it (settable below)
            stub.sourceline = line

    def _look_inside(self, element: Element) -> None:
        """Record the first too-deep and the first XInclude element inside this item."""
        if self.deep is None or self.forbidden is None:
            deep, forbidden = subtree_violations(element, 4, self.limits.max_depth)
            self.deep, self.forbidden = self.deep or deep, self.forbidden or forbidden

    def finish(self, root: Element) -> ParsedMessage:
        check_doctype(root.getroottree())
        # What the rest of the document holds, the items being empty now; the first in the
        # document of each kind is the one parse_xml names.
        deep, forbidden = subtree_violations(root, 1, self.limits.max_depth)
        for violation in (_first(deep, self.deep), _first(forbidden, self.forbidden)):
            if violation is not None:
                raise violation
        if self.crowded is not None:
            raise self.crowded
        _check_root(root)
        began = time.perf_counter()
        on_items = _validate_envelope(root)
        self.validating += time.perf_counter() - began
        if self.context is None:  # pragma: no cover - the envelope check refuses such a header
            raise MessageRejected(
                "envelope invalid", [error("XSD_ENVELOPE", "msgheader is invalid", "/", None)]
            )
        changes = {}
        for index, findings in on_items.items():  # e.g. an item the envelope does not expect
            outcome = self.outcomes[index - 1]
            changes[index - 1] = replace(
                outcome, findings=outcome.findings + tuple(findings), declaration=None
            )
        items = mark_duplicates(with_changes(self.outcomes, changes))
        return ParsedMessage(self.context.header, items, SOURCE_FORMAT)


def _first(a: MessageRejected | None, b: MessageRejected | None) -> MessageRejected | None:
    """Of two rejections, the one whose finding comes first in the document."""
    if a is None or b is None:
        return a or b
    return a if (a.findings[0].line or 0) <= (b.findings[0].line or 0) else b


def _is_header(element: Element) -> bool:
    parent = element.getparent()
    return element.tag == _MSGHEADER and parent is not None and parent.getparent() is None


def _in_items(element: Element) -> bool:
    """Whether `element` is a child of /message/msgbody/itmatt_1_5_0."""
    parent = element.getparent()
    if parent is None or parent.tag != _ITMATT:
        return False
    body = parent.getparent()
    if body is None or body.tag != _MSGBODY:
        return False
    root = body.getparent()
    return root is not None and root.tag == MESSAGE and root.getparent() is None


# -- XSD ----------------------------------------------------------------------------------------

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


def _local(element: Element) -> str:
    tag = element.tag
    assert isinstance(tag, str)
    return tag.rpartition("}")[2]


# -- header -------------------------------------------------------------------------------------


def _read_header(element: Element) -> MessageHeader:
    fields = {_local(child): _text(child) for child in element}
    moment, nanos = parse_datetime(fields["preparedAt"])
    return MessageHeader(
        message_id=fields["messageId"],
        sender=fields["sender"],
        recipient=fields["recipient"],
        prepared_at=datetime_with_nanos(moment, nanos),
        test=fields.get("test") in ("true", "1"),
    )


@dataclass(frozen=True, slots=True)
class _Context:
    """What every item of one message shares."""

    header: MessageHeader
    vague_terms: frozenset[str] | None
    provenance: pb.Provenance = field(init=False)  # all but source_line

    def __post_init__(self) -> None:
        prepared = self.header.prepared_at
        provenance = pb.Provenance(
            operator_code=self.header.sender,
            message_id=self.header.message_id,
            source_format=SOURCE_FORMAT,
            prepared_at=to_timestamp(prepared, prepared.microsecond * 1000),
        )
        object.__setattr__(self, "provenance", provenance)


# -- items --------------------------------------------------------------------------------------


def _tag(name: str) -> str:
    return _NS + name


_ITEM_ID, _FUNCTION, _VERSION = _tag("itemId"), _tag("function"), _tag("version")
_POSTED_AT, _GROSS_WEIGHT, _TOTAL_VALUE, _POSTAL_CHARGES = (
    _tag("postedAt"),
    _tag("grossWeight"),
    _tag("totalValue"),
    _tag("postalCharges"),
)
_SENDER, _ADDRESSEE, _CONTENTS, _DOCUMENTS = (
    _tag("sender"),
    _tag("addressee"),
    _tag("contents"),
    _tag("documents"),
)
_LINE = _tag("line")
_HS_CODE = _tag("hsCode")  # a piece's other elements are read by position (`_piece`)
_ITEM_STRINGS = {  # item children copied as they are to a Declaration string field
    _tag("mailClass"): "mail_class",
    _tag("category"): "category",
    _tag("categoryExplanation"): "category_explanation",
    _tag("originOffice"): "origin_office",
    _tag("destinationOffice"): "destination_office",
    _tag("comments"): "comments",
}
_PARTY_FIELDS = {
    _tag("name"): "name",
    _tag("businessName"): "business_name",
    _tag("phone"): "phone",
    _tag("email"): "email",
    _tag("reference"): "reference",
}
_ADDRESS_FIELDS = {
    _tag("city"): "city",
    _tag("region"): "region",
    _tag("postcode"): "postcode",
    _tag("countryCode"): "country_code",
}


def _item_outcome(
    element: Element, index: int, context: _Context, xsd_errors: list[Finding] | None
) -> ItemOutcome:
    line = source_line(element) or 0
    if xsd_errors:
        fields = {child.tag: child for child in element}
        item_id = _text(fields.get(_ITEM_ID))
        version = _version(_text(fields.get(_VERSION)))
        function = _function(_text(fields.get(_FUNCTION)))
        return ItemOutcome(index, line, item_id, version, function, tuple(xsd_errors))
    declaration = pb.Declaration()
    facts, version, function = _translate(declaration, element, line, context)
    item_id = facts.item_id
    findings = tuple(check_item(facts, _Locator(element, index), vague_terms=context.vague_terms))
    if any(finding.is_error for finding in findings):
        return ItemOutcome(index, line, item_id, version, function, findings)
    if findings:
        declaration.findings.extend(_wire_finding(finding) for finding in findings)
    return ItemOutcome(index, line, item_id, version, function, findings, declaration)


def _version(text: str) -> int:
    try:
        return int(text) if text else 1
    except ValueError:
        return 1


def _function(text: str) -> ItemFunction:
    try:
        return ItemFunction(text) if text else ItemFunction.ORIGINAL
    except ValueError:
        return ItemFunction.ORIGINAL


@dataclass(slots=True)
class _Locator:
    """`Locate` for one item: item-relative path → (full path, line of the deepest element)."""

    item: Element
    index: int

    def __call__(self, relpath: str) -> tuple[str, int | None]:
        element = self.item
        for step in relpath.split("/"):
            match = _STEP.fullmatch(step)
            if step.startswith("@") or match is None:
                break
            same = [child for child in element if child.tag == _tag(match.group(1))]
            position = int(match.group(2) or 1)
            if position > len(same):
                break
            element = same[position - 1]
        return f"{item_path(self.index)}/{relpath}", source_line(element)


# -- translation: fills the Declaration in place (cheaper than nested constructors) -------------


class _Translated(NamedTuple):
    facts: ItemFacts
    version: int
    function: ItemFunction


def _translate(  # noqa: PLR0912 (one branch per kind of item child, in schema order)
    decl: pb.Declaration, element: Element, line: int, context: _Context
) -> _Translated:
    """Fill `decl` from a schema-valid item; return the facts the rules read and its identity.

    One pass over the item's children, dispatched by tag; the schema guarantees which children
    are there and in what order, so absent optional elements simply leave their defaults.
    """
    item_id = version_text = function_text = gross = total = currency = ""
    sender_country = addressee_country = ""
    charges_currency: str | None = None
    pieces: tuple[PieceFacts, ...] = ()
    for child in element:
        tag = child.tag
        if (name := _ITEM_STRINGS.get(tag)) is not None:
            setattr(decl, name, _text(child))
        elif tag == _ITEM_ID:
            decl.item_id = item_id = _text(child)
        elif tag == _FUNCTION:
            function_text = _text(child)
        elif tag == _VERSION:
            version_text = _text(child)
        elif tag == _POSTED_AT:
            stamp = decl.posted_at
            stamp.seconds, stamp.nanos = _epoch_and_nanos(_text(child))
            decl.has_posted_at = True
        elif tag == _GROSS_WEIGHT:
            decl.gross_weight_kg = gross = _decimal(_text(child))
        elif tag == _TOTAL_VALUE:
            total, currency = _money(decl.total_value, child)
        elif tag == _POSTAL_CHARGES:
            charges_currency = _money(decl.postal_charges, child)[1]
        elif tag == _SENDER:
            sender_country = _party(decl.sender, child)
        elif tag == _ADDRESSEE:
            addressee_country = _party(decl.addressee, child)
        elif tag == _CONTENTS:
            add_piece = decl.pieces.add
            pieces = tuple(_piece(add_piece(), piece) for piece in child)
        elif tag == _DOCUMENTS:
            add_document = decl.documents.add
            for document in child:
                add_document(type=_attribute(document, "type"), reference=_text(document))
    version = _version(version_text)
    function = _function(function_text)
    decl.version = version
    decl.function = _FUNCTIONS[function]
    _provenance(decl.provenance, line, context)
    facts = ItemFacts(
        item_id,
        decl.category,
        decl.category_explanation,
        gross,
        total,
        currency,
        charges_currency,
        sender_country,
        addressee_country,
        pieces,
    )
    return _Translated(facts, version, function)


@lru_cache(maxsize=4096)
def _epoch_and_nanos(text: str) -> tuple[int, int]:
    """(Unix seconds, nanoseconds) of an xs:dateTime; cached, as posting times repeat."""
    moment, nanos = parse_datetime(text)
    return epoch_seconds(moment), nanos


def _provenance(provenance: pb.Provenance, line: int, context: _Context) -> None:
    provenance.CopyFrom(context.provenance)
    provenance.source_line = line


def _party(party: pb.Party, element: Element) -> str:
    """Fill `party` from its elements and those of its address (one walk); return its country."""
    address = party.address
    for child in element.iterdescendants():
        tag = child.tag
        raw = child.text  # every element but address is a leaf
        text = raw.strip() if raw else ""
        if tag == _LINE:
            address.lines.append(text)
        elif (name := _ADDRESS_FIELDS.get(tag)) is not None:
            setattr(address, name, text)
        elif (name := _PARTY_FIELDS.get(tag)) is not None:
            setattr(party, name, text)
    return address.country_code


def _piece(piece: pb.Piece, element: Element) -> PieceFacts:
    """Fill `piece`; return its facts. The schema fixes a piece's elements and their order:
    description, quantity, netWeight, value, then hsCode and originCountry when present."""
    described, counted, weighed, valued, *rest = element
    piece.description = description = _text(described)
    piece.quantity = _decimal(_text(counted))
    unit = counted.get("unit")
    piece.quantity_unit = (unit.strip() if unit else "") or "PCE"
    piece.net_weight_kg = net_weight = _decimal(_text(weighed))
    money = piece.value
    money.amount = amount = _decimal(_text(valued))
    currency = valued.get("currency")
    money.currency = currency = currency.strip() if currency else ""
    hs_code = origin = ""
    for child in rest:
        if child.tag == _HS_CODE:
            piece.hs_code = hs_code = hs_digits(_text(child))
        else:
            piece.origin_country = origin = _text(child)
    return PieceFacts(description, net_weight, amount, currency, hs_code, origin)


def _decimal(text: str) -> str:
    """`normalise_decimal` of an already stripped text: the canonical form (the usual one) as
    it is, with no second strip."""
    return text if canonical_decimal(text) else normalise_decimal(text)


def _money(money: pb.Money, element: Element) -> tuple[str, str]:
    """Fill `money` from an amount element; return (amount, currency)."""
    money.amount = amount = _decimal(_text(element))
    money.currency = currency = _attribute(element, "currency")
    return amount, currency


def _attribute(element: Element, name: str) -> str:
    value = element.get(name)
    return value.strip() if value else ""


def _text(element: Element | None) -> str:
    if element is None:
        return ""
    text = element.text
    return text.strip() if text else ""


def _wire_finding(finding: Finding) -> pb.Finding:
    return pb.Finding(
        code=finding.code,
        severity=_SEVERITIES[finding.severity],
        message=finding.message,
        path=finding.path,
        line=finding.line or 0,
    )


__all__ = [
    "ITEM",
    "MESSAGE",
    "NAMESPACE",
    "SOURCE_FORMAT",
    "STREAM_CHUNK",
    "VALID_ITEM_LEVELS",
    "XSD_PATH",
    "Keep",
    "itmatt_schema",
    "parse_itmatt",
    "parse_itmatt_stream",
]
