"""One fault, one code: the same bad row gets the same findings in CSV, JSON Lines and XML.

The three mappings here read the same fields under the same names (CSV columns, JSON keys, XML
attributes of gb-bf's schema), so a fault can be written in each layout on the same line and its
findings compared whole: code, message, path and line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from gateway.domain.findings import Finding
from gateway.errors import MessageRejected
from gateway.formats.b5 import FeedMapping, ParsedFeed, load_mapping, parse_feed
from tests.unit.test_b5_feeds import RATES, FixedRates

REPO = Path(__file__).resolve().parents[2]
GOOD: Mapping[str, str] = {
    "origin": "CN",
    "chapter": "61",
    "category": "SALE_OF_GOODS",
    "channel": "POST",
    "count": "7311",
    "valueGBP": "150233.10",
    "detections": "12",
}
WEEK = "2026-W47"
FIELDS = """
[fields]
origin = "origin"
hs_chapter = "chapter"
category = "category"
channel = "channel"
items = "count"
declared_value = "valueGBP"
detections = "detections"
"""
DROP = None  # the field is absent from the row (an empty CSV cell)


def text_mapping(folder: Path, kind: str) -> FeedMapping:
    """A CSV or JSON Lines layout with gb-bf's fields, the ISO week in a `week` field."""
    path = folder / kind / "mapping.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f'format = "{kind}"\nreporter = "GB"\ncurrency = "GBP"\n\n'
        f'[period]\nrule = "iso_week"\nfield = "week"\n{FIELDS}',
        encoding="utf-8",
    )
    return load_mapping(path)


@pytest.fixture(scope="module")
def mappings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FeedMapping]:
    folder = tmp_path_factory.mktemp("layouts")
    return {
        "csv": text_mapping(folder, "csv"),
        "jsonl": text_mapping(folder, "jsonl"),
        "xml": load_mapping(REPO / "partners" / "gb-bf" / "mapping.toml"),
    }


Row = Mapping[str, str | None]


def render(kind: str, rows: list[Row]) -> bytes:
    """The rows on lines 2, 3 …: after the CSV header, a blank JSON line, the XML root tag."""
    present = [{k: v for k, v in row.items() if v is not None} for row in rows]
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["week", *GOOD])
        writer.writerows([WEEK, *(row.get(c, "") for c in GOOD)] for row in present)
        return out.getvalue().encode()
    if kind == "jsonl":
        lines = ["", *(json.dumps({"week": WEEK, **row}) for row in present)]
    else:  # xml
        attributes = [" ".join(f'{k}="{v}"' for k, v in row.items()) for row in present]
        lines = [f'<lowValueReport xmlns="urn:gb-bf:lowvalue:1" week="{WEEK}">']
        lines += [f"  <row {a}/>" for a in attributes] + ["</lowValueReport>"]
    return ("\n".join(lines) + "\n").encode()


def parse(mapping: FeedMapping, kind: str, rows: list[Row]) -> ParsedFeed:
    data = render(kind, rows)
    return parse_feed(data, mapping, partner="test", rates=FixedRates(RATES))


def findings(feed: ParsedFeed) -> dict[int, tuple[Finding, ...]]:
    return {row.row: row.findings for row in feed.rows}


FAULTS: list[tuple[str, Row, list[str]]] = [
    ("a count with a comma", {"count": "7,311"}, ["B5_NUMBER"]),
    ("no items", {"count": "0"}, ["B5_NUMBER"]),
    ("a count beyond what the stores hold", {"count": "9" * 19}, ["B5_NUMBER"]),
    ("an empty count", {"count": ""}, ["B5_FIELD_MISSING"]),
    ("no count", {"count": DROP}, ["B5_FIELD_MISSING"]),
    ("no detections", {"detections": DROP}, ["B5_FIELD_MISSING"]),
    ("an amount with an exponent", {"valueGBP": "1e3"}, ["B5_NUMBER"]),
    ("a negative amount", {"valueGBP": "-1.00"}, ["B5_NUMBER"]),
    ("a one-digit chapter", {"chapter": "6"}, ["B5_HS_CHAPTER"]),
    ("a reserved chapter", {"chapter": "77"}, ["B5_HS_CHAPTER"]),
    ("a chapter past 97", {"chapter": "98"}, ["B5_HS_CHAPTER"]),
    ("an unassigned country", {"origin": "QQ"}, ["B5_COUNTRY_UNKNOWN"]),
    ("a country in lower case", {"origin": "cn"}, ["B5_COUNTRY_UNKNOWN"]),
    ("an unknown channel", {"channel": "SHIP"}, ["B5_CODE_UNMAPPED"]),
    ("a channel in lower case", {"channel": "post"}, ["B5_CODE_UNMAPPED"]),
    ("a category in lower case", {"category": "sale"}, ["B5_CODE_UNMAPPED"]),
    ("two faults", {"count": "x", "chapter": "6"}, ["B5_HS_CHAPTER", "B5_NUMBER"]),
]


