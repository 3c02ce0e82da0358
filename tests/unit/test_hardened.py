"""Hardened input: bounded gunzip, and XML that can neither expand nor fetch anything."""

from __future__ import annotations

import gzip
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import MessageRejected, PayloadTooLarge
from gateway.formats import hardened
from gateway.formats.hardened import gunzip_bounded, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""


def codes(exc: pytest.ExceptionInfo[MessageRejected]) -> list[str]:
    return [f.code for f in exc.value.findings]


def reject(data: bytes, max_depth: int = 64) -> pytest.ExceptionInfo[MessageRejected]:
    with pytest.raises(MessageRejected) as exc:
        parse_xml(data, max_depth=max_depth)
    return exc


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on loopback that records whether anything connected."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(0.2)
        yield server


def assert_nobody_connected(server: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        server.accept()


# -- gunzip -----------------------------------------------------------------------------------


def test_gunzip_round_trip() -> None:
    assert gunzip_bounded(gzip.compress(b"<a/>" * 1000), 4000) == b"<a/>" * 1000


def test_gunzip_exactly_at_the_limit_is_fine() -> None:
    assert len(gunzip_bounded(gzip.compress(b"x" * 4096), 4096)) == 4096


def test_gunzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge) as exc:
        gunzip_bounded(bomb, 1024 * 1024)
    assert exc.value.limit == 1024 * 1024


def test_gunzip_concatenated_members() -> None:
    assert gunzip_bounded(gzip.compress(b"ab") + gzip.compress(b"cd"), 10) == b"abcd"


def test_gunzip_limit_spans_members() -> None:
    with pytest.raises(PayloadTooLarge):
        gunzip_bounded(gzip.compress(b"a" * 8) + gzip.compress(b"b" * 8), 10)


@pytest.mark.parametrize(
    "data",
    [b"not gzip at all", gzip.compress(b"<a/>" * 100)[:-12], gzip.compress(b"ab") + b"junk"],
    ids=["garbage", "truncated", "trailing-junk"],
)
def test_gunzip_refuses_corrupt_data(data: bytes) -> None:
    with pytest.raises(MessageRejected) as exc:
        gunzip_bounded(data, 1 << 20)
    assert codes(exc) == ["GZIP_INVALID"]


def test_gunzip_refuses_raw_deflate() -> None:
    with pytest.raises(MessageRejected):
        gunzip_bounded(zlib.compress(b"<a/>"), 100)


# -- XML ----------------------------------------------------------------------------------------


def test_parses_plain_utf8_with_line_numbers() -> None:
    tree = parse_xml('<?xml version="1.0" encoding="utf-8"?>\n<a>\n  <b>é</b>\n</a>'.encode())
    b = tree.getroot()[0]
    assert (b.text, hardened.source_line(b)) == ("é", 3)


def test_drops_comments_and_processing_instructions() -> None:
    tree = parse_xml(b'<?xml version="1.0"?><?style x?><a><!-- c --><?pi x?><b/></a>')
    assert [child.tag for child in tree.getroot()] == ["b"]


def test_doctype_with_internal_subset_is_refused_with_its_line() -> None:
    exc = reject(b'<?xml version="1.0"?>\n<!-- hi -->\n<!DOCTYPE a [<!ELEMENT a ANY>]>\n<a/>')
    assert codes(exc) == ["XML_DOCTYPE_FORBIDDEN"]
    assert exc.value.findings[0].line == 3


def test_internal_entity_is_refused() -> None:
    exc = reject(b'<!DOCTYPE a [<!ENTITY e "expanded">]><a>&e;</a>')
    assert codes(exc) == ["XML_DOCTYPE_FORBIDDEN"]


def test_billion_laughs_is_refused_without_expansion() -> None:
    exc = reject(BILLION_LAUGHS)
    assert codes(exc) == ["XML_DOCTYPE_FORBIDDEN"]


def test_external_entity_is_refused_and_not_read(secret_file: Path) -> None:
    doc = f'<!DOCTYPE a [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]><a>&x;</a>'.encode()
    exc = reject(doc)
    assert codes(exc) == ["XML_DOCTYPE_FORBIDDEN"]
    assert "TOP-SECRET" not in str(exc.value)


