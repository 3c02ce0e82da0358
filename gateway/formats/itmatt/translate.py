"""ITMATT 1.5 items → canonical protobuf Declarations, with the business rules' findings.

The header is read once per message (`_Context`); each schema-valid item is translated in one
pass over its children, then checked (`gateway.rules.items.check_item`). An item with XSD errors
is only identified (id, version, function) and keeps its findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from gateway.domain.findings import Finding, Severity
from gateway.domain.messages import (
    ItemFunction,
    ItemOutcome,
    MessageHeader,
)
from gateway.formats.hardened import (
    Element,
    source_line,
)
from gateway.formats.itmatt.names import (
    _NS,
    _STEP,
    SOURCE_FORMAT,
    _local,
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
from gateway.wire import declaration_pb2 as pb

_FUNCTIONS = {
    ItemFunction.ORIGINAL: pb.ORIGINAL,
    ItemFunction.AMENDMENT: pb.AMENDMENT,
    ItemFunction.CANCELLATION: pb.CANCELLATION,
}
_SEVERITIES = {Severity.ERROR: pb.ERROR, Severity.WARNING: pb.WARNING}


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
