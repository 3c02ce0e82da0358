"""parse_feed end to end over the three agreed layouts (docs/b5.md) and a sixth one from data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.domain.findings import Severity
from gateway.errors import MessageRejected
from gateway.formats.b5 import FeedMapping, ParsedFeed, load_mapping, parse_feed
from gateway.wire.b5_pb2 import TrendObservation
from gateway.wire.declaration_pb2 import Money

REPO = Path(__file__).resolve().parents[2]
PARTNERS = REPO / "partners"
DATA = REPO / "tests" / "data" / "b5"
WEEK_47 = date(2026, 11, 16)  # the Monday of 2026-W47

AU_HEADER = (
    "week_start,week_end,origin,hs2,category,value_band_aud,parcels,declared_value_aud,detections"
)
AU_ROW = "2026-11-16,2026-11-22,CN,61,SALE_OF_GOODS,0-1000,18234,402118.55,41"
CA_ROW = (
    '{"period":{"from":"2026-11-16","to":"2026-11-22"},"mode":"POSTAL","origin_country":"CN",'
    '"hs_chapter":"61","type":"SALE","shipments":5120,"value_cad":"93011.20","seizures":7}'
)
GB_OPEN = '<lowValueReport xmlns="urn:gb-bf:lowvalue:1" week="2026-W47">'
GB_ROW = (
    '<row origin="CN" chapter="61" category="SALE_OF_GOODS" channel="POST" count="7311" '
    'valueGBP="150233.10" detections="12"/>'
)


class FixedRates:
    """USD per unit by (currency, day): a rates table of a few entries."""

    def __init__(self, rates: Mapping[tuple[str, date], str]) -> None:
        self._rates = {key: Decimal(value) for key, value in rates.items()}
        self.asked: list[tuple[str, date]] = []

    def usd_per_unit(self, currency: str, day: date) -> Decimal | None:
        self.asked.append((currency, day))
        return self._rates.get((currency, day))


RATES = {
    ("AUD", WEEK_47): "0.65",
    ("CAD", WEEK_47): "0.71",
    ("GBP", WEEK_47): "1.27",
    ("NZD", WEEK_47): "0.60",
}


def mapping(partner: str) -> FeedMapping:
    return load_mapping(PARTNERS / partner / "mapping.toml")


def parse(partner: str, text: str, rates: FixedRates | None = None) -> ParsedFeed:
    return parse_feed(
        text.encode(), mapping(partner), partner=partner, rates=rates or FixedRates(RATES)
    )


def codes(feed: ParsedFeed) -> dict[int, list[str]]:
    """Row number → codes of the rows rejected."""
    return {r.row: [f.code for f in r.findings] for r in feed.rows if r.observation is None}


def expected(**fields: object) -> TrendObservation:
    return TrendObservation(**fields)  # type: ignore[arg-type]


# -- the three layouts, good rows -------------------------------------------------------------


def test_au_abf_csv_row_becomes_an_observation_with_an_estimated_band() -> None:
    rates = FixedRates(RATES)
    feed = parse("au-abf", f"{AU_HEADER}\n{AU_ROW}\n", rates)
    [row] = feed.rows
    assert (row.row, row.findings) == (2, ())
    want = expected(
        reporter="AU",
        period="2026-W47",
        channel="UNKNOWN",
        origin_country="CN",
        hs_chapter="61",
        category="SALE_OF_GOODS",
        value_band="0-20",  # 402118.55 AUD x 0.65 / 18234 = 14.33 USD per parcel
        band_estimated=True,
        items=18234,
        declared_value=Money(amount="402118.55", currency="AUD"),
        declared_value_usd="261377.06",  # 261377.0575, half-even to the cent
        detections=41,
    )
    want.provenance.row, want.provenance.source_format = 2, "au-abf-csv"
    assert row.observation == want
    assert rates.asked == [("AUD", WEEK_47)]
    assert (feed.partner, feed.source_format, feed.accepted, feed.rejected) == (
        "au-abf",
        "au-abf-csv",
        1,
        0,
    )


def test_ca_cbsa_jsonl_row_maps_its_codes() -> None:
    [row] = parse("ca-cbsa", CA_ROW + "\n").rows
    want = expected(
        reporter="CA",
        period="2026-W47",
        channel="POST",
        origin_country="CN",
        hs_chapter="61",
        category="SALE_OF_GOODS",
        value_band="0-20",
        band_estimated=True,
        items=5120,
        declared_value=Money(amount="93011.20", currency="CAD"),
        declared_value_usd="66037.95",
        detections=7,
    )
    want.provenance.row, want.provenance.source_format = 1, "ca-cbsa-jsonl"
    assert (row.row, row.findings, row.observation) == (1, (), want)


def test_gb_bf_xml_row_takes_the_week_of_the_report() -> None:
    [row] = parse("gb-bf", f"{GB_OPEN}\n  {GB_ROW}\n</lowValueReport>\n").rows
    want = expected(
        reporter="GB",
        period="2026-W47",
        channel="POST",
        origin_country="CN",
        hs_chapter="61",
        category="SALE_OF_GOODS",
        value_band="20-40",  # 190796.04 USD / 7311 = 26.10
        band_estimated=True,
        items=7311,
        declared_value=Money(amount="150233.10", currency="GBP"),
        declared_value_usd="190796.04",
        detections=12,
    )
    want.provenance.row, want.provenance.source_format = 2, "gb-bf-xml"
    assert (row.row, row.findings, row.observation) == (2, (), want)


def test_json_numbers_stay_decimal_and_keep_their_digits() -> None:
    line = CA_ROW.replace('"93011.20"', "93011.20")
    [row] = parse("ca-cbsa", line).rows
    assert row.observation is not None
    assert row.observation.declared_value.amount == "93011.20"


def test_ca_cbsa_unknown_type_is_other_and_unstated_fields_are_not_stated() -> None:
    line = (
        '{"period":{"from":"2026-11-16","to":"2026-11-22"},"mode":"COURIER","type":"BULK",'
        '"shipments":12,"value_cad":"0","seizures":0}'
    )
    [row] = parse("ca-cbsa", line).rows
    assert row.observation is not None
    obs = row.observation
    assert (obs.channel, obs.category, obs.origin_country, obs.hs_chapter) == (
        "COURIER",
        "OTHER",
        "ZZ",
        "00",
    )
    assert (obs.value_band, obs.declared_value_usd) == ("0-20", "0.00")


def test_missing_rate_keeps_the_row_with_rate_missing_and_a_warning() -> None:
    [row] = parse("gb-bf", f"{GB_OPEN}{GB_ROW}</lowValueReport>", FixedRates({})).rows
    assert row.observation is not None
    obs = row.observation
    assert (obs.rate_missing, obs.declared_value_usd, obs.value_band) == (True, "", "")
    [finding] = row.findings
    assert (finding.code, finding.severity, finding.path, finding.line) == (
        "B5_RATE_MISSING",
        Severity.WARNING,
        "row[1]/valueGBP",
        1,
    )


# -- bad rows are rejected with their numbers; good rows are kept ------------------------------


def test_au_abf_bad_rows_are_rejected_by_line_and_the_rest_kept() -> None:
    good = AU_ROW
    lines = [
        AU_HEADER,
        good,
        good.replace("18234", "18k"),  # line 3: bad number
        good.replace(",CN,", ",XQ,"),  # line 4: unknown country
        good.replace("SALE_OF_GOODS", "SALES"),  # line 5: unmapped code
        good.replace("402118.55", ""),  # line 6: missing field
        good.replace("2026-11-22", "2026-11-23"),  # line 7: period across two ISO weeks
        "",  # line 8: blank, skipped
        good.replace("2026-11-16", "2026-13-01"),  # line 9: not a date
        good.replace(",41", ",41,9"),  # line 10: one cell too many
        good.replace(",61,", ",77,"),  # line 11: a chapter the HS does not use
        good,  # line 12
    ]
    feed = parse("au-abf", "\r\n".join(lines) + "\r\n")
    assert codes(feed) == {
        3: ["B5_NUMBER"],
        4: ["B5_COUNTRY_UNKNOWN"],
        5: ["B5_CODE_UNMAPPED"],
        6: ["B5_FIELD_MISSING"],
        7: ["B5_PERIOD"],
        9: ["B5_PERIOD"],
        10: ["B5_CSV"],
        11: ["B5_HS_CHAPTER"],
    }
    assert [r.row for r in feed.rows if r.observation is not None] == [2, 12]
    by_row = {r.row: r.findings[0] for r in feed.rows if r.findings}
    assert (by_row[3].path, by_row[3].line) == ("row[3]/parcels", 3)
    assert by_row[4].path == "row[4]/origin"
    assert by_row[6].path == "row[6]/declared_value_aud"
    assert by_row[7].path == "row[7]/week_end"


def test_csv_rows_are_numbered_by_the_line_they_start_on() -> None:
    quoted = AU_ROW.replace("SALE_OF_GOODS", '"SALE_OF_GOODS"')
    broken = AU_ROW.replace("CN", '"C"N')  # strict: nothing may follow a closing quote
    two_lines = AU_ROW.replace("CN", '"C\nN"')
    text = f"{AU_HEADER}\n{quoted}\n{broken}\n{two_lines}\n{AU_ROW}\n"
    feed = parse("au-abf", text)
    assert [(r.row, r.observation is not None) for r in feed.rows] == [
        (2, True),
        (3, False),
        (4, False),  # a quoted cell over two lines: "C\nN" is no country
        (6, True),
    ]
    assert codes(feed) == {3: ["B5_CSV"], 4: ["B5_COUNTRY_UNKNOWN"]}


def test_ca_cbsa_bad_lines_are_rejected_by_line_and_the_rest_kept() -> None:
    lines = [
        CA_ROW,
        CA_ROW.replace('"shipments":5120', '"shipments":51.5'),  # 2: bad number
        CA_ROW.replace('"CN"', '"XX"'),  # 3: unknown country
        CA_ROW.replace('"POSTAL"', '"RAIL"'),  # 4: unmapped code
        CA_ROW.replace('"seizures":7', '"x":7'),  # 5: unknown key (and seizures missing)
        CA_ROW.replace(',"seizures":7', ""),  # 6: missing field
        CA_ROW.replace('"2026-11-22"', '"2026-11-30"'),  # 7: bad period
        CA_ROW[:-1],  # 8: not JSON
        "",  # 9: blank
        CA_ROW.replace('"shipments":5120', '"shipments":true'),  # 10: a boolean is no count
        CA_ROW.replace('"origin_country":"CN"', '"origin_country":12'),  # 11: wrong type
        CA_ROW.replace('"seizures":7', '"seizures":7,"seizures":8'),  # 12: key twice
        CA_ROW.replace('"93011.20"', "NaN"),  # 13: no NaN
        CA_ROW,  # 14
    ]
    feed = parse("ca-cbsa", "\n".join(lines))
    assert codes(feed) == {
        2: ["B5_NUMBER"],
        3: ["B5_COUNTRY_UNKNOWN"],
        4: ["B5_CODE_UNMAPPED"],
        5: ["B5_COLUMN_UNKNOWN"],
        6: ["B5_FIELD_MISSING"],
        7: ["B5_PERIOD"],
        8: ["B5_JSON"],
        10: ["B5_NUMBER"],
        11: ["B5_TYPE"],
        12: ["B5_JSON"],
        13: ["B5_JSON"],
    }
    assert [r.row for r in feed.rows if r.observation is not None] == [1, 14]
    unknown = next(r for r in feed.rows if r.row == 5).findings[0]
    assert unknown.path == "row[5]/x"
    period = next(r for r in feed.rows if r.row == 7).findings[0]
    assert period.path == "row[7]/period.to"


def test_gb_bf_schema_and_code_errors_reject_their_rows_only_with_the_b5_codes() -> None:
    rows = [
        GB_ROW,  # line 2
        GB_ROW.replace('count="7311"', 'count="7,311"'),  # 3: XSD pattern: a bad number
        GB_ROW.replace('origin="CN"', 'origin="QQ"'),  # 4: unknown country
        GB_ROW.replace('channel="POST"', 'channel="SHIP"'),  # 5: unmapped code
        GB_ROW.replace(' detections="12"', ""),  # 6: XSD required attribute: missing field
        GB_ROW.replace("/>", ' extra="1"/>'),  # 7: XSD unknown attribute
        GB_ROW.replace("/>", "><note/></row>"),  # 8: XSD structure, no row-level equivalent
        GB_ROW,  # 9
    ]
    text = "\n".join([GB_OPEN, *rows, "</lowValueReport>"])
    feed = parse("gb-bf", text)
    assert codes(feed) == {
        3: ["B5_NUMBER"],
        4: ["B5_COUNTRY_UNKNOWN"],
        5: ["B5_CODE_UNMAPPED"],
        6: ["B5_FIELD_MISSING"],
        7: ["B5_COLUMN_UNKNOWN"],
        8: ["XSD"],
    }
    assert [r.row for r in feed.rows if r.observation is not None] == [2, 9]
    by_row = {r.row: r.findings[0] for r in feed.rows if r.findings}
    assert (by_row[3].path, by_row[3].line) == ("row[3]/count", 3)
    assert by_row[3].message == "'7,311' is not a whole number >= 1"
    assert (by_row[6].path, by_row[6].line) == ("row[6]/detections", 6)
    assert (by_row[7].path, by_row[7].line) == ("row[7]/extra", 7)
    assert (by_row[8].path, by_row[8].line) == ("row[8]", 8)
    assert "{urn:gb-bf" not in by_row[8].message


# -- whole-feed refusals ----------------------------------------------------------------------


def rejected(partner: str, data: bytes) -> list[str]:
    with pytest.raises(MessageRejected) as caught:
        parse_feed(data, mapping(partner), partner=partner, rates=FixedRates(RATES))
    return [f.code for f in caught.value.findings]


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (AU_HEADER + ",remarks", "B5_COLUMN_UNKNOWN"),
        (AU_HEADER.replace(",detections", ""), "B5_HEADER"),
        (AU_HEADER.replace("origin", "hs2"), "B5_HEADER"),
        ("", "B5_HEADER"),
    ],
)
def test_csv_without_the_mapped_header_is_rejected(header: str, code: str) -> None:
    assert rejected("au-abf", f"{header}\n{AU_ROW}\n".encode()) == [code]


@pytest.mark.parametrize("partner", ["au-abf", "ca-cbsa"])
def test_text_feed_that_is_not_utf8_is_rejected(partner: str) -> None:
    assert rejected(partner, b"\xff\xfe" + CA_ROW.encode("utf-16-le")) == ["B5_ENCODING"]


def test_utf8_byte_order_mark_is_accepted() -> None:
    feed = parse("au-abf", f"\ufeff{AU_HEADER}\n{AU_ROW}\n")
    assert feed.accepted == 1


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (
            '<!DOCTYPE r [<!ENTITY x "y">]>' + GB_OPEN + "</lowValueReport>",
            "XML_DOCTYPE_FORBIDDEN",
        ),
        (GB_OPEN + GB_ROW.replace('"CN"', '"&x;"') + "</lowValueReport>", "XML_ENTITY_FORBIDDEN"),
        (GB_OPEN + GB_ROW, "XML_NOT_WELL_FORMED"),
        (GB_OPEN.replace(":lowvalue:1", ":lowvalue:2") + "</lowValueReport>", "XML_NAMESPACE"),
        (GB_OPEN.replace(' week="2026-W47"', "") + "</lowValueReport>", "B5_FIELD_MISSING"),
        (GB_OPEN.replace("2026-W47", "2026-47") + "</lowValueReport>", "B5_PERIOD"),
        (GB_OPEN + "<note/></lowValueReport>", "XSD_ENVELOPE"),
        (GB_OPEN.replace("W47", "W54") + "</lowValueReport>", "B5_PERIOD"),
    ],
)
def test_hostile_or_invalid_xml_feed_is_rejected(document: str, code: str) -> None:
    assert rejected("gb-bf", document.encode())[0] == code


# -- a new partner is a folder, not code ------------------------------------------------------


def test_new_partner_with_its_own_csv_layout_needs_only_a_mapping() -> None:
    new = load_mapping(DATA / "nz-customs" / "mapping.toml")
    data = (DATA / "nz-customs" / "feed.csv").read_bytes()
    feed = parse_feed(data, new, partner="nz-customs", rates=FixedRates(RATES))
    assert codes(feed) == {3: ["B5_FIELD_MISSING"], 4: ["B5_CODE_UNMAPPED"]}
    [row] = [r for r in feed.rows if r.observation is not None]
    want = expected(
        reporter="NZ",
        period="2026-W47",
        channel="POST",
        origin_country="GB",
        hs_chapter="85",
        category="UNSPECIFIED",
        value_band="20-40",  # stated by the partner in USD: not estimated
        band_estimated=False,
        items=120,
        declared_value=Money(amount="3600.00", currency="NZD"),
        declared_value_usd="2160.00",
        de_minimis_items=118,
        detections=2,
    )
    want.provenance.row, want.provenance.source_format = 2, "nz-customs-csv"
    assert (row.row, row.observation) == (2, want)


def test_period_of_the_wrong_json_type_is_one_type_finding() -> None:
    line = CA_ROW.replace('"from":"2026-11-16"', '"from":20261116')
    assert codes(parse("ca-cbsa", line)) == {1: ["B5_TYPE"]}
