"""B5 exchange end to end: partner feeds in, signed reports pulled and pushed, over real HTTP.

The gateway and its partners run on a frozen clock. The test data falls in 2026-W47/W48 (items
posted 2026-11-20..26, feeds of W47) and is sent on DATA_DAY; the tests that build, fold or compare
weeks then run under each of TODAYS, on which the background builder builds the last complete
week's reports: so what they assert holds whatever day the suite runs on.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.adapters.crypto.dsse import verify_json_envelope
from gateway.adapters.crypto.httpsig import RequestVerifier, sign_request, verify_response
from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.config import ShareSettings
from gateway.domain.reports import StoredReport
from gateway.domain.weeks import last_complete
from gateway.entrypoints.cli import main as cli_main
from gateway.services.b5_reports import REPORT_TYPE
from gateway.services.cell_folding import declaration_in
from gateway.share.aggregate import recount
from tests.clocks import FrozenClock
from tests.e2e.conftest import PartnerKit, World, make_settings
from tests.e2e.helpers import document, items

pytestmark = pytest.mark.slow
REPO_PARTNERS = Path(__file__).resolve().parents[2] / "partners"
WEEK = "2026-W48"  # the week the tests build a report of
DATA_DAY = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # W48, the day after the last item's posting
TODAYS = pytest.mark.parametrize(
    "today",
    [
        pytest.param(date(2026, 11, 28), id="today-in-W48"),  # builder: W47
        pytest.param(date(2026, 12, 2), id="today-in-W49"),  # builder: W48, the week tested
        pytest.param(date(2026, 12, 30), id="today-in-W53"),  # builder: 2026-W52
        pytest.param(date(2027, 1, 6), id="today-in-2027-W01"),  # builder: 2026-W53
    ],
)

FEEDS = {
    "au-abf": (
        "text/csv",
        (
            b"week_start,week_end,origin,hs2,category,value_band_aud,parcels,declared_value_aud,"
            b"detections\n"
            b"2026-11-16,2026-11-22,CN,61,SALE_OF_GOODS,0-1000,18234,402118.55,41\n"
            b"2026-11-16,2026-11-22,XX,61,SALE_OF_GOODS,0-1000,10,100.00,0\n"
            b"2026-11-16,2026-11-22,CN,62,GIFT,0-1000,twelve,100.00,0\n"
            b"2026-11-16,2026-11-22,GB,95,GIFT,0-1000,120,3400.10,1\n"
        ),
    ),
    "ca-cbsa": (
        "application/x-ndjson",
        (
            b'{"period":{"from":"2026-11-16","to":"2026-11-22"},"mode":"POSTAL","origin_country":"CN",'
            b'"hs_chapter":"61","type":"SALE","shipments":5120,"value_cad":"93011.20","seizures":7}\n'
            b'{"period":{"from":"2026-11-16","to":"2026-11-22"},"mode":"POSTAL","origin_country":"CN",'
            b'"hs_chapter":"61","type":"SALE","shipments":5120,"value_cad":"not a number",'
            b'"seizures":7}\n'
        ),
    ),
    "gb-bf": (
        "application/xml",
        (
            b'<lowValueReport xmlns="urn:gb-bf:lowvalue:1" week="2026-W47">\n'
            b'  <row origin="CN" chapter="61" category="SALE_OF_GOODS" channel="POST" count="7311" '
            b'valueGBP="150233.10" detections="12"/>\n'
            b'  <row origin="QQ" chapter="61" category="SALE_OF_GOODS" channel="POST" count="1" '
            b'valueGBP="1.00" detections="0"/>\n'
            b"</lowValueReport>\n"
        ),
    ),
}
EXPECTED = {"au-abf": (2, [3, 4]), "ca-cbsa": (1, [2]), "gb-bf": (1, [3])}  # accepted, bad rows


def customs_partner(root: Path, pid: str, *, push_url: str = "") -> PartnerKit:
    """The repository's customs partner folder (its real mapping) with a fresh test key."""
    folder = root / pid
    shutil.copytree(REPO_PARTNERS / pid, folder)
    key = SigningKey(f"{pid}-test", "ed25519", generate_private_key("ed25519"))
    write_public_key(folder / "keys" / "test.pem", key.public_key())
    text = (folder / "partner.toml").read_text()
    text = re.sub(r"^\[\[keys\]\].*?(?=^\[|\Z)", "", text, flags=re.DOTALL | re.MULTILINE)
    if push_url:
        text = text.replace("[share]\n", f'[share]\npush_url = "{push_url}"\n')
    text += f'\n[[keys]]\nid = "{key.keyid}"\nalg = "ed25519"\npublic_key = "keys/test.pem"\n'
    (folder / "partner.toml").write_text(text)
    return PartnerKit(pid, "", "", key)


