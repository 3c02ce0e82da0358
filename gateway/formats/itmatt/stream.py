"""ITMATT 1.5, streamed: a document read in pieces, in memory bounded by an item.

`parse_itmatt_stream` gives the outcomes and the rejections `parse_itmatt` gives, validating and
translating each item as its end tag is read, then emptying it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import Any, BinaryIO, cast

from lxml import etree

from gateway.domain.findings import error
from gateway.domain.messages import (
    PackedOutcomes,
    ParsedMessage,
    with_changes,
)
from gateway.errors import MessageRejected
from gateway.formats import Keep
from gateway.formats.hardened import (
    FETCH_REFUSED,
    Element,
    ParseLimits,
    PullEvent,
    check_doctype,
    check_prolog,
    pull_parser,
    source_line,
    subtree_violations,
    syntax_rejection,
    too_many_namespaces,
)
from gateway.formats.itmatt.document import _check_root, parse_itmatt
from gateway.formats.itmatt.names import (
    _BIG_LINE,
    _ITMATT,
    _MSGBODY,
    _MSGHEADER,
    ITEM,
    MESSAGE,
    SOURCE_FORMAT,
)
from gateway.formats.itmatt.translate import _Context, _item_outcome, _read_header
from gateway.formats.itmatt.xsd import (
    _validate_envelope,
    _validate_item,
)
from gateway.rules.versions import mark_duplicates

STREAM_CHUNK = 256 * 1024  # bytes read and fed to the parser at a time
VALID_ITEM_LEVELS = 7  # the deepest element of a schema-valid item (item/contents/piece/value)
_STREAM_EVENTS: tuple[PullEvent, ...] = ("end", "start-ns")


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
