"""What a row number is in each layout (docs/b5.md), whatever the feed's line endings.

CSV: the physical line the record starts on, the header being line 1; JSON Lines: the physical
line; XML: the line of the row's start tag (its `<`). Blank lines count as lines everywhere.
"""

from __future__ import annotations

import pytest

from gateway.formats.b5 import ParsedFeed, parse_feed
from tests.unit.test_b5_feeds import AU_HEADER, AU_ROW, CA_ROW, GB_OPEN, GB_ROW, RATES, FixedRates
from tests.unit.test_b5_feeds import mapping as partner_mapping


def parse(partner: str, text: str) -> ParsedFeed:
    return parse_feed(
        text.encode(), partner_mapping(partner), partner=partner, rates=FixedRates(RATES)
    )


def numbers(feed: ParsedFeed) -> list[tuple[int, bool]]:
    """(row number, accepted) of each row, and each finding's line is its row's number."""
    for row in feed.rows:
        assert all(f.line == row.row for f in row.findings), row
    return [(row.row, row.observation is not None) for row in feed.rows]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_csv_row_is_the_physical_line_it_starts_on_with_the_header_as_line_1(
    newline: str,
) -> None:
    # The partner band is read and not used: a quoted value over three lines is a good row.
    spanning = AU_ROW.replace(",0-1000,", f',"0-{newline}10{newline}00",')
    lines = [AU_HEADER, AU_ROW, "", spanning, AU_ROW.replace("18234", "x"), AU_ROW]
    feed = parse("au-abf", newline.join(lines) + newline)
    assert numbers(feed) == [(2, True), (4, True), (7, False), (8, True)]
    [bad] = feed.rows[2].findings
    assert (bad.path, bad.line) == ("row[7]/parcels", 7)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_json_lines_row_is_its_physical_line_blank_lines_counted(newline: str) -> None:
    lines = ["", CA_ROW, "  ", CA_ROW.replace("5120", '"x"'), CA_ROW]
    feed = parse("ca-cbsa", newline.join(lines) + newline)
    assert numbers(feed) == [(2, True), (4, False), (5, True)]


def test_an_xml_row_is_the_line_of_its_start_tag_however_the_tag_is_laid_out() -> None:
    row_over_three_lines = GB_ROW.replace(" chapter=", "\n     chapter=").replace(
        " count=", "\n     count="
    )
    bad = GB_ROW.replace('count="7311"', 'count="x"')
    text = "\n".join(
        [
            GB_OPEN,  # 1
            "  <!-- <row count='comment'/> -->",  # 2
            f"  {row_over_three_lines}",  # 3-5
            f"  {GB_ROW}  {bad.replace(' chapter=', '{nl}     chapter=')}",  # 6-7
            "",  # 8
            f"  {GB_ROW.replace('/>', '{nl}  />')}",  # 9-10
            "</lowValueReport>",
        ]
    ).replace("{nl}", "\n")
    feed = parse("gb-bf", text)
    assert numbers(feed) == [(3, True), (6, True), (6, False), (9, True)]
    assert feed.rows[2].findings[0].path == "row[6]/count"


def test_an_xml_row_past_line_65535_keeps_the_line_of_its_start_tag() -> None:
    padding = "\n" * 70_000
    tall = GB_ROW.replace(" count=", "\n     count=").replace('count="7311"', 'count="x"')
    text = f"{GB_OPEN}{padding}  {tall}\n  {GB_ROW}\n</lowValueReport>\n"
    feed = parse("gb-bf", text)
    assert numbers(feed) == [(70_001, False), (70_003, True)]
    assert feed.rows[0].findings[0].path == "row[70001]/count"


def test_a_carriage_return_alone_is_no_csv_line_break() -> None:
    in_quotes = AU_ROW.replace(",0-1000,", ',"0-\r\r1000",')
    outside = AU_ROW.replace(",0-1000,", ",0-\r1000,")
    feed = parse("au-abf", f"{AU_HEADER}\n{in_quotes}\n{outside}\n{AU_ROW}\n")
    assert numbers(feed) == [(2, True), (3, False), (4, True)]
    assert [f.code for f in feed.rows[1].findings] == ["B5_CSV"]
