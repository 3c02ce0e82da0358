"""A feed in another layout than its partner's mapping, over real HTTP: one problem, nothing kept.

Each partner's agreed feed (tests/e2e/test_b5.py's FEEDS) is sent to the other two partners,
with its own media type and with theirs: the answer is one signed 415 problem naming the layout
expected and the one seen, and neither the feed, its rows nor a receipt is stored; only the
refusal is recorded (its reason, never the body).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.adapters.crypto.httpsig import content_digest
from gateway.services.b5_intake import feed_id
from tests.e2e.conftest import PartnerKit, World, make_settings
from tests.e2e.test_b5 import FEEDS, customs_partner

pytestmark = pytest.mark.slow
LAYOUT = {"au-abf": "csv", "ca-cbsa": "jsonl", "gb-bf": "xml"}
PROBLEM_TYPE = "/problems/wrong-feed-layout"
WEEKS = [f"2026-W{n:02d}" for n in range(1, 54)]  # whichever week FEEDS are of
MISDIRECTED = [
    (sender, receiver, media)
    for sender, receiver in itertools.permutations(sorted(FEEDS), 2)
    for media in sorted({FEEDS[sender][0], FEEDS[receiver][0]})
]


@pytest.fixture
async def layouts(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    root, partners = partners_dir
    for pid in FEEDS:
        partners[pid] = customs_partner(root, pid)
    world = World(make_settings(tmp_path, root), partners)
    await world.start()
    yield world
    await world.stop()


async def test_a_feed_in_another_partners_layout_gets_one_problem_and_nothing_is_stored(
    layouts: World,
) -> None:
    store = layouts.running.store
    for sender, receiver, media in MISDIRECTED:
        body = FEEDS[sender][1]
        client = await layouts.client(receiver)
        answer = await client.post("/v1/b5/feeds", body, {"Content-Type": media})
        case = (sender, receiver, media)
        assert answer.status == 415, (case, answer.body)
        assert answer.verified_by, "the problem is signed by the gateway"
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json()
        assert (problem["type"], problem["status"]) == (PROBLEM_TYPE, 415), case
        assert (problem["expectedLayout"], problem["seenLayout"]) == (
            LAYOUT[receiver],
            LAYOUT[sender],
        ), case
        [finding] = problem["errors"]
        assert (finding["code"], finding["line"]) == ("B5_LAYOUT", 1), case
        assert finding["message"].startswith("expected "), case
        assert "per this partner's mapping; the body looks like" in finding["message"], case
        assert await store.find_message(receiver, feed_id(content_digest(body))) is None
    assert await store.observations(WEEKS) == []
    refusals = [r for r in await store.rejections(100) if r.route == "/v1/b5/feeds"]
    assert len(refusals) == len(MISDIRECTED)
    assert {(r.http_status, r.reason) for r in refusals} == {(415, "wrong-feed-layout")}


async def test_the_same_misdirected_bytes_are_refused_again_then_the_right_partner_takes_them(
    layouts: World,
) -> None:
    media, body = FEEDS["ca-cbsa"]
    wrong = await layouts.client("au-abf")
    first = await wrong.post("/v1/b5/feeds", body, {"Content-Type": media})
    again = await wrong.post("/v1/b5/feeds", body, {"Content-Type": media})
    assert (first.status, again.status) == (415, 415)
    right = await layouts.client("ca-cbsa")
    taken = await right.post("/v1/b5/feeds", body, {"Content-Type": media})
    assert taken.status == 202, taken.body
    assert taken.json()["accepted"] == 1
    stored = await layouts.running.store.observations(WEEKS)
    assert {o.partner for o in stored} == {"ca-cbsa"}
