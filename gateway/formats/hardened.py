"""Hardened input handling for XML formats: bounded gunzip and a parser that fetches nothing.

Threats refused here, each as `MessageRejected` with findings that carry a code and a line:

- DOCTYPE of any kind (internal subset, external DTD): XML_DOCTYPE_FORBIDDEN. It is refused
  before libxml2 sees the document, so no entity is declared, expanded (billion laughs) or
  fetched (external entities, external DTDs); the parser also loads no DTD, resolves no entity,
  has no network and a resolver that refuses every URL, as a second line.
- entity references and any attempt to load an external resource: XML_ENTITY_FORBIDDEN;
- XInclude elements: XML_XINCLUDE_FORBIDDEN (never processed, refused so no later stage can);
- nesting deeper than `max_depth`: XML_TOO_DEEP;
- more than `max_namespaces` namespace declarations: XML_TOO_MANY_NAMESPACES;
- a text node or attribute value past libxml2's limits (10 MB without XML_PARSE_HUGE, never
  set here): XML_TOO_LARGE;
- an encoding other than UTF-8: XML_ENCODING;
- anything else libxml2 finds not well-formed: XML_NOT_WELL_FORMED.

Comments and processing instructions are dropped while parsing: they carry no data and nothing
here acts on them.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NamedTuple, cast

from lxml import etree

from gateway.domain.findings import Finding, error
from gateway.errors import MessageRejected, PayloadTooLarge

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_NAMESPACES = 64
GUNZIP_CHUNK = 1024 * 1024  # output per inflate step: a bomb never costs more than limit + this
GUNZIP_INPUT_STEP = 64 * 1024  # input per inflate step
MAX_GZIP_MEMBERS = 1000  # a real client sends one
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")

_XML_DECLARATION = re.compile(rb"<\?xml\s[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_PROLOG_MISC = re.compile(rb"(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.DOTALL)
Element = etree._Element  # noqa: SLF001 (lxml's element type has this name)

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_MARKS = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00", b"\x00<", b"<\x00")


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on one document: `max_depth` levels of elements (the root is level 1) and
    `max_namespaces` namespace declarations in the whole document."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_namespaces: int = DEFAULT_MAX_NAMESPACES


class XmlError(NamedTuple):
    """One libxml2 diagnostic: its text, line and node path (`/*/*[2]/*`, may be empty)."""

    message: str
    line: int
    path: str


def error_entries(log: object) -> list[XmlError]:
    """The entries of an lxml error log (parser, schema), typed."""
    entries = cast("Iterable[Any]", log)
    return [XmlError(str(e.message), int(e.line), str(e.path or "")) for e in entries]


_BIG_LINE = 65535


def source_line(element: Element) -> int | None:
    """The line of the element's start tag in the source document (None when unknown).

    Past line 65535 libxml2 keeps exact lines on text nodes only, and reports an element's line
    as the line where the first text inside it (or, for an empty element, after it) ends; the
    newlines of that text are subtracted here. Newlines inside tags there are not counted.
    """
    line: object = element.sourceline
    if not isinstance(line, int):
        return None
    if line < _BIG_LINE:
        return line
    node = element
    while node.text is None and len(node):
        node = node[0]
    text = node.text if node.text is not None or len(node) else node.tail
    return line - text.count("\n") if text else line


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body (one or more members), never holding more than `limit` + 1 bytes.

    Raises PayloadTooLarge as soon as the output exceeds `limit`, MessageRejected (GZIP_INVALID)
    when the data is not valid gzip, is truncated or has more than MAX_GZIP_MEMBERS members.
    Costs stay linear: the output is kept as steps of at most GUNZIP_CHUNK bytes joined once at
    the end (a bomb costs about `limit`, never twice that), and the input is fed in slices of
    GUNZIP_INPUT_STEP, so what zlib copies after each member's end is one slice at most, not the
    whole rest of the body (a flood of tiny members would be quadratic otherwise).
    """
    view = memoryview(data)
    out: list[bytes] = []
    pieces = (view[at : at + GUNZIP_INPUT_STEP] for at in range(0, len(data), GUNZIP_INPUT_STEP))
    gunzip_stream(pieces, out.append, limit)
    return b"".join(out)