@pytest.fixture
async def b5(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    root, partners = partners_dir
    for pid in FEEDS:
        partners[pid] = customs_partner(root, pid)
    world = World(make_settings(tmp_path, root), partners, clock=FrozenClock(DATA_DAY))
    await world.start()
    yield world
    for session in world.sessions:
        await session.close()
    await world.stop()


@pytest.mark.parametrize("pid", sorted(FEEDS))
async def test_each_partner_feed_layout_is_accepted_row_by_row_and_idempotent(
    b5: World, pid: str
) -> None:
    media, body = FEEDS[pid]
    client = await b5.client(pid)
    answer = await client.post("/v1/b5/feeds", body, {"Content-Type": media})
    assert answer.status == 202, answer.body
    receipt = answer.json()
    accepted, bad_rows = EXPECTED[pid]
    assert receipt["accepted"] == accepted
    assert [r["row"] for r in receipt["rows"] if r["status"] == "REJECTED"] == bad_rows
    assert all(r["findings"][0]["code"] for r in receipt["rows"] if r["status"] == "REJECTED")
    again = await client.post("/v1/b5/feeds", body, {"Content-Type": media})
    assert (again.status, again.body) == (200, answer.body)
    stored = await b5.running.store.observations(["2026-W47"])
    assert len(stored) == accepted
    assert all(o.partner == pid for o in stored)


async def test_a_post_may_not_submit_feeds_and_a_customs_partner_may_not_submit_itmatt(
    b5: World,
) -> None:
    gb = await b5.client("gb-royal-mail")
    media, body = FEEDS["au-abf"]
    assert (await gb.post("/v1/b5/feeds", body, {"Content-Type": media})).status == 403
    au = await b5.client("au-abf")
    itmatt = document("AU-1", "GBA", items(1, "GB", seed=1))
    assert (await au.submit_itmatt(itmatt)).status == 403


async def _own_items(world: World, n: int = 60) -> None:
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(document("GBA-B5", "GBA", items(n, "GB", seed=77)))
    assert answer.status == 202


async def _pull(
    world: World, pid: str, after: int = 0
) -> tuple[int, dict[str, Any], dict[str, str]]:
    url = f"{world.http_url}/v1/b5/reports?after={after}"
    headers = sign_request(
        method="GET", target_uri=url, headers={}, body=b"", key=world.partners[pid].key,
        created=world.created(),
    )  # fmt: skip
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        body = await response.read()
        return response.status, json.loads(body), dict(response.headers) | {"_body": body.decode()}


async def _stored(world: World, partner: str) -> list[StoredReport]:
    """Every report stored for `partner`, oldest first."""
    out: list[StoredReport] = []
    store = world.running.store
    while batch := await store.reports_after(partner, out[-1].position if out else 0, 500):
        out += batch
    return out


async def _weeks_stored(world: World, week: str) -> dict[str, int]:
    """How many reports of `week` the store holds, by recipient."""
    recipients = [p.id for p in world.running.share.recipients()]
    return {
        pid: sum(1 for r in await _stored(world, pid) if r.report.week == week)
        for pid in recipients
    }


async def _after_the_builder(world: World) -> str:
    """Wait until the background builder has built the last complete week (by the World's
    clock) for every recipient; return that week. It runs once at start (`build_every_s`)."""
    week = last_complete(world.clock.now().date())
    for _ in range(200):
        if all((await _weeks_stored(world, week)).values()):
            return week
        await asyncio.sleep(0.05)
    raise AssertionError(f"the background builder built no {week} report for some partner")


async def _restart_on(world: World, today: date) -> None:
    """Stop the gateway, move the clock to noon of `today`, start it again on the same store."""
    assert isinstance(world.clock, FrozenClock)
    await world.stop()
    world.clock.set(FrozenClock.on(today).now())
    await world.start()


@TODAYS
async def test_a_report_is_built_signed_suppressed_and_pulled_by_its_partner(
    b5: World, today: date
) -> None:
    await _after_the_builder(b5)  # on DATA_DAY: 2026-W47's, before any data arrived
    await _own_items(b5)
    media, body = FEEDS["gb-bf"]
    await (await b5.client("gb-bf")).post("/v1/b5/feeds", body, {"Content-Type": media})
    await _restart_on(b5, today)
    auto = await _after_the_builder(b5)
    assert auto == last_complete(today)
    gateway = b5.running
    await gateway.aggregator.catch_up()  # the background worker may already have folded them
    store = gateway.store
    assert await store.aggregation_position() == await store.last_position()
    cells = await store.cells(["2026-W47", WEEK])
    assert sum(c.items for c in cells.values()) == 60
    # Folded from the contributions the CPU workers computed: the brute-force recount of the
    # records in the journal, cell for cell.
    journal = await store.read_journal(0, 1000)
    expected = recount(declaration_in(row.entry.envelope) for row in journal)
    assert await store.cells(sorted({key.week for key in expected})) == expected
    if auto != WEEK:  # else the background builder has built it, from every record above
        built = await gateway.share.build(WEEK)
        assert {b.report.partner for b in built} == set(FEEDS)
    # one report of the week per partner, and one of the builder's week
    assert await _weeks_stored(b5, WEEK) == dict.fromkeys(FEEDS, 1)
    assert await _weeks_stored(b5, auto) == dict.fromkeys(FEEDS, 1)

    status, doc, headers = await _pull(b5, "gb-bf")
    assert status == 200
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{b5.http_url}/.well-known/jwks.json") as response,
    ):
        keys = keys_from_jwks(await response.json(content_type=None))
    raw = headers.pop("_body").encode()
    verify_response(status=200, headers=headers, body=raw, keys=keys, now=b5.clock.now())
    reports: list[dict[str, Any]] = doc["reports"]
    [entry] = [r for r in reports if r["week"] == WEEK]
    kind, payload = verify_json_envelope(entry["envelope"], keys)
    assert kind == REPORT_TYPE
    report = json.loads(payload)
    assert report["partner"] == "gb-bf"
    assert report["week"] == WEEK
    assert "combinedView" in report  # gb-bf's agreement grants it
    text = payload.decode()
    for personal in ("Ellen", "Jordan", "Leeds", "Denver", "@", "RR"):
        assert personal not in text
    cells = report["cells"]
    assert cells
    assert all(c["items"] >= report["k"] for c in cells if not c["suppressed"])
    assert all("items" not in c for c in cells if c["suppressed"])
    # nothing new after the cursor
    status, later, _ = await _pull(b5, "gb-bf", after=int(doc["next"]))
    assert later["reports"] == []
    # another partner sees only its own reports: every one stored for it, none for anyone else
    status, other, _ = await _pull(b5, "au-abf")
    assert status == 200
    own = {r.report.report_id for r in await _stored(b5, "au-abf")}
    assert {r["reportId"] for r in other["reports"]} == own
    assert sorted(r["week"] for r in other["reports"]) == sorted({"2026-W47", WEEK, auto})
    for pulled in other["reports"]:
        _, body = verify_json_envelope(pulled["envelope"], keys)
        assert json.loads(body)["partner"] == "au-abf"


