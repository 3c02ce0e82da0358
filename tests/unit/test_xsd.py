"""The ITMATT 1.5 XSD against docs/itmatt.md: what it accepts, what it refuses, and where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import MessageRejected
from gateway.formats.itmatt import itmatt_schema, parse_itmatt

EXAMPLE = (Path(__file__).parents[1] / "data" / "itmatt" / "example.xml").read_bytes()
ITEM = "/message/msgbody/itmatt_1_5_0/item[1]"


def edit(old: str, new: str, doc: bytes = EXAMPLE) -> bytes:
    assert old.encode() in doc, old
    return doc.replace(old.encode(), new.encode(), 1)


def schema_valid(doc: bytes) -> bool:
    return bool(itmatt_schema().validate(etree.fromstring(doc)))


def item_codes(doc: bytes) -> list[tuple[str, str, int | None]]:
    (item,) = parse_itmatt(doc).items
    assert item.declaration is None
    return [(f.code, f.path, f.line) for f in item.findings]


def test_the_spec_example_is_valid() -> None:
    assert schema_valid(EXAMPLE)


def test_a_single_item_validates_on_its_own() -> None:
    item = etree.fromstring(EXAMPLE).find(".//{urn:aedgw:itmatt:1.5}item")
    assert item is not None
    assert itmatt_schema().validate(item)


ITEM_ERRORS = [
    ("missing element", "<mailClass>C</mailClass>", "", f"{ITEM}/category", 14),
    (
        "wrong order",
        '<grossWeight>0.850</grossWeight>\n        <totalValue currency="GBP">42.50</totalValue>',
        '<totalValue currency="GBP">42.50</totalValue>\n        <grossWeight>0.850</grossWeight>',
        f"{ITEM}/totalValue",
        16,
    ),
    (
        "unknown element",
        "<mailClass>C</mailClass>",
        "<mailClass>C</mailClass><colour>red</colour>",
        f"{ITEM}/colour",
        13,
    ),
    (
        "weight fraction digits",
        "<grossWeight>0.850</grossWeight>",
        "<grossWeight>0.8505</grossWeight>",
        f"{ITEM}/grossWeight",
        16,
    ),
    (
        "value fraction digits",
        ">42.50</value>",
        ">42.505</value>",
        f"{ITEM}/contents/piece[1]/value",
        33,
    ),
    (
        "zero gross weight",
        "<grossWeight>0.850</grossWeight>",
        "<grossWeight>0</grossWeight>",
        f"{ITEM}/grossWeight",
        16,
    ),
    ("negative value", ">42.50</totalValue>", ">-1</totalValue>", f"{ITEM}/totalValue", 17),
    (
        "not a decimal",
        "<netWeight>0.600</netWeight>",
        "<netWeight>0,600</netWeight>",
        f"{ITEM}/contents/piece[1]/netWeight",
        32,
    ),
    (
        "zero quantity",
        '<quantity unit="PCE">2</quantity>',
        '<quantity unit="PCE">0</quantity>',
        f"{ITEM}/contents/piece[1]/quantity",
        31,
    ),
    (
        "too many chars",
        "<description>Wool knitted scarf</description>",
        f"<description>{'x' * 257}</description>",
        f"{ITEM}/contents/piece[1]/description",
        30,
    ),
    ("empty name", "<name>Ellen Marsh</name>", "<name></name>", f"{ITEM}/sender/name", 19),
    (
        "missing currency",
        '<value currency="GBP">42.50</value>',
        "<value>42.50</value>",
        f"{ITEM}/contents/piece[1]/value/@currency",
        33,
    ),
    (
        "lower-case currency",
        '<totalValue currency="GBP">',
        '<totalValue currency="gbp">',
        f"{ITEM}/totalValue/@currency",
        17,
    ),
    (
        "unknown category",
        "<category>SALE_OF_GOODS</category>",
        "<category>SALE</category>",
        f"{ITEM}/category",
        14,
    ),
    (
        "bad mail class",
        "<mailClass>C</mailClass>",
        "<mailClass>X</mailClass>",
        f"{ITEM}/mailClass",
        13,
    ),
    (
        "posted without zone",
        "<postedAt>2026-11-26T17:02:00Z</postedAt>",
        "<postedAt>2026-11-26T17:02:00</postedAt>",
        f"{ITEM}/postedAt",
        15,
    ),
    ("version zero", "<mailClass>", "<version>0</version><mailClass>", f"{ITEM}/version", 13),
    (
        "bad function",
        "<mailClass>",
        "<function>UPDATE</function><mailClass>",
        f"{ITEM}/function",
        13,
    ),
    (
        "hs letters",
        "<hsCode>6117.10</hsCode>",
        "<hsCode>61A710</hsCode>",
        f"{ITEM}/contents/piece[1]/hsCode",
        34,
    ),
    (
        "country pattern",
        "<originCountry>GB</originCountry>",
        "<originCountry>GBR</originCountry>",
        f"{ITEM}/contents/piece[1]/originCountry",
        35,
    ),
    (
        "four address lines",
        "<line>4 Mill Lane</line>",
        "<line>a</line><line>b</line><line>c</line><line>d</line>",
        f"{ITEM}/sender/address/line[4]",
        21,
    ),
    (
        "office pattern",
        "<postedAt>",
        "<originOffice>GB1</originOffice><postedAt>",
        f"{ITEM}/originOffice",
        15,
    ),
    (
        "document type",
        "</contents>",
        '</contents><documents><document type="BILL">1</document></documents>',
        f"{ITEM}/documents/document[1]/@type",
        37,
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "new", "path", "line"), ITEM_ERRORS, ids=[c[0] for c in ITEM_ERRORS]
)
def test_item_level_xsd_errors_reject_the_item(
    case: str, old: str, new: str, path: str, line: int
) -> None:
    doc = edit(old, new)
    if case == "no pieces":
        doc = (
            edit("<x>", "<!-- -->", doc)
            .replace(b"<piece>", b"<!--", 1)
            .replace(b"</piece>", b"-->", 1)
        )
    assert not schema_valid(doc)
    found = item_codes(doc)
    assert {code for code, _, _ in found} == {"XSD"}
    assert (path, line) in [(p, n) for _, p, n in found], found


ACCEPTED_VARIANTS = [
    ("unit default", '<quantity unit="PCE">2</quantity>', "<quantity>2</quantity>"),
    (
        "optional elements",
        "<mailClass>C</mailClass>\n        <category>SALE_OF_GOODS</category>",
        (
            "<function>ORIGINAL</function><version>1</version><mailClass>C</mailClass>"
            "<category>SALE_OF_GOODS</category><categoryExplanation>x</categoryExplanation>"
        ),
    ),
    (
        "offices",
        "<grossWeight>",
        "<originOffice>GBLONA</originOffice><destinationOffice>USJFKA</destinationOffice><grossWeight>",
    ),
    ("postal charges", "<sender>\n", '<postalCharges currency="GBP">3.5</postalCharges><sender>'),
    ("hs with spaces", "<hsCode>6117.10</hsCode>", "<hsCode>6117 10 00</hsCode>"),
    ("whitespace around tokens", "<mailClass>C</mailClass>", "<mailClass> C </mailClass>"),
    ("zone offset", "2026-11-26T17:02:00Z", "2026-11-26T18:02:00.5+01:00"),
    ("three lines", "<line>4 Mill Lane</line>", "<line>a</line><line>b</line><line>c</line>"),
    (
        "documents",
        "</contents>",
        (
            '</contents><documents><document type="INVOICE">INV-1</document>'
            '<document type="LICENCE">L-2</document></documents><comments>ok</comments>'
        ),
    ),
    (
        "party extras",
        "<email>j.reyes@example.org</email>",
        (
            "<phone>+1 303 555 0100</phone><email>j.reyes@example.org</email>"
            "<reference>EIN 12-3456789</reference>"
        ),
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "new"), ACCEPTED_VARIANTS, ids=[c[0] for c in ACCEPTED_VARIANTS]
)
def test_variants_the_contract_allows(case: str, old: str, new: str) -> None:
    doc = edit(old, new)
    assert schema_valid(doc), itmatt_schema().error_log
    (item,) = parse_itmatt(doc).items
    assert item.accepted, item.findings


ENVELOPE_ERRORS = [
    (
        "missing messageId",
        "<messageId>GBA-20261127-0001</messageId>",
        "",
        "/message/msgheader/sender",
        5,
    ),
    ("bad messageId", "GBA-20261127-0001", "GBA 2026/11", "/message/msgheader/messageId", 4),
    ("long messageId", "GBA-20261127-0001", "M" * 65, "/message/msgheader/messageId", 4),
    (
        "lower-case sender",
        "<sender>GBA</sender>",
        "<sender>gba</sender>",
        "/message/msgheader/sender",
        5,
    ),
    (
        "prepared without zone",
        "2026-11-27T09:15:00Z",
        "2026-11-27T09:15:00",
        "/message/msgheader/preparedAt",
        7,
    ),
    (
        "bad test flag",
        "</preparedAt>",
        "</preparedAt><test>yes</test>",
        "/message/msgheader/test",
        7,
    ),
    (
        "unknown header element",
        "</preparedAt>",
        "</preparedAt><priority>1</priority>",
        "/message/msgheader/priority",
        7,
    ),
    (
        "no items",
        "<itmatt_1_5_0>",
        "<itmatt_1_5_0></itmatt_1_5_0><itmatt_1_5_0>",
        "/message/msgbody/itmatt_1_5_0[2]",
        10,
    ),
    (
        "foreign element among items",
        "</itmatt_1_5_0>",
        "<extra/></itmatt_1_5_0>",
        "/message/msgbody/itmatt_1_5_0/extra",
        39,
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "new", "path", "line"), ENVELOPE_ERRORS, ids=[c[0] for c in ENVELOPE_ERRORS]
)
def test_envelope_errors_reject_the_message(
    case: str, old: str, new: str, path: str, line: int
) -> None:
    with pytest.raises(MessageRejected) as exc:
        parse_itmatt(edit(old, new))
    found = exc.value.findings
    assert {f.code for f in found} == {"XSD_ENVELOPE"}
    assert (path, line) in [(f.path, f.line) for f in found], found


def test_an_item_without_pieces_is_rejected() -> None:
    doc = re.sub(rb"<piece>.*</piece>", b"", EXAMPLE, flags=re.DOTALL)
    assert item_codes(doc) == [
        (
            "XSD",
            f"{ITEM}/contents",
            28,
        )
    ]


def test_every_envelope_error_is_reported() -> None:
    doc = edit(
        "<sender>GBA</sender>", "<sender>gba</sender>", edit("<recipient>USA", "<recipient>us")
    )
    with pytest.raises(MessageRejected) as exc:
        parse_itmatt(doc)
    assert [f.path for f in exc.value.findings] == [
        "/message/msgheader/sender",
        "/message/msgheader/recipient",
    ]


def test_xsd_messages_do_not_repeat_the_namespace() -> None:
    found = item_codes(
        edit("<grossWeight>0.850</grossWeight>", "<grossWeight>0.8505</grossWeight>")
    )
    assert found
    (item,) = parse_itmatt(
        edit("<grossWeight>0.850</grossWeight>", "<grossWeight>0.8505</grossWeight>")
    ).items
    assert "urn:aedgw" not in item.findings[0].message
    assert "grossWeight" in item.findings[0].message