def gunzip_stream(
    pieces: Iterable[bytes | memoryview], write: Callable[[bytes], object], limit: int
) -> int:
    """`gunzip_bounded` over a body given as `pieces` (of at most GUNZIP_INPUT_STEP bytes),
    its output handed to `write` in steps of at most GUNZIP_CHUNK bytes; the output's size."""
    size = members = 0
    inflater: Any = None
    try:
        for piece in pieces:
            pending: bytes | memoryview = piece
            while pending:
                if inflater is None:
                    members += 1
                    if members > MAX_GZIP_MEMBERS:
                        raise _rejected(
                            "GZIP_INVALID",
                            f"the gzip body has more than {MAX_GZIP_MEMBERS} members",
                        )
                    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                size = _inflate(inflater, pending, write, size, limit)
                if inflater.eof:  # the next member, if any, starts in what is left
                    pending, inflater = inflater.unused_data, None
                else:
                    pending = b""
    except zlib.error as exc:
        raise _rejected("GZIP_INVALID", f"the gzip body cannot be decompressed: {exc}") from exc
    if inflater is not None:
        raise _rejected("GZIP_INVALID", "the gzip body is truncated")
    return size


def _inflate(
    inflater: Any,
    piece: memoryview | bytes,
    write: Callable[[bytes], object],
    size: int,
    limit: int,
) -> int:
    """Inflate one input slice into `write` (`size` bytes so far); return the new size."""
    pending: memoryview | bytes = piece
    while True:
        step = inflater.decompress(pending, min(GUNZIP_CHUNK, limit + 1 - size))
        size += len(step)
        if size > limit:
            raise PayloadTooLarge(limit)
        if step:
            write(step)
        if inflater.eof:
            return size
        pending = inflater.unconsumed_tail
        if not pending and not step:
            return size  # this slice is used up: the member needs more input


def parse_xml(
    data: bytes,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    forbidden_namespaces: tuple[str, ...] = XINCLUDE_NAMESPACES,
    max_namespaces: int = DEFAULT_MAX_NAMESPACES,
) -> etree._ElementTree:
    """Parse a UTF-8 XML document with every hardening above; raise MessageRejected otherwise.

    `forbidden_namespaces` are namespaces whose elements refuse the document (XInclude by
    default). Line numbers of the returned tree are those of `data`.
    """
    _check_encoding(data)
    _check_no_doctype(data)
    tree = _parse(data)
    _check_tree(tree, max_depth, forbidden_namespaces)
    _check_namespaces(data, max_namespaces)
    return tree


def _check_encoding(data: bytes) -> None:
    if data.startswith(_UTF16_32_MARKS):
        raise _rejected("XML_ENCODING", "the document is not UTF-8 (UTF-16 or UTF-32 found)", 1)
    body = data.removeprefix(_UTF8_BOM)
    declaration = _XML_DECLARATION.match(body)
    if declaration is None:
        return
    encoding = _ENCODING.search(declaration.group())
    if encoding is not None and encoding.group(1).lower() not in (b"utf-8", b"utf8"):
        name = encoding.group(1).decode("ascii", "replace")
        raise _rejected("XML_ENCODING", f"encoding {name!r} is not accepted; send UTF-8", 1)


def _check_no_doctype(data: bytes) -> None:
    body = data.removeprefix(_UTF8_BOM)
    declaration = _XML_DECLARATION.match(body)
    start = declaration.end() if declaration else 0
    misc = _PROLOG_MISC.match(body, start)
    at = misc.end() if misc else start
    if body.startswith(b"<!DOCTYPE", at):
        raise _rejected(
            "XML_DOCTYPE_FORBIDDEN",
            "a DOCTYPE (DTD, entity declarations) is not accepted",
            body.count(b"\n", 0, at) + 1,
        )


class _RefuseFetch(etree.Resolver):
    """Refuses every external resource the parser might ask for."""

    def resolve(self, system_url: str, _public_id: str, _context: object) -> None:  # type: ignore[override]
        raise _FetchRefusedError(system_url)