@pytest.mark.parametrize(("fault", "change", "codes"), FAULTS, ids=[f[0] for f in FAULTS])
def test_the_same_fault_gets_the_same_findings_in_every_layout(
    mappings: dict[str, FeedMapping], fault: str, change: Row, codes: list[str]
) -> None:
    rows: list[Row] = [GOOD, {**GOOD, **change}, GOOD]
    by_layout = {kind: findings(parse(mapping, kind, rows)) for kind, mapping in mappings.items()}
    assert by_layout["csv"] == by_layout["jsonl"] == by_layout["xml"], fault
    assert [f.code for f in by_layout["xml"][3]] == codes
    assert by_layout["xml"][2] == by_layout["xml"][4] == ()
    assert all((f.line, f.path.startswith("row[3]/")) == (3, True) for f in by_layout["xml"][3])


def test_an_attribute_the_schema_does_not_allow_is_an_unknown_field_as_a_json_key_is(
    mappings: dict[str, FeedMapping],
) -> None:
    rows: list[Row] = [{**GOOD, "remarks": "X"}]
    xml = findings(parse(mappings["xml"], "xml", rows))
    jsonl = findings(parse(mappings["jsonl"], "jsonl", rows))
    assert [(f.code, f.path, f.line) for f in xml[2]] == [
        ("B5_COLUMN_UNKNOWN", "row[2]/remarks", 2)
    ]
    assert [(f.code, f.path, f.line) for f in jsonl[2]] == [
        ("B5_COLUMN_UNKNOWN", "row[2]/remarks", 2)
    ]


def test_where_the_schema_is_stricter_the_row_gets_the_fields_code_with_the_schemas_reason(
    mappings: dict[str, FeedMapping],
) -> None:
    # "0123" is a count in CSV; gb-bf's schema refuses leading zeros. Its channel is required.
    rows: list[Row] = [{**GOOD, "count": "0123"}, {**GOOD, "channel": DROP}]
    assert parse(mappings["csv"], "csv", rows).rejected == 0
    xml = findings(parse(mappings["xml"], "xml", rows))
    assert [(f.code, f.path) for f in xml[2]] == [("B5_NUMBER", "row[2]/count")]
    assert xml[2][0].message.startswith("'0123' is refused by this partner's schema: ")
    assert "pattern" in xml[2][0].message
    assert [(f.code, f.path, f.message) for f in xml[3]] == [
        ("B5_FIELD_MISSING", "row[3]/channel", "channel is required and empty or absent")
    ]


@pytest.mark.parametrize(
    ("root", "code", "message"),
    [
        ('week=""', "B5_FIELD_MISSING", "the root has no week attribute"),
        ("", "B5_FIELD_MISSING", "the root has no week attribute"),
        ('week="2026-W54"', "B5_PERIOD", "'2026-W54' is not an ISO week like 2026-W47"),
        ('week="2026-47"', "B5_PERIOD", "'2026-47' is not an ISO week like 2026-W47"),
    ],
)
def test_the_feed_level_week_of_xml_is_missing_or_invalid_as_a_rows_week_would_be(
    mappings: dict[str, FeedMapping], root: str, code: str, message: str
) -> None:
    data = f'<lowValueReport xmlns="urn:gb-bf:lowvalue:1" {root}>\n</lowValueReport>\n'.encode()
    with pytest.raises(MessageRejected) as caught:
        parse_feed(data, mappings["xml"], partner="gb-bf", rates=FixedRates(RATES))
    [finding] = caught.value.findings
    assert (finding.code, finding.message, finding.path, finding.line) == (
        code,
        message,
        "/lowValueReport/@week",
        1,
    )
