"""ITMATT 1.5 in: from bytes to per-item outcomes and canonical Declarations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.domain.findings import Severity
from gateway.domain.messages import ItemFunction
from gateway.errors import MessageRejected
from gateway.formats.hardened import ParseLimits
from gateway.formats.itmatt import SOURCE_FORMAT, parse_itmatt
from gateway.formats.itmatt.samples import ItemSpec, PieceSpec, build_itmatt, valid_s10
from gateway.wire import declaration_pb2 as pb

EXAMPLE = (Path(__file__).parents[1] / "data" / "itmatt" / "example.xml").read_bytes()
ITEMS = "/message/msgbody/itmatt_1_5_0"


def edit(old: str, new: str, doc: bytes = EXAMPLE) -> bytes:
    assert old.encode() in doc, old
    return doc.replace(old.encode(), new.encode(), 1)


def line_of(doc: bytes, text: str, occurrence: int = 1) -> int:
    at = -1
    for _ in range(occurrence):
        at = doc.index(text.encode(), at + 1)
    return doc.count(b"\n", 0, at) + 1


def test_the_spec_example_is_one_accepted_item() -> None:
    message = parse_itmatt(EXAMPLE)
    assert message.source_format == SOURCE_FORMAT == "itmatt-1.5"
    assert message.header.message_id == "GBA-20261127-0001"
    assert (message.header.sender, message.header.recipient) == ("GBA", "USA")
    assert message.header.prepared_at == datetime(2026, 11, 27, 9, 15, tzinfo=UTC)
    assert message.header.test is False
    (item,) = message.items
    assert (item.index, item.line, item.item_id, item.version) == (1, 11, "RB123456785GB", 1)
    assert item.function is ItemFunction.ORIGINAL
    assert item.findings == ()
    assert item.accepted


def test_the_spec_example_translates_field_by_field() -> None:
    (item,) = parse_itmatt(EXAMPLE).items
    assert item.declaration is not None
    expected = pb.Declaration(
        item_id="RB123456785GB",
        version=1,
        function=pb.ORIGINAL,
        mail_class="C",
        category="SALE_OF_GOODS",
        has_posted_at=True,
        gross_weight_kg="0.850",
        total_value=pb.Money(amount="42.50", currency="GBP"),
        sender=pb.Party(
            name="Ellen Marsh",
            business_name="Marsh Knitwear Ltd",
            address=pb.Address(
                lines=["4 Mill Lane"], city="Leeds", postcode="LS1 4AB", country_code="GB"
            ),
        ),
        addressee=pb.Party(
            name="Jordan Reyes",
            address=pb.Address(
                lines=["1200 Elm St Apt 5"],
                city="Denver",
                region="CO",
                postcode="80203",
                country_code="US",
            ),
            email="j.reyes@example.org",
        ),
        pieces=[
            pb.Piece(
                description="Wool knitted scarf",
                quantity="2",
                quantity_unit="PCE",
                net_weight_kg="0.600",
                value=pb.Money(amount="42.50", currency="GBP"),
                hs_code="611710",
                origin_country="GB",
            )
        ],
        provenance=pb.Provenance(
            operator_code="GBA",
            message_id="GBA-20261127-0001",
            source_format="itmatt-1.5",
            source_line=11,
        ),
    )
    expected.posted_at.FromDatetime(datetime(2026, 11, 26, 17, 2, tzinfo=UTC))
    expected.provenance.prepared_at.FromDatetime(datetime(2026, 11, 27, 9, 15, tzinfo=UTC))
    assert item.declaration == expected
    assert item.declaration.declaration_id == ""
    assert not item.declaration.provenance.HasField("received_at")
    assert item.declaration.provenance.partner == ""
    assert not item.declaration.HasField("postal_charges")


def test_optional_fields_translate() -> None:
    doc = edit(
        "<mailClass>C</mailClass>",
        "<function> AMENDMENT </function><version>+07</version><mailClass>C</mailClass>",
    )
    doc = edit(
        "<postedAt>2026-11-26T17:02:00Z</postedAt>",
        "<categoryExplanation>Knitwear</categoryExplanation>"
        "<postedAt>2026-11-26T18:02:00.123456789+01:00</postedAt>"
        "<originOffice>GBLONA</originOffice><destinationOffice>USJFKA</destinationOffice>",
        doc,
    )
    doc = edit("<sender>\n", '<postalCharges currency="GBP">+003.5</postalCharges><sender>', doc)
    doc = edit(
        "</contents>",
        '</contents><documents><document type="INVOICE"> INV-1 </document></documents>'
        "<comments>Fragile</comments>",
        doc,
    )
    doc = edit('<quantity unit="PCE">2</quantity>', "<quantity>2.50</quantity>", doc)
    doc = edit("<hsCode>6117.10</hsCode>", "<hsCode>6117 10 00</hsCode>", doc)
    doc = edit("<email>", "<phone>555</phone><email>", doc)
    doc = edit("</email>", "</email><reference>EIN-1</reference>", doc)
    (item,) = parse_itmatt(doc).items
    decl = item.declaration
    assert decl is not None, item.findings
    assert (item.function, item.version) == (ItemFunction.AMENDMENT, 7)
    assert (decl.function, decl.version) == (pb.AMENDMENT, 7)
    assert decl.category_explanation == "Knitwear"
    assert (decl.posted_at.seconds, decl.posted_at.nanos) == (1795712520, 123456789)
    assert (decl.origin_office, decl.destination_office) == ("GBLONA", "USJFKA")
    assert decl.postal_charges == pb.Money(amount="3.5", currency="GBP")
    assert list(decl.documents) == [pb.Document(type="INVOICE", reference="INV-1")]
    assert decl.comments == "Fragile"
    assert (decl.pieces[0].quantity, decl.pieces[0].quantity_unit) == ("2.50", "PCE")
    assert decl.pieces[0].hs_code == "61171000"
    assert (decl.addressee.phone, decl.addressee.reference) == ("555", "EIN-1")


@pytest.mark.parametrize(
    ("hs_code", "origin"), [("6117.10", "GB"), ("6117.10", None), (None, "CN"), (None, None)]
)
def test_a_piece_translates_with_either_optional_element(
    hs_code: str | None, origin: str | None
) -> None:
    """A piece's elements are read in the schema's order: the four required ones whatever
    follows, then hsCode and originCountry, each present or not."""
    piece = PieceSpec(
        description=" Cotton socks ", quantity="+02", unit="PR", net_weight="0.250",
        value="010.50", hs_code=hs_code, origin=origin,
    )  # fmt: skip
    spec = ItemSpec(
        item_id=valid_s10("RB", 7, "GB"), category="GIFT", gross_weight="0.300", pieces=(piece,)
    )
    (item,) = parse_itmatt(build_itmatt("M-1", "GBA", [spec])).items
    assert item.declaration is not None, item.findings
    (translated,) = item.declaration.pieces
    assert translated == pb.Piece(
        description="Cotton socks", quantity="2", quantity_unit="PR", net_weight_kg="0.250",
        value=pb.Money(amount="10.50", currency="GBP"), hs_code=(hs_code or "").replace(".", ""),
        origin_country=origin or "",
    )  # fmt: skip


def test_test_flag_is_read() -> None:
    assert parse_itmatt(edit("</preparedAt>", "</preparedAt><test>true</test>")).header.test


def test_prefixed_namespace_is_the_same_message() -> None:
    doc = EXAMPLE.replace(
        b'<message xmlns="urn:aedgw:itmatt:1.5">',
        b'<i:message xmlns:i="urn:aedgw:itmatt:1.5" xmlns="urn:aedgw:itmatt:1.5">',
    )
    doc = doc.replace(b"</message>", b"</i:message>")
    (item,) = parse_itmatt(doc).items
    assert item.accepted


def test_prefixed_documents_report_xsd_paths_by_name() -> None:
    doc = EXAMPLE.replace(
        b'<message xmlns="urn:aedgw:itmatt:1.5">', b'<i:message xmlns:i="urn:aedgw:itmatt:1.5">'
    )
    doc = (
        doc.replace(b"</message>", b"</i:message>").replace(b"<", b"<i:").replace(b"<i:/", b"</i:")
    )
    doc = doc.replace(b"<i:?xml", b"<?xml").replace(b"<i:i:", b"<i:").replace(b"</i:i:", b"</i:")
    doc = doc.replace(b"0.850", b"0.8505")
    (item,) = parse_itmatt(doc).items
    assert [(f.code, f.path) for f in item.findings] == [("XSD", f"{ITEMS}/item[1]/grossWeight")]


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (b'<message xmlns="urn:aedgw:itmatt:1.4"/>', "XML_NAMESPACE"),
        (b"<message/>", "XML_NAMESPACE"),
        (b'<itmatt xmlns="urn:aedgw:itmatt:1.5"/>', "XSD_ENVELOPE"),
    ],
)
def test_wrong_root_rejects_the_message(doc: bytes, code: str) -> None:
    with pytest.raises(MessageRejected) as exc:
        parse_itmatt(doc)
    assert [f.code for f in exc.value.findings] == [code]
    assert exc.value.findings[0].line == 1


def test_hardening_applies() -> None:
    with pytest.raises(MessageRejected) as exc:
        parse_itmatt(b'<!DOCTYPE message [<!ENTITY x "y">]>' + EXAMPLE.split(b"?>", 1)[1])
    assert [f.code for f in exc.value.findings] == ["XML_DOCTYPE_FORBIDDEN"]


def test_depth_limit_is_configurable() -> None:
    with pytest.raises(MessageRejected) as exc:
        parse_itmatt(EXAMPLE, limits=ParseLimits(max_depth=5))
    assert [f.code for f in exc.value.findings] == ["XML_TOO_DEEP"]


def items_doc(*items: ItemSpec) -> bytes:
    return build_itmatt("GBA-1", "GBA", items)


GOOD = ItemSpec(item_id=valid_s10("RR", 1, "GB"))


def test_an_xsd_error_inside_one_item_rejects_only_that_item() -> None:
    bad = ItemSpec(item_id=valid_s10("RR", 2, "GB"), pieces=(PieceSpec(net_weight="0.5555"),))
    doc = items_doc(GOOD, bad, ItemSpec(item_id=valid_s10("RR", 3, "GB")))
    message = parse_itmatt(doc)
    assert [item.accepted for item in message.items] == [True, False, True]
    rejected = message.items[1]
    assert (rejected.index, rejected.item_id, rejected.version) == (2, bad.item_id, 1)
    assert rejected.line == line_of(doc, "<item>", 2)
    assert rejected.declaration is None
    (finding,) = rejected.findings
    assert finding.code == "XSD"
    assert finding.severity is Severity.ERROR
    assert finding.path == f"{ITEMS}/item[2]/contents/piece[1]/netWeight"
    assert finding.line == line_of(doc, "0.5555")
    assert "0.5555" in finding.message


def test_items_with_xsd_errors_keep_a_best_effort_identity() -> None:
    doc = edit("<mailClass>C</mailClass>", "<function>CANCELLATION</function><version>3</version>")
    (item,) = parse_itmatt(doc).items
    assert (item.item_id, item.version, item.function) == (
        "RB123456785GB",
        3,
        ItemFunction.CANCELLATION,
    )
    doc = edit(
        "<mailClass>C</mailClass>",
        "<function>NONSENSE</function><version>x</version><mailClass>C</mailClass>",
    )
    (item,) = parse_itmatt(doc).items
    assert (item.version, item.function, item.accepted) == (1, ItemFunction.ORIGINAL, False)


def test_business_rule_errors_reject_the_item_with_path_and_line() -> None:
    doc = edit("<hsCode>6117.10</hsCode>", "<hsCode>77.12.34</hsCode>")
    (item,) = parse_itmatt(doc).items
    assert item.declaration is None
    (finding,) = item.findings
    assert finding.code == "HS_FORMAT"
    assert finding.path == f"{ITEMS}/item[1]/contents/piece[1]/hsCode"
    assert finding.line == 34


def test_attribute_findings_point_at_the_element_line() -> None:
    (item,) = parse_itmatt(
        edit('currency="GBP">42.50</value>', 'currency="ZZZ">42.50</value>')
    ).items
    assert [(f.code, f.path, f.line) for f in item.findings] == [
        ("CURRENCY_UNKNOWN", f"{ITEMS}/item[1]/contents/piece[1]/value/@currency", 33),
        ("CURRENCY_MIXED", f"{ITEMS}/item[1]/contents/piece[1]/value/@currency", 33),
    ]


def test_warnings_are_kept_on_the_accepted_declaration() -> None:
    doc = edit("Wool knitted scarf", "Gift")
    (item,) = parse_itmatt(doc).items
    assert item.accepted
    assert item.declaration is not None
    assert [(f.code, f.severity, f.line) for f in item.findings] == [
        ("DESCRIPTION_VAGUE", Severity.WARNING, 30)
    ]
    assert list(item.declaration.findings) == [
        pb.Finding(
            code="DESCRIPTION_VAGUE",
            severity=pb.WARNING,
            message=item.findings[0].message,
            path=f"{ITEMS}/item[1]/contents/piece[1]/description",
            line=30,
        )
    ]


def test_vague_terms_can_be_supplied() -> None:
    (item,) = parse_itmatt(EXAMPLE, vague_terms=frozenset({"wool knitted scarf"})).items
    assert [f.code for f in item.findings] == ["DESCRIPTION_VAGUE"]


def test_duplicates_in_one_message() -> None:
    doc = items_doc(GOOD, GOOD, ItemSpec(item_id=GOOD.item_id, function="AMENDMENT", version=2))
    message = parse_itmatt(doc)
    assert [[f.code for f in item.findings] for item in message.items] == [
        [],
        ["DUPLICATE_IN_MESSAGE"],
        [],
    ]
    assert [item.accepted for item in message.items] == [True, False, True]


def test_many_items_keep_their_order_and_lines() -> None:
    specs = [ItemSpec(item_id=valid_s10("RR", n, "GB")) for n in range(1, 2001)]
    doc = items_doc(*specs)
    message = parse_itmatt(doc)
    assert [item.item_id for item in message.items] == [spec.item_id for spec in specs]
    assert all(item.accepted for item in message.items)
    assert message.items[-1].line == line_of(doc, "<item>", 2000)
    assert message.items[-1].declaration is not None
    assert message.items[-1].declaration.provenance.source_line == message.items[-1].line
