"""Strategies for ITMATT 1.5 documents (docs/itmatt.md): valid ones and mutated ones.

`documents()` draws a schema-valid, rule-clean message (every item accepted by the offline
validator; warnings allowed) as a `Doc`; `mutated()` applies 1..3 structural or value edits
(drop, duplicate, reorder, rename, unknown element, hostile text or attribute, many copies) and
sometimes a byte-level edit (truncation, stray bytes, DOCTYPE, other encoding, BOM).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from hypothesis import strategies as st

from gateway.formats.itmatt.samples import NAMESPACE
from gateway.rules.codes import countries, currencies
from gateway.rules.rates import default_rates
from gateway.rules.s10 import check_digit
from tests.fuzz.values import DATES, hostile, visible_text, xml_text
from tests.fuzz.xmltree import Node, at, edit, edit_node, leaf, render, walk

MESSAGE_ID = "@MESSAGE-ID@"  # replaced by each test with an id of its own
COUNTRIES = sorted(countries())
CURRENCIES = sorted(currencies())
# International S10 service indicators (not domestic: no S10_DOMESTIC_RANGE warning needed).
SERVICES = ("RR", "RB", "RX", "EE", "EA", "CP", "CX", "LX", "LY", "UA", "UM", "VV")
CATEGORIES = ("GIFT", "DOCUMENTS", "COMMERCIAL_SAMPLE", "RETURNED_GOODS", "SALE_OF_GOODS", "OTHER")
COMMERCIAL = ("SALE_OF_GOODS", "COMMERCIAL_SAMPLE")
UNITS = ("PCE", "KGM", "PR", "NAR", "LTR", "C62", "MTR")
KNOWN_TAGS = (
    "message", "msgheader", "msgbody", "itmatt_1_5_0", "item", "itemId", "function", "version",
    "mailClass", "category", "categoryExplanation", "postedAt", "originOffice",
    "destinationOffice", "grossWeight", "totalValue", "postalCharges", "sender", "addressee",
    "contents", "documents", "comments", "name", "businessName", "address", "phone", "email",
    "reference", "line", "city", "region", "postcode", "countryCode", "piece", "description",
    "quantity", "netWeight", "value", "hsCode", "originCountry", "document", "test",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Doc:
    """A generated document: its tree, or raw text/bytes after a byte-level edit."""

    tree: Node
    namespace: str = NAMESPACE
    raw: bytes | None = None  # set by byte-level edits; `{MESSAGE_ID}` is still substituted
    valid: bool = True  # drawn by documents() and never mutated

    def bytes(self, message_id: str) -> bytes:
        data = self.raw if self.raw is not None else self.text().encode("utf-8")
        return data.replace(MESSAGE_ID.encode(), message_id.encode())

    def text(self) -> str:
        return render(self.tree, namespace=self.namespace)


# -- valid documents ------------------------------------------------------------------------


def s10(draw: st.DrawFn) -> str:
    serial = f"{draw(st.integers(0, 99_999_999)):08d}"
    service = draw(st.sampled_from(SERVICES))
    return f"{service}{serial}{check_digit(serial)}{draw(_COUNTRY)}"


def decimal_text(draw: st.DrawFn, units: int, places: int) -> str:
    """`units` / 10**places as an xs:decimal, in one of its lexical forms."""
    value = Decimal(units).scaleb(-places)
    shown = f"{value:.{places}f}" if places else str(units)
    form = draw(st.integers(0, 5))
    if form == 1 and "." in shown:
        shown = shown.rstrip("0").rstrip(".") or "0"
    elif form == 2:
        shown = "00" + shown
    elif form == 3:
        shown = "+" + shown
    elif form == 4:
        shown = f" {shown}\n"
    return shown


def moment(draw: st.DrawFn) -> str:
    """An xs:dateTime with a zone: any local time of years 0001-9999, any offset up to ±14:00
    (so the instant itself may fall just outside those years)."""
    edge: str = draw(st.sampled_from(EDGE_MOMENTS + ("",) * 12))
    if edge:
        return edge
    local = draw(st.one_of(_RECENT, _ANY_TIME))
    offset = draw(st.integers(-14 * 4, 14 * 4)) * 15
    sign = "-" if offset < 0 else "+"
    zone = draw(st.sampled_from(("Z", f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}")))
    fraction = draw(st.sampled_from(("", ".5", ".123456789", ".000")))
    return f"{local.year:04d}" + local.strftime("-%m-%dT%H:%M:%S") + fraction + zone


# Instants at the ends of the datetime range and on the rules' dates (the US de minimis change).
EDGE_MOMENTS = (
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999999Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999-00:00",
    "2025-08-28T23:59:59-12:00",
    "2025-08-29T00:00:00+14:00",
)
_RECENT = st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31))  # noqa: DTZ001 (local times)
_ANY_TIME = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59))  # noqa: DTZ001
# Amounts of any size: the spec bounds none (cents, grams).
_CENTS = st.one_of(st.integers(0, 10**7), st.integers(0, 10**40))
_GRAMS = st.one_of(st.integers(0, 10**7), st.integers(0, 10**30))


_CHAPTERS = st.sampled_from([c for c in range(1, 98) if c != 77])
_HS_REST = st.text("0123456789", min_size=4, max_size=8)
_OFFICE = st.from_regex(r"[A-Z]{2}[A-Z0-9]{4}", fullmatch=True)
_OPERATOR = st.from_regex(r"[A-Z]{3}", fullmatch=True)
_COUNTRY = st.sampled_from(COUNTRIES)
# Currencies the rates table knows come first: only they are converted (and rounded).
_CURRENCY = st.one_of(
    st.sampled_from([*sorted(default_rates().currencies), "USD"]), st.sampled_from(CURRENCIES)
)


def hs_code(draw: st.DrawFn) -> str:
    chapter = draw(_CHAPTERS)
    rest = draw(_HS_REST)
    digits = f"{chapter:02d}{rest}"
    style = draw(st.integers(0, 2))
    if style == 1:
        return f"{digits[:4]}.{digits[4:6]}" + (f".{digits[6:]}" if len(digits) > 6 else "")
    if style == 2:
        return f"{digits[:4]} {digits[4:]}"
    return digits


def party(draw: st.DrawFn, role: str) -> Node:
    children = [leaf("name", draw(visible_text(128)))]
    if draw(st.booleans()):
        children.append(leaf("businessName", draw(xml_text(0, 128))))
    lines = [leaf("line", draw(xml_text(0, 128))) for _ in range(draw(st.integers(1, 3)))]
    address = [*lines, leaf("city", draw(xml_text(0, 60)))]
    if draw(st.booleans()):
        address.append(leaf("region", draw(xml_text(0, 40))))
    if draw(st.booleans()):
        address.append(leaf("postcode", draw(xml_text(0, 16))))
    address.append(leaf("countryCode", draw(_COUNTRY)))
    children.append(Node("address", children=tuple(address)))
    for tag, size in (("phone", 32), ("email", 254), ("reference", 64)):
        if draw(st.booleans()):
            children.append(leaf(tag, draw(xml_text(0, size))))
    return Node(role, children=tuple(children))


@st.composite
def item(draw: st.DrawFn, item_id: str) -> Node:
    category = draw(st.sampled_from(CATEGORIES))
    currency = draw(_CURRENCY)
    commercial = category in COMMERCIAL
    n_pieces = draw(st.integers(1, 4))
    grams = [draw(_GRAMS) for _ in range(n_pieces)]
    cents = [draw(_CENTS) for _ in range(n_pieces)]
    pieces = []
    for weight, value in zip(grams, cents, strict=True):
        quantity = draw(st.integers(1, 10**9))
        piece = [
            leaf("description", draw(visible_text(256))),
            leaf("quantity", decimal_text(draw, quantity, draw(st.integers(0, 3))))
            if draw(st.booleans())
            else leaf("quantity", str(quantity), unit=draw(st.sampled_from(UNITS))),
            leaf("netWeight", decimal_text(draw, weight, 3)),
            leaf("value", decimal_text(draw, value, 2), currency=currency),
        ]
        if commercial or draw(st.booleans()):
            piece.append(leaf("hsCode", hs_code(draw)))
        if commercial or draw(st.booleans()):
            piece.append(leaf("originCountry", draw(_COUNTRY)))
        pieces.append(Node("piece", children=tuple(piece)))
    gross = sum(grams) + draw(st.integers(1, 100_000))
    children = [leaf("itemId", item_id)]
    if draw(st.booleans()):
        children.append(leaf("function", "ORIGINAL"))
    if draw(st.booleans()):
        children.append(leaf("version", str(draw(st.integers(1, 4_294_967_295)))))
    children += [leaf("mailClass", draw(st.sampled_from("UCE"))), leaf("category", category)]
    if category == "OTHER" or draw(st.booleans()):
        children.append(leaf("categoryExplanation", draw(visible_text(256))))
    if draw(st.booleans()):
        children.append(leaf("postedAt", moment(draw)))
    for tag in ("originOffice", "destinationOffice"):
        if draw(st.booleans()):
            children.append(leaf(tag, draw(_OFFICE)))
    children += [
        leaf("grossWeight", decimal_text(draw, gross, 3)),
        leaf("totalValue", decimal_text(draw, sum(cents), 2), currency=currency),
    ]
    if draw(st.booleans()):
        charges = decimal_text(draw, draw(st.integers(0, 10**6)), 2)
        children.append(leaf("postalCharges", charges, currency=currency))
    children += [party(draw, "sender"), party(draw, "addressee")]
    children.append(Node("contents", children=tuple(pieces)))
    if draw(st.booleans()):
        types = st.sampled_from(("LICENCE", "CERTIFICATE", "INVOICE"))
        documents = tuple(
            leaf("document", draw(visible_text(64)), type=draw(types))
            for _ in range(draw(st.integers(1, 3)))
        )
        children.append(Node("documents", children=documents))
    if draw(st.booleans()):
        children.append(leaf("comments", draw(xml_text(0, 512))))
    return Node("item", children=tuple(children))


@st.composite
def documents(draw: st.DrawFn, *, sender: str | None = None, max_items: int = 5) -> Doc:
    """A valid message: every item passes the XSD and every business rule (warnings aside)."""
    n = draw(st.integers(1, max_items))
    ids = draw(st.lists(_S10, min_size=n, max_size=n, unique=True))
    header = [
        leaf("messageId", MESSAGE_ID),
        leaf("sender", sender or draw(_OPERATOR)),
        leaf("recipient", draw(_OPERATOR)),
        leaf("preparedAt", moment(draw)),
    ]
    if draw(st.booleans()):
        header.append(leaf("test", draw(st.sampled_from(("false", "0")))))
    items = tuple(draw(item(item_id)) for item_id in ids)
    body = Node("msgbody", children=(Node("itmatt_1_5_0", children=items),))
    return Doc(Node("message", children=(Node("msgheader", children=tuple(header)), body)))


_S10 = st.composite(s10)()


# -- mutations ------------------------------------------------------------------------------

_STRUCTURAL = ("drop", "duplicate", "swap", "rename", "insert", "text", "attr", "unattr", "many")
_BYTES = ("truncate", "stray", "doctype", "encoding", "bom", "namespace", "entity", "crlf")


def _bad_s10(draw: st.DrawFn, good: str) -> str:
    kind = draw(st.integers(0, 4))
    if kind == 0:  # wrong check digit
        return f"{good[:10]}{(int(good[10]) + draw(st.integers(1, 9))) % 10}{good[11:]}"
    if kind == 1:
        return good.lower()
    if kind == 2:
        return good[:-1]
    if kind == 3:
        return f"{good[:11]}XX"
    return f"{draw(st.sampled_from(('BA', 'ZZ', 'AV', 'GD', 'NN', 'PX')))}{good[2:]}"


@st.composite
def mutated(draw: st.DrawFn, *, sender: str | None = None, max_items: int = 5) -> Doc:
    """A valid document with 1..3 edits, then maybe one byte-level edit."""
    doc = draw(documents(sender=sender, max_items=max_items))
    tree = doc.tree
    for _ in range(draw(st.integers(1, 3))):
        tree = _mutate(draw, tree)
    doc = replace(doc, tree=tree, valid=False)
    if draw(st.integers(0, 4)) == 0:
        doc = _mutate_bytes(draw, doc)
    return doc


def _mutate(draw: st.DrawFn, tree: Node) -> Node:  # noqa: PLR0911 (one return per edit)
    nodes = list(walk(tree))
    path, node = draw(st.sampled_from(nodes))
    kind = draw(st.sampled_from(_STRUCTURAL))
    if node.tag == "itemId" and draw(st.booleans()):
        return edit_node(tree, path, lambda n: replace(n, text=_bad_s10(draw, n.text or "")))
    if kind == "text" or not path:
        value = draw(hostile())
        if node.tag in ("postedAt", "preparedAt") and draw(st.booleans()):
            value = draw(st.sampled_from(DATES))
        return edit_node(tree, path, lambda n: replace(n, text=value))
    if kind == "drop":
        return edit(tree, path, lambda n: ())
    if kind == "duplicate":
        return edit(tree, path, lambda n: (n, n))
    if kind == "many":
        copies = draw(st.sampled_from((20, 101, 1000)))
        return edit(tree, path, lambda n: (n,) * copies)
    if kind == "swap":
        parent = at(tree, path[:-1])
        other = draw(st.integers(0, len(parent.children) - 1))
        children = list(parent.children)
        children[path[-1]], children[other] = children[other], children[path[-1]]
        return edit_node(tree, path[:-1], lambda n: replace(n, children=tuple(children)))
    if kind == "rename":
        tag = draw(st.one_of(st.sampled_from(KNOWN_TAGS), st.sampled_from(("x:item", "Item"))))
        return edit_node(tree, path, lambda n: replace(n, tag=tag))
    if kind == "insert":
        extra = leaf(draw(st.sampled_from(("unknown", *KNOWN_TAGS))), draw(hostile()))
        position = draw(st.integers(0, len(node.children)))
        grown = (*node.children[:position], extra, *node.children[position:])
        return edit_node(tree, path, lambda n: replace(n, children=grown))
    name = draw(st.sampled_from(("currency", "unit", "type", "bogus", *(k for k, _ in node.attrs))))
    if kind == "unattr":
        return edit_node(tree, path, lambda n: n.with_attr(name, None))
    value = draw(hostile())
    return edit_node(tree, path, lambda n: n.with_attr(name, value))


def _mutate_bytes(draw: st.DrawFn, doc: Doc) -> Doc:
    data = doc.text().encode("utf-8")
    kind = draw(st.sampled_from(_BYTES))
    if kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "stray":
        where = draw(st.integers(0, len(data)))
        stray = draw(
            st.sampled_from((b"\xff", b"\xc3(", b"\x00", b"<", b"&", b"]]>", b"\xed\xa0\x80"))
        )
        data = data[:where] + stray + data[where:]
    elif kind == "doctype":
        data = data.replace(b"?>\n", b'?>\n<!DOCTYPE message [<!ENTITY x "boom">]>\n', 1)
    elif kind == "encoding":
        data = data.replace(
            b'encoding="UTF-8"',
            draw(
                st.sampled_from(
                    (b'encoding="ISO-8859-1"', b'encoding="UTF-16"', b"", b'encoding="utf8"')
                )
            ),
            1,
        )
    elif kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "namespace":
        data = data.replace(
            NAMESPACE.encode(),
            draw(st.sampled_from((b"urn:aedgw:itmatt:1.4", b"", b"urn:other"))),
            1,
        )
    elif kind == "entity":
        data = data.replace(b"</name>", b"&x;</name>", 1)
    else:
        data = data.replace(b"\n", b"\r\n")
    return replace(doc, raw=data)


def arbitrary_bytes() -> st.SearchStrategy[bytes]:
    """Random bytes, or a valid document cut anywhere: what the parse stage must refuse with
    findings (or, for a cut that leaves a whole document, accept)."""
    return st.one_of(
        st.binary(max_size=300),
        documents(max_items=2)
        .map(lambda d: d.bytes("M"))
        .flatmap(lambda good: st.integers(0, len(good)).map(lambda cut: good[:cut])),
    )