class _FetchRefusedError(Exception):
    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(url)


_PARSER_OPTIONS: dict[str, Any] = {
    "encoding": "utf-8",
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}


def _new_parser() -> etree.XMLParser:
    # One parser per call: lxml parser objects must not be shared between threads.
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    parser.resolvers.add(_RefuseFetch())
    return parser


# -- the same hardening for a document read in pieces (gateway.formats.itmatt's stream) --------


PullEvent = Literal["start", "end", "start-ns", "end-ns", "comment", "pi"]


def pull_parser(
    events: tuple[PullEvent, ...], tags: tuple[str, ...] | None = None
) -> etree.XMLPullParser:
    """A push parser with the options and the refusing resolver of `parse_xml`, collecting
    `events` (of elements named `tags` only, when given). Its caller owns what `parse_xml`
    checks on a whole tree: `check_prolog` on the document's first bytes, `check_doctype`,
    `subtree_violations` (depth, XInclude), the namespace declarations (from `start-ns`
    events), and `syntax_rejection` for what `feed` and `close` raise."""
    etree.clear_error_log()  # see _syntax_findings
    parser = etree.XMLPullParser(events=events, tag=tags, **_PARSER_OPTIONS)
    parser.resolvers.add(_RefuseFetch())
    return parser


def check_prolog(head: bytes) -> None:
    """The encoding and DOCTYPE checks of `parse_xml`, on a document's first bytes (a DOCTYPE
    further on is still refused by `check_doctype`)."""
    _check_encoding(head)
    _check_no_doctype(head)


def check_doctype(tree: etree._ElementTree) -> None:
    """XML_DOCTYPE_FORBIDDEN when the parsed document has a DOCTYPE."""
    info = cast("Any", tree.docinfo)
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _rejected("XML_DOCTYPE_FORBIDDEN", "a DOCTYPE is not accepted")


def subtree_violations(
    element: Element, level: int, max_depth: int
) -> tuple[MessageRejected | None, MessageRejected | None]:
    """What `parse_xml` would refuse inside the subtree of `element` (at `level`, the root
    being 1): its first element deeper than `max_depth`, its first XInclude element, or None
    for each. Both searches run in C, one pass each."""
    deep = None
    if level > max_depth:
        deep = too_deep(element, max_depth)
    else:
        found = _depth_probe(max_depth - level, relative=True)(element)
        if isinstance(found, list) and found and isinstance(found[0], Element):
            deep = too_deep(found[0], max_depth)
    wildcards = [f"{{{namespace}}}*" for namespace in XINCLUDE_NAMESPACES]
    first = next(element.iter(*wildcards), None)
    forbidden = None
    if first is not None:
        forbidden = forbidden_element(first, etree.QName(first).namespace or "")
    return deep, forbidden


def too_deep(element: Element, max_depth: int) -> MessageRejected:
    """The rejection of `element`, found nesting deeper than `max_depth` levels."""
    return _rejected(
        "XML_TOO_DEEP", f"elements nest deeper than {max_depth} levels", source_line(element)
    )


def forbidden_element(element: Element, namespace: str) -> MessageRejected:
    """The rejection of `element`, in forbidden `namespace`."""
    return _rejected(
        "XML_XINCLUDE_FORBIDDEN" if namespace in XINCLUDE_NAMESPACES else "XML_NAMESPACE_FORBIDDEN",
        f"element {element.tag} is not accepted",
        source_line(element),
    )


def too_many_namespaces(limit: int) -> MessageRejected:
    return _rejected(
        "XML_TOO_MANY_NAMESPACES",
        f"more than {limit} namespace declarations (a message needs one or two)",
    )


def syntax_rejection(exc: Exception, parser: etree._FeedParser) -> MessageRejected:
    """What `parse_xml` raises for an exception out of `parser` (not well-formed, refused
    fetch)."""
    if isinstance(exc, _FetchRefusedError):
        return _rejected("XML_ENTITY_FORBIDDEN", f"external resource {exc.url!r} refused")
    assert isinstance(exc, etree.XMLSyntaxError)
    return MessageRejected("not well-formed XML", _syntax_findings(exc, parser))


