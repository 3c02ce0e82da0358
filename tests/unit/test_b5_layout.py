"""A feed in another layout than its partner's mapping is refused whole, with one finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import MessageRejected, WrongLayout
from gateway.formats.b5 import load_mapping, parse_feed
from tests.unit.test_b5_feeds import AU_HEADER, AU_ROW, CA_ROW, GB_OPEN, GB_ROW, RATES, FixedRates
from tests.unit.test_b5_feeds import mapping as partner_mapping

CSV = f"{AU_HEADER}\n{AU_ROW}\n{AU_ROW}\n"
JSONL = f"{CA_ROW}\n{CA_ROW}\n"
XML = f'<?xml version="1.0" encoding="UTF-8"?>\n{GB_OPEN}\n  {GB_ROW}\n</lowValueReport>\n'
JSON_ARRAY = f"[\n  {CA_ROW},\n  {CA_ROW}\n]\n"
EXPECTED = {
    "au-abf": "CSV (a header line, then one row a line, cells separated by ',')",
    "ca-cbsa": "JSON Lines (one JSON object a line)",
    "gb-bf": "XML (a lowValueReport root element in namespace urn:gb-bf:lowvalue:1)",
}
SEEN = {
    "csv": "CSV",
    "jsonl": "JSON Lines",
    "xml": "XML",
    "json": "a JSON document, not one object a line",
}


def refusal(partner: str, body: str | bytes) -> MessageRejected:
    data = body.encode() if isinstance(body, str) else body
    with pytest.raises(MessageRejected) as caught:
        parse_feed(data, partner_mapping(partner), partner=partner, rates=FixedRates(RATES))
    return caught.value


@pytest.mark.parametrize(
    ("partner", "body", "seen"),
    [
        ("ca-cbsa", CSV, "csv"),
        ("ca-cbsa", XML, "xml"),
        ("ca-cbsa", JSON_ARRAY, "json"),
        ("au-abf", JSONL, "jsonl"),
        ("au-abf", XML, "xml"),
        ("au-abf", JSON_ARRAY, "json"),
        ("gb-bf", CSV, "csv"),
        ("gb-bf", JSONL, "jsonl"),
        ("gb-bf", "\ufeff\n\n" + JSONL, "jsonl"),
    ],
)
def test_a_body_in_another_layout_gets_one_finding_naming_both_layouts(
    partner: str, body: str, seen: str
) -> None:
    refused = refusal(partner, body)
    assert isinstance(refused, WrongLayout)
    assert (refused.expected, refused.seen) == (partner_mapping(partner).kind.value, seen)
    [finding] = refused.findings
    first = next(line for line in body.removeprefix("\ufeff").split("\n") if line.strip())
    number = body.removeprefix("\ufeff").split("\n").index(first) + 1
    shown = first.strip() if len(first.strip()) <= 60 else first.strip()[:60] + "…"
    assert finding.code == "B5_LAYOUT"
    assert finding.line == number
    assert finding.message == (
        f"expected {EXPECTED[partner]} per this partner's mapping; the body looks like "
        f"{SEEN[seen]} (first line: {shown!r})"
    )


@pytest.mark.parametrize(
    ("partner", "body", "code"),
    [
        # its own layout with errors: the layout's reader says what is wrong, precisely
        ("au-abf", f"{AU_HEADER.replace(',detections', '')}\n{AU_ROW}\n", "B5_HEADER"),
        ("au-abf", f"{AU_HEADER};remarks\n{AU_ROW}\n", "B5_COLUMN_UNKNOWN"),
        ("gb-bf", f"{GB_OPEN}\n{GB_ROW}\n", "XML_NOT_WELL_FORMED"),
        # not text: no verdict on the layout
        ("ca-cbsa", b"\xff\xfe" + CA_ROW.encode("utf-16-le"), "B5_ENCODING"),
        ("au-abf", b"\x00\x01,\x02\n", "B5_COLUMN_UNKNOWN"),
        ("gb-bf", b"\x1f\x8b\x08\x00", "XML_NOT_WELL_FORMED"),
    ],
)
def test_a_body_in_its_own_layout_or_not_text_gets_its_readers_findings(
    partner: str, body: str | bytes, code: str
) -> None:
    refused = refusal(partner, body)
    assert not isinstance(refused, WrongLayout)
    assert refused.findings[0].code == code


def test_json_lines_with_a_broken_first_line_is_still_read_row_by_row() -> None:
    feed = parse_feed(
        f"2026-11-16,{CA_ROW}\n{CA_ROW}\n".encode(),
        partner_mapping("ca-cbsa"),
        partner="ca-cbsa",
        rates=FixedRates(RATES),
    )
    assert [(r.row, [f.code for f in r.findings]) for r in feed.rows] == [(1, ["B5_JSON"]), (2, [])]


def test_a_csv_column_named_like_json_keeps_the_header_check(tmp_path: Path) -> None:
    # A mapped column whose name begins with "{" makes such a header possible: no verdict.
    text = partner_mapping("au-abf").file.read_text().replace('"parcels"', '"{parcels}"')
    (tmp_path / "mapping.toml").write_text(text)
    braces = load_mapping(tmp_path / "mapping.toml")
    header = "{parcels}," + AU_HEADER.replace(",parcels", "")
    row = "18234," + AU_ROW.replace(",18234", "")
    data = f"{header}\n{row}\n".encode()
    assert parse_feed(data, braces, partner="au-abf", rates=FixedRates(RATES)).accepted == 1
