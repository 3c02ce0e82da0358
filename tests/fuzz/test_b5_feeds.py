"""Fuzzing B5 trend feeds: the parser (pure stage) and POST /v1/b5/feeds of a real gateway.

For each partner layout (au-abf CSV, ca-cbsa JSON Lines, gb-bf XML): a valid feed has every row
accepted; any feed is refused as a whole with findings or answered row by row (one outcome per
row, every finding with a code, a line and a path); over HTTP, never a 5xx, a signed answer of
the contract, and a receipt that lists every row as the offline parser does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import MessageRejected
from gateway.formats.b5 import FeedMapping, ParsedFeed, load_mapping, parse_feed
from gateway.rules.bands import BANDS
from gateway.rules.rates import default_rates
from tests.e2e.test_b5 import REPO_PARTNERS, customs_partner
from tests.fuzz.b5_gen import PARTNERS, Feed, feeds, mutated_feeds
from tests.fuzz.budget import count, fuzz
from tests.fuzz.live import LiveGateway, live_gateway, post_partners

CONTRACT = {200, 202, 400, 413, 415, 422}
RATES = default_rates()
MAPPINGS = {pid: load_mapping(REPO_PARTNERS / pid / "mapping.toml") for pid in PARTNERS}


def parse(feed: Feed) -> ParsedFeed | MessageRejected:
    mapping: FeedMapping = MAPPINGS[feed.partner]
    try:
        return parse_feed(feed.bytes(), mapping, partner=feed.partner, rates=RATES)
    except MessageRejected as exc:
        return exc


def check_parsed(feed: Feed, outcome: ParsedFeed | MessageRejected) -> None:
    lines = feed.bytes().count(b"\n") + 1
    if isinstance(outcome, MessageRejected):
        assert outcome.findings
        for finding in outcome.findings:
            assert finding.code, finding
            assert finding.is_error, finding
            assert finding.line is not None, finding
            assert 1 <= finding.line <= lines, (finding, lines)
        return
    for row in outcome.rows:
        assert 1 <= row.row <= lines, row
        errors = [f for f in row.findings if f.is_error]
        assert (row.observation is None) == bool(errors), row
        for finding in row.findings:
            assert finding.code, finding
            assert finding.path.startswith(f"row[{row.row}]"), finding
            assert finding.line == row.row, finding
        if row.observation is not None:
            obs = row.observation
            assert obs.items >= 1
            assert obs.value_band in (*BANDS, "")
            obs.SerializeToString(deterministic=True)


@fuzz(60)
@given(data=st.data())
@pytest.mark.parametrize("partner", PARTNERS)
def test_valid_feeds_have_every_row_accepted(partner: str, data: st.DataObject) -> None:
    count(f"test_valid_feeds_have_every_row_accepted[{partner}]")
    feed = data.draw(feeds(partner))
    outcome = parse(feed)
    assert not isinstance(outcome, MessageRejected), (outcome.findings, feed.bytes())
    check_parsed(feed, outcome)
    assert outcome.rejected == 0, [r.findings for r in outcome.rows]
    assert len(outcome.rows) == len(feed.rows)


@fuzz(250)
@given(data=st.data())
@pytest.mark.parametrize("partner", PARTNERS)
def test_mutated_feeds_get_findings_never_an_exception(partner: str, data: st.DataObject) -> None:
    count(f"test_mutated_feeds_get_findings_never_an_exception[{partner}]")
    feed = data.draw(mutated_feeds(partner))
    check_parsed(feed, parse(feed))


@fuzz(100)
@given(data=st.binary(max_size=400), partner=st.sampled_from(PARTNERS))
def test_the_feed_parser_refuses_arbitrary_bytes_with_findings(data: bytes, partner: str) -> None:
    count("test_the_feed_parser_refuses_arbitrary_bytes_with_findings")
    feed = Feed(partner, (), raw=data)
    check_parsed(feed, parse(feed))


# -- over HTTP ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    tmp = tmp_path_factory.mktemp("fuzz-b5")
    root = tmp / "partners"
    partners = post_partners(root)
    for pid in PARTNERS:
        partners[pid] = customs_partner(root, pid)
    live = live_gateway(tmp, partners, root)
    yield live
    live.stop()


def check_answer(feed: Feed, status: int, body: bytes, media: str) -> None:
    assert status in CONTRACT, (status, body[:2000])
    if status not in (200, 202, 422):
        assert media == "application/problem+json", media
        doc: dict[str, Any] = json.loads(body)
        assert doc["status"] == status
        return
    assert media == "application/json", media
    receipt = json.loads(body)
    outcome = parse(feed)
    assert not isinstance(outcome, MessageRejected), "a receipt for a feed the parser refuses"
    rows = receipt["rows"]
    assert [r["row"] for r in rows] == [r.row for r in outcome.rows]
    assert receipt["accepted"] == outcome.accepted
    for got, expected in zip(rows, outcome.rows, strict=True):
        assert (got["status"] == "ACCEPTED") == (expected.observation is not None)
        assert [f["code"] for f in got["findings"]] == [f.code for f in expected.findings]


@fuzz(25)
@given(data=st.data())
@pytest.mark.parametrize("partner", PARTNERS)
def test_feeds_over_http_get_a_contract_answer_never_a_5xx(
    gateway: LiveGateway, partner: str, data: st.DataObject
) -> None:
    count(f"test_feeds_over_http_get_a_contract_answer_never_a_5xx[{partner}]")
    feed = data.draw(st.one_of(feeds(partner), mutated_feeds(partner)))
    answer = gateway.post(partner, "/v1/b5/feeds", feed.bytes(), {"Content-Type": feed.media})
    media = answer.headers.get("Content-Type", "").split(";")[0].strip()
    check_answer(feed, answer.status, answer.body, media)
    assert answer.verified_by, "every answer is signed by the gateway"