FETCH_REFUSED = _FetchRefusedError


def _parse(data: bytes) -> etree._ElementTree:
    parser = _new_parser()
    try:
        root = etree.fromstring(data, parser)
    except _FetchRefusedError as exc:
        raise _rejected("XML_ENTITY_FORBIDDEN", f"external resource {exc.url!r} refused") from exc
    except etree.XMLSyntaxError as exc:
        raise MessageRejected("not well-formed XML", _syntax_findings(exc, parser)) from exc
    return root.getroottree()


def _syntax_findings(exc: etree.XMLSyntaxError, parser: etree._FeedParser) -> list[Finding]:
    # A push parser's own log is empty once it has raised; the thread's log (the exception's)
    # then holds its entries, after those of anything else this thread parsed or validated
    # since the caller's `etree.clear_error_log()`.
    thread_log = cast("Iterable[Any]", exc.error_log)
    parsed = [entry for entry in thread_log if entry.domain not in _NOT_PARSING]
    logged = error_entries(parser.error_log) or error_entries(parsed)
    entries: list[tuple[str, int | None]] = [(entry.message, entry.line) for entry in logged] or [
        (str(exc), exc.lineno)
    ]
    return [error(_syntax_code(message), message, "", line) for message, line in entries]


_NOT_PARSING = frozenset(
    {
        etree.ErrorDomains.SCHEMASP,
        etree.ErrorDomains.SCHEMASV,
        etree.ErrorDomains.XPATH,
        etree.ErrorDomains.RELAXNGP,
        etree.ErrorDomains.RELAXNGV,
    }
)


def _syntax_code(message: str) -> str:
    lowered = message.lower()
    if "entity" in lowered:
        return "XML_ENTITY_FORBIDDEN"
    if "depth" in lowered:
        return "XML_TOO_DEEP"
    if any(sign in lowered for sign in ("resource limit", "huge text", "too long")):
        return "XML_TOO_LARGE"
    if "encoding" in lowered or "utf-8" in lowered:
        return "XML_ENCODING"
    return "XML_NOT_WELL_FORMED"


def _check_tree(
    tree: etree._ElementTree, max_depth: int, forbidden_namespaces: tuple[str, ...]
) -> None:
    check_doctype(tree)
    deep = _depth_probe(max_depth)(tree)
    if isinstance(deep, list) and deep and isinstance(deep[0], Element):
        raise too_deep(deep[0], max_depth)
    wildcards = [f"{{{namespace}}}*" for namespace in forbidden_namespaces]
    if not wildcards or next(tree.iter(*wildcards), None) is None:
        return  # one walk for the common case; the loop below names the first namespace found
    for namespace in forbidden_namespaces:
        for element in tree.iter(f"{{{namespace}}}*"):
            raise forbidden_element(element, namespace)


def _check_namespaces(data: bytes, limit: int) -> None:
    """Refuse more than `limit` namespace declarations (each costs the parser and every later
    namespace lookup; a real message declares one or two).

    Every declaration spells `xmlns` literally (the document is UTF-8, names take no character
    references), so a document with no more occurrences than the limit passes without a second
    look; otherwise the (already well-formed) document is parsed again for its declarations.
    """
    if data.count(b"xmlns") <= limit:
        return
    events = etree.iterparse(
        io.BytesIO(data),
        events=("start-ns",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    for count, _event in enumerate(events, 1):
        if count > limit:
            raise too_many_namespaces(limit)


@cache
def _depth_probe(max_depth: int, *, relative: bool = False) -> etree.XPath:
    """An XPath selecting the elements at level max_depth + 1: one pass in C, no recursion.
    `relative`: the levels are counted below the context element (which is level 0)."""
    if relative:
        return etree.XPath("/".join(["*"] * (max_depth + 1)))
    return etree.XPath("/*" * (max_depth + 1))


def _rejected(code: str, message: str, line: int | None = None) -> MessageRejected:
    return MessageRejected(message, [error(code, message, "", line)])
