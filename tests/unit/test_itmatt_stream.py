"""The streamed ITMATT parse (large bodies): the same answer as the whole-document parse, in
memory bounded by an item.

Every document of the XSD tests, the hardening tests and the XML attack corpus goes through both
`parse_itmatt` and `parse_itmatt_stream`; the outcomes (header, each item's findings with their
codes, messages, paths and lines, each Declaration) or the rejections must be equal.
"""

from __future__ import annotations

import io
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.domain.messages import ItemOutcome, MessageHeader
from gateway.errors import MessageRejected
from gateway.formats.hardened import ParseLimits
from gateway.formats.itmatt import VALID_ITEM_LEVELS, XSD_PATH, parse_itmatt, parse_itmatt_stream
from gateway.formats.itmatt.samples import build_itmatt, generate_items
from gateway.wire.declaration_pb2 import Declaration


class Trickle(io.RawIOBase):
    """A file handing out at most `piece` bytes per read."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data, self._piece, self._at = data, piece, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._piece if size < 0 else min(size, self._piece)
        out = self._data[self._at : self._at + n]
        self._at += len(out)
        return out


# A document that is not well-formed: libxml2's push parser (pieces) stops at the first fatal
# error where its whole-document parser may go on to report follow-on ones, and words some
# differently ("Document is empty" / "Start tag expected"). The first error's code and line
# must agree; the wording and the follow-on errors may not. A value past libxml2's size limit
# (XML_TOO_LARGE) is found where the push parser's buffer gives up, a few lines on.
_NOT_WELL_FORMED = "not well-formed XML"


def _outcome(run: Any) -> tuple[object, ...]:
    try:
        message = run()
    except MessageRejected as exc:
        if exc.title == _NOT_WELL_FORMED:
            first = exc.findings[0]
            line = None if first.code == "XML_TOO_LARGE" else first.line
            return ("rejected", exc.title, first.code, first.path, line)
        return ("rejected", exc.title, exc.findings)
    items = tuple(
        (i.index, i.line, i.item_id, i.version, i.function, i.findings, i.declaration)
        for i in message.items
    )
    return ("parsed", message.header, message.source_format, items)


def outcome_of(data: bytes) -> tuple[object, ...]:
    return _outcome(lambda: parse_itmatt(data))


def streamed_outcome(data: bytes, piece: int = 1 << 20) -> tuple[object, ...]:
    return _outcome(lambda: parse_itmatt_stream(Trickle(data, piece)))  # type: ignore[arg-type]


# -- the documents of the XSD tests, the hardening tests and the attack corpus -------------------


def _xsd_documents() -> list[tuple[str, bytes]]:
    from tests.unit import test_xsd as xsd

    docs = [("example", xsd.EXAMPLE)]
    docs += [(f"item: {c[0]}", xsd.edit(c[1], c[2])) for c in xsd.ITEM_ERRORS]
    docs += [(f"variant: {c[0]}", xsd.edit(c[1], c[2])) for c in xsd.ACCEPTED_VARIANTS]
    docs += [(f"envelope: {c[0]}", xsd.edit(c[1], c[2])) for c in xsd.ENVELOPE_ERRORS]
    return docs


def _attack_documents() -> list[tuple[str, bytes]]:
    from tests.attacks.cases import CASES, Env

    env = Env("http://127.0.0.1:9", Path("/nonexistent/secret"))
    docs = []
    for case in CASES:
        attack = case.build(env)
        if attack.status == 400 and not attack.gzip:  # a 413 never reaches the parse
            docs.append((f"attack: {case.id}", attack.body))
    return docs


DOCUMENTS = _xsd_documents() + _attack_documents()
EXAMPLE = _xsd_documents()[0][1]


@pytest.mark.parametrize("piece", [1 << 20, 61])
@pytest.mark.parametrize(("name", "doc"), DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_the_stream_answers_as_the_whole_document_parse(name: str, doc: bytes, piece: int) -> None:
    assert streamed_outcome(doc, piece) == outcome_of(doc), name


def many_items(n: int, *, seed: int = 7) -> bytes:
    return build_itmatt(
        "GBA-STREAM-1", "GBA", generate_items(random.Random(seed), n, sender_country="GB")
    )


def test_items_past_line_65535_keep_their_exact_lines_and_paths() -> None:
    doc = many_items(2000)  # ~80,000 lines
    assert doc.count(b"\n") > 70_000
    lines = doc.split(b"\n")
    late = max(i for i, line in enumerate(lines) if b"<grossWeight>" in line)
    lines[late] = lines[late].replace(b"<grossWeight>", b"<grossWeight>x")
    bad = b"\n".join(lines)
    whole = outcome_of(bad)
    assert whole == streamed_outcome(bad, 4093)
    findings = whole[3][-1][5]  # type: ignore[index]
    assert [(f.code, f.path, f.line) for f in findings] == [
        ("XSD", "/message/msgbody/itmatt_1_5_0/item[2000]/grossWeight", late + 1)
    ]


def test_an_element_the_envelope_does_not_expect_after_the_items() -> None:
    doc = many_items(3).replace(b"</itmatt_1_5_0>", b"<extra/></itmatt_1_5_0>")
    whole = outcome_of(doc)
    assert whole[0] == "rejected"
    assert streamed_outcome(doc, 100) == whole


@pytest.mark.parametrize("text", [b"stray text", b"  \n\t ", b"<!-- note -->", b"&#65;"])
def test_what_follows_an_item_is_judged_as_in_the_whole_document(text: bytes) -> None:
    """The stream drops whitespace after each emptied item; any other text stays for the
    envelope check to refuse exactly as the whole-document parse does."""
    doc = many_items(3).replace(b"</item>", b"</item>" + text, 2)
    assert streamed_outcome(doc, 100) == outcome_of(doc)


def test_keep_sees_each_item_with_its_declaration_and_holds_what_it_returns() -> None:
    doc = many_items(30)
    seen: list[tuple[str, int, bool]] = []

    def keep(header: MessageHeader, item: ItemOutcome) -> ItemOutcome:
        seen.append((header.message_id, item.index, item.declaration is not None))
        return replace(item, declaration=Declaration() if item.declaration else None)

    streamed = parse_itmatt_stream(io.BytesIO(doc), keep=keep)
    assert seen == [("GBA-STREAM-1", i, True) for i in range(1, 31)]
    whole = parse_itmatt(doc)
    assert [i.accepted for i in streamed.items] == [i.accepted for i in whole.items]
    assert all(i.declaration == Declaration() for i in streamed.items)


def test_duplicates_are_flagged_after_the_whole_document() -> None:
    specs = generate_items(random.Random(3), 4, sender_country="GB")
    doc = build_itmatt("GBA-STREAM-2", "GBA", [*specs, specs[1]])
    streamed = parse_itmatt_stream(io.BytesIO(doc))
    assert [f.code for f in streamed.items[4].findings] == ["DUPLICATE_IN_MESSAGE"]
    assert streamed_outcome(doc, 200) == outcome_of(doc)


def test_stage_times_are_reported() -> None:
    timings: dict[str, float] = {}
    parse_itmatt_stream(io.BytesIO(many_items(20)), timings=timings)
    assert set(timings) == {"parse", "validate", "translate"}
    assert all(seconds > 0 for seconds in timings.values())


def test_a_rejected_document_after_items_were_kept_raises_at_the_end() -> None:
    doc = many_items(5)
    kept: list[int] = []
    cut = doc[: doc.rindex(b"</itmatt_1_5_0>")]

    def keep(_header: MessageHeader, item: ItemOutcome) -> ItemOutcome:
        kept.append(item.index)
        return item

    with pytest.raises(MessageRejected) as exc:
        parse_itmatt_stream(io.BytesIO(cut), keep=keep)
    assert exc.value.findings[0].code == "XML_NOT_WELL_FORMED"
    assert kept == [1, 2, 3, 4, 5]  # seen, and dropped by the caller with the rejection


def test_no_schema_valid_item_is_deeper_than_the_stream_assumes() -> None:
    """The stream looks for too-deep and XInclude elements only in items the schema refuses,
    or in all when max_depth is below VALID_ITEM_LEVELS: a valid item with every optional
    element reaches exactly that level, and the schema has no wildcard to let XInclude in."""
    root = etree.fromstring(EXAMPLE)
    deepest = max(len(list(e.iterancestors())) + 1 for e in root.iter())
    assert deepest == VALID_ITEM_LEVELS
    schema = XSD_PATH.read_bytes()
    assert b"xs:any" not in schema
    assert b"processContents" not in schema


@pytest.mark.parametrize("max_depth", [6, 7, 64])
def test_the_depth_limit_holds_for_valid_and_invalid_items(max_depth: int) -> None:
    limits = ParseLimits(max_depth=max_depth)
    for doc in (EXAMPLE, EXAMPLE.replace(b"<mailClass>", b"<mailClass><a><b><c><d/></c></b></a>")):
        whole = _outcome(lambda d=doc: parse_itmatt(d, limits=limits))
        streamed = _outcome(lambda d=doc: parse_itmatt_stream(io.BytesIO(d), limits=limits))
        assert streamed == whole