async def test_reports_are_refused_to_posts_and_to_unsigned_requests(b5: World) -> None:
    status, _, _ = await _pull(b5, "gb-royal-mail")
    assert status == 403
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{b5.http_url}/v1/b5/reports") as response,
    ):
        assert response.status == 401


class PartnerEndpoint:
    """A customs partner's report endpoint on loopback, verifying what it receives."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(body)
        self.requests.append((str(request.url), dict(request.headers), body))
        return web.Response(status=204)

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/b5/reports", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@TODAYS
async def test_an_unreachable_partner_receives_every_report_once_it_is_back_across_a_restart(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]], today: date
) -> None:
    root, partners = partners_dir
    port = _free_port()
    partners["ca-cbsa"] = customs_partner(
        root, "ca-cbsa", push_url=f"http://127.0.0.1:{port}/b5/reports"
    )
    fast = ShareSettings(push_first_backoff_s=0.2, push_max_backoff_s=0.5, push_lease_s=2)
    clock = FrozenClock.on(today)
    world = World(make_settings(tmp_path, root, share=fast), partners, clock=clock)
    await world.start()
    try:
        auto = await _after_the_builder(world)
        await _own_items(world)
        await world.running.aggregator.catch_up()
        built = await world.running.share.build(WEEK)
        built += await world.running.share.build("2026-W47")
        stored = {r.report.report_id for r in await _stored(world, "ca-cbsa")}
        assert {b.report.report_id for b in built} <= stored
        for _ in range(100):  # the pusher tries, and fails: nobody listens yet
            pending = await world.running.store.outbox()
            if len(pending) == len(stored) and all(d.attempts >= 1 for d in pending):
                break
            await asyncio.sleep(0.1)
        assert {d.report.report_id for d in pending} == stored
        assert all(d.attempts >= 1 for d in pending)
    finally:
        await world.stop()

    endpoint = PartnerEndpoint()
    await endpoint.start(port)
    clock.advance(hours=1)  # past every retry's backoff and every lease, still on `today`
    restarted = World(make_settings(tmp_path, root, share=fast), partners, clock=clock)
    await restarted.start()
    try:
        assert await _after_the_builder(restarted) == auto  # built before the restart: no more
        for _ in range(100):
            if not await restarted.running.store.outbox():
                break
            await asyncio.sleep(0.1)
        assert await restarted.running.store.outbox() == []
        keys = restarted.running.keyring.public_keys()
        delivered = [json.loads(verify_json_envelope(b, keys)[1]) for b in endpoint.received]
        assert {d["reportId"] for d in delivered} == stored
        assert {d["partner"] for d in delivered} == {"ca-cbsa"}
        assert {d["week"] for d in delivered} == {"2026-W47", WEEK, auto}
        verifier = RequestVerifier(keys.get, window_s=300)
        for url, headers, body in endpoint.requests:  # each push is signed by the gateway
            assert verifier.verify("POST", url, headers, body, clock.now()).owner == "gateway"
    finally:
        await restarted.stop()
        await endpoint.stop()


@TODAYS
async def test_share_commands_build_list_and_push_from_the_store(
    b5: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], today: date
) -> None:
    await _own_items(b5)
    await _restart_on(b5, today)
    auto = await _after_the_builder(b5)
    settings = b5.settings
    config = tmp_path / "cli.toml"
    config.write_text(
        f'data_dir = "{settings.data_dir}"\npartners_dir = "{settings.partners_dir}"\n'
        f'store = "{settings.store}"\n',
        encoding="utf-8",
    )

    async def cli(*argv: str) -> tuple[int, str]:
        code = await asyncio.to_thread(cli_main, ["--config", str(config), *argv], clock=b5.clock)
        return code, capsys.readouterr().out

    code, out = await cli("share", "build", "--week", WEEK, "--partner", "gb-bf")
    assert code == 0
    # a week the background builder reported already is frozen: its report comes back
    state = "frozen: already reported" if auto == WEEK else "pull only"
    [built] = re.findall(rf"^\s*\d+ gb-bf\s+{WEEK} (\S+) \({state}\)$", out, re.MULTILINE)
    # without --week: the last complete week by the clock, which the background builder reported
    code, out = await cli("share", "build", "--partner", "au-abf")
    assert code == 0
    [latest] = re.findall(
        rf"^\s*\d+ au-abf\s+{auto} (\S+) \(frozen: already reported\)$", out, re.MULTILINE
    )
    code, listed = await cli("share", "list")
    assert code == 0
    store = b5.running.store
    for partner, week in (("gb-bf", WEEK), ("au-abf", auto)):
        stored = await store.report_of(partner, week)
        assert stored is not None
        # each built on the clock it was given: the CLI's, or the background builder's
        assert stored.report.created_at in {b5.clock.now(), DATA_DAY}
        stamp = stored.report.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert re.search(rf"{partner}\s+{week}\s+{stamp}", listed)
    code, out = await cli("share", "push")
    assert code == 0
    assert "0 delivered, 0 failed" in out  # no partner here asks for push
    _, doc, _ = await _pull(b5, "gb-bf")
    assert built in {r["reportId"] for r in doc["reports"] if r["week"] == WEEK}
    _, doc, _ = await _pull(b5, "au-abf")
    assert latest in {r["reportId"] for r in doc["reports"] if r["week"] == auto}