def test_external_dtd_is_refused_and_not_fetched(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    exc = reject(f'<!DOCTYPE a SYSTEM "http://127.0.0.1:{port}/evil.dtd"><a/>'.encode())
    assert codes(exc) == ["XML_DOCTYPE_FORBIDDEN"]
    assert_nobody_connected(listener)


def test_undeclared_entity_reference_is_refused() -> None:
    assert codes(reject(b"<a>&nbsp;</a>")) == ["XML_ENTITY_FORBIDDEN"]


def test_predefined_and_character_references_are_fine() -> None:
    assert parse_xml(b"<a>&lt;&amp;&#233;</a>").getroot().text == "<&é"


def test_second_line_parser_does_not_read_external_entities(secret_file: Path) -> None:
    """Behind the DOCTYPE pre-check, the parser itself still expands and reads nothing."""
    doc = (
        f'<!DOCTYPE a [<!ENTITY x SYSTEM "{secret_file.as_uri()}"><!ENTITY y "&x;&x;">]>'
        "<a>&x;&y;</a>"
    ).encode()
    tree = hardened._parse(doc)
    assert b"TOP-SECRET" not in etree.tostring(tree)
    with pytest.raises(MessageRejected) as exc:
        hardened._check_tree(tree, 64, hardened.XINCLUDE_NAMESPACES)
    assert codes(exc) == ["XML_DOCTYPE_FORBIDDEN"]


def test_second_line_resolver_refuses_external_dtds(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    doc = f'<!DOCTYPE a SYSTEM "http://127.0.0.1:{port}/evil.dtd" [<!ENTITY y "z">]><a>&y;</a>'
    with pytest.raises(MessageRejected) as exc:
        hardened._parse(doc.encode())
    assert codes(exc) == ["XML_ENTITY_FORBIDDEN"]
    assert_nobody_connected(listener)


def test_second_line_parser_refuses_billion_laughs() -> None:
    with pytest.raises(MessageRejected) as exc:
        hardened._parse(BILLION_LAUGHS)
    assert codes(exc) == ["XML_ENTITY_FORBIDDEN"]


@pytest.mark.parametrize(
    "namespace", ["http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude"]
)
def test_xinclude_is_refused(namespace: str, secret_file: Path) -> None:
    doc = (
        f'<a xmlns:xi="{namespace}">\n<xi:include href="{secret_file.as_uri()}" parse="text"/></a>'
    )
    exc = reject(doc.encode())
    assert codes(exc) == ["XML_XINCLUDE_FORBIDDEN"]
    assert exc.value.findings[0].line == 2


def test_other_forbidden_namespaces_can_be_named() -> None:
    with pytest.raises(MessageRejected) as exc:
        parse_xml(b'<a xmlns:x="urn:x"><x:b/></a>', forbidden_namespaces=("urn:x",))
    assert codes(exc) == ["XML_NAMESPACE_FORBIDDEN"]


def test_depth_at_the_limit_is_fine() -> None:
    parse_xml(b"<a>" * 64 + b"</a>" * 64)


def test_depth_beyond_the_limit_is_refused_with_the_line() -> None:
    doc = b"<a>\n" * 65 + b"</a>" * 65
    exc = reject(doc)
    assert codes(exc) == ["XML_TOO_DEEP"]
    assert exc.value.findings[0].line == 65


def test_depth_limit_is_a_parameter() -> None:
    assert codes(reject(b"<a><b><c/></b></a>", max_depth=2)) == ["XML_TOO_DEEP"]


def test_very_deep_nesting_is_refused_by_the_parser() -> None:
    assert codes(reject(b"<a>" * 5000 + b"</a>" * 5000)) == ["XML_TOO_DEEP"]


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>',
        b"<?xml version='1.0' encoding='windows-1252'?><a/>",
        '<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"),
        "<a/>".encode("utf-16-le"),
        "<a/>".encode("utf-32"),
        b"<a>\xff\xfe</a>",
    ],
    ids=["latin1", "cp1252", "utf16-bom", "utf16-le", "utf32", "invalid-utf8"],
)
def test_non_utf8_is_refused(data: bytes) -> None:
    assert codes(reject(data)) == ["XML_ENCODING"]


def test_utf8_bom_is_accepted() -> None:
    assert parse_xml(b"\xef\xbb\xbf<a/>").getroot().tag == "a"


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"<a>\n<b>\n</a>", 3), (b"", None), (b"<a/><b/>", 1), (b"<a x='1' x='2'/>", 1)],
    ids=["mismatch", "empty", "two-roots", "duplicate-attribute"],
)
def test_not_well_formed_is_refused_with_a_line(data: bytes, line: int | None) -> None:
    exc = reject(data)
    assert set(codes(exc)) == {"XML_NOT_WELL_FORMED"}
    if line is not None:
        assert exc.value.findings[0].line == line


def test_lines_past_65535_are_exact_where_text_follows() -> None:
    doc = b"<r>" + b"\n" * 70000 + b"<a/>\n<b>x</b>\n<c>\n\n<d/></c></r>"
    root = parse_xml(doc).getroot()
    assert [(e.tag, hardened.source_line(e)) for e in root.iter()] == [
        ("r", 1),
        ("a", 70001),
        ("b", 70002),
        ("c", 70003),
        ("d", 70005),
    ]
