"""ITMATT end to end: real HTTP in, real gRPC out, on SQLite, as partners and consumers see it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import aiohttp
import pytest

from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.entrypoints.consumer import consume_verified
from gateway.errors import StoreError
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.feed_pb2 import FeedRecord
from tests.e2e.conftest import CONSUMERS, PartnerKit, World, make_settings
from tests.e2e.helpers import document, drain, items, raw_post

pytestmark = pytest.mark.slow


async def test_consumers_receive_exactly_their_routed_records_verified_with_published_jwks(
    world: World,
) -> None:
    gb = await world.client("gb-royal-mail")
    cn = await world.client("cn-china-post")
    a = await gb.submit_itmatt(document("GBA-1", "GBA", items(30, "GB", seed=1)))
    b = await cn.submit_itmatt(document("CNA-1", "CNA", items(40, "CN", seed=2, bad_every=5)))
    assert (a.status, b.status) == (202, 202)
    assert a.verified_by
    assert b.verified_by
    accepted = {
        i["declarationId"]: partner
        for partner, answer in (("gb-royal-mail", a), ("cn-china-post", b))
        for i in answer.json()["items"]
        if i["status"] == "ACCEPTED"
    }
    assert len(accepted) == 30 + 32

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.http_url}/.well-known/jwks.json") as response,
    ):
        jwks = keys_from_jwks(await response.json(content_type=None))
    journal = await world.running.store.read_journal(0, 1000)
    for consumer in CONSUMERS:
        declarations: list[Declaration] = []

        def keep(
            _record: FeedRecord, declaration: Declaration, into: list[Declaration] = declarations
        ) -> None:
            into.append(declaration)

        result = await consume_verified(
            world.grpc_target, consumer.name, None, idle=1.0, keys=jwks, on_declaration=keep
        )
        expected = [r.entry.record_id for r in journal if consumer.rule.matches(r.entry)]
        assert result.record_ids == expected, consumer.name  # exactly its records, journal order
        assert result.failed == 0
        assert result.verified == len(expected)
        assert {d.provenance.partner for d in declarations} <= set(accepted.values())
        for d in declarations:  # every routed record carries its valuation (home: US)
            v = d.valuation
            assert (v.home_country, v.rule_id) == ("US", "US-EO14324")
            assert v.rate_missing or v.value_band
    everything = await drain(world.grpc_target, "analytics")
    assert everything.received == 0  # all acknowledged: nothing is sent twice after a clean ack
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.http_url}/metrics") as response,
    ):
        metrics = await response.text()
    assert f'aedgw_feed_records_sent_total{{consumer="analytics"}} {len(journal)}.0' in metrics


async def test_consumer_that_disconnects_mid_stream_and_reconnects_misses_nothing(
    world: World,
) -> None:
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(document("GBA-2", "GBA", items(120, "GB", seed=3)))
    assert answer.status == 202
    first = await consume_verified(world.grpc_target, "analytics", None, max_records=45)
    assert first.received == 45
    rest = await drain(world.grpc_target, "analytics")
    ids = [i["declarationId"] for i in answer.json()["items"]]
    assert first.record_ids + rest.record_ids == ids


async def test_records_committed_while_a_consumer_waits_arrive_without_reconnecting(
    world: World,
) -> None:
    import asyncio

    got: list[str] = []
    caught_up = asyncio.Event()  # the stream is open and has delivered the first message

    def received(record: FeedRecord, _declaration: Declaration) -> None:
        got.append(record.record_id)
        if len(got) == 10:
            caught_up.set()

    task = asyncio.create_task(
        consume_verified(
            world.grpc_target, "analytics", None, max_records=20, on_declaration=received
        )
    )
    gb = await world.client("gb-royal-mail")
    first = await gb.submit_itmatt(document("GBA-3", "GBA", items(10, "GB", seed=4)))
    await asyncio.wait_for(caught_up.wait(), 30)
    # committed while that one stream is open, past everything it has read
    second = await gb.submit_itmatt(document("GBA-4", "GBA", items(10, "GB", seed=5)))
    result = await asyncio.wait_for(task, 30)
    assert result.verified == 20
    assert got == [i["declarationId"] for a in (first, second) for i in a.json()["items"]]


async def test_resubmitting_the_same_message_returns_the_original_receipt_byte_for_byte(
    world: World,
) -> None:
    gb = await world.client("gb-royal-mail")
    doc = document("GBA-4", "GBA", items(5, "GB", seed=5))
    first = await gb.submit_itmatt(doc)
    again = await gb.submit_itmatt(doc)
    gzipped = await gb.submit_itmatt(doc, compress=True)
    assert (first.status, again.status) == (202, 200)
    assert again.body == first.body
    # gzip changes the bytes on the wire, so the content digest differs: a conflict, not a replay
    assert gzipped.status == 409
    assert await world.running.store.last_position() == 5


async def test_same_message_id_with_other_content_is_a_conflict_and_changes_nothing(
    world: World,
) -> None:
    gb = await world.client("gb-royal-mail")
    first = await gb.submit_itmatt(document("GBA-5", "GBA", items(3, "GB", seed=6)))
    other = await gb.submit_itmatt(document("GBA-5", "GBA", items(3, "GB", seed=7)))
    assert (first.status, other.status) == (202, 409)
    assert other.headers["Content-Type"].startswith("application/problem+json")
    assert other.json()["status"] == 409
    stored = await world.running.store.find_message("gb-royal-mail", "GBA-5")
    assert stored is not None
    assert stored.receipt == first.body


async def test_message_with_every_item_rejected_is_answered_422_with_a_receipt(
    world: World,
) -> None:
    cn = await world.client("cn-china-post")
    bad = items(4, "CN", seed=8, bad_every=1)
    answer = await cn.submit_itmatt(document("CNA-6", "CNA", bad))
    assert answer.status == 422
    receipt = answer.json()
    assert receipt["status"] == "REJECTED"
    assert receipt["accepted"] == 0
    assert [{f["code"] for f in i["findings"] if f["severity"] == "error"}
            for i in receipt["items"]] == [set(s.expect) for s in bad]  # fmt: skip
    assert await world.running.store.last_position() == 0


async def test_gzip_body_is_accepted_and_a_gzip_bomb_is_refused_413(world: World) -> None:
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(document("GBA-7", "GBA", items(3, "GB", seed=9)), compress=True)
    assert answer.status == 202
    partner = world.partners["gb-royal-mail"]
    limit = world.running.partners["gb-royal-mail"].max_body_bytes
    bomb = gzip.compress(b"<" + b" " * (limit + 10))
    status, problem, _ = await raw_post(
        f"{world.http_url}/v1/aed/itmatt", bomb, key=partner.key,
        headers={"Content-Encoding": "gzip"},
    )  # fmt: skip
    assert status == 413
    assert problem["status"] == 413


async def test_test_messages_are_validated_and_answered_but_never_routed(world: World) -> None:
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(document("GBA-8", "GBA", items(4, "GB", seed=10), test=True))
    assert answer.status == 202
    assert answer.json()["test"] is True
    assert await world.running.store.last_position() == 0
    assert (await drain(world.grpc_target, "analytics", idle=0.5)).received == 0


@pytest.mark.parametrize(
    ("name", "xml"),
    [
        ("doctype", (b'<?xml version="1.0"?><!DOCTYPE message [<!ELEMENT message ANY>]>'
                    b'<message xmlns="urn:aedgw:itmatt:1.5"/>')),
        ("entity", (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x "boom">]>'
                   b'<message xmlns="urn:aedgw:itmatt:1.5">&x;</message>')),
        ("external", (b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "http://127.0.0.1:9/evil.dtd">'
                     b'<message xmlns="urn:aedgw:itmatt:1.5"/>')),
        ("file-entity", (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                        b'<message xmlns="urn:aedgw:itmatt:1.5">&x;</message>')),
        ("not-xml", b"this is not xml"),
        ("wrong-namespace", b'<message xmlns="urn:other"><msgheader/></message>'),
    ],
)  # fmt: skip
async def test_hostile_or_broken_xml_is_refused_400_and_nothing_is_stored(
    world: World, name: str, xml: bytes
) -> None:
    partner = world.partners["gb-royal-mail"]
    status, problem, headers = await raw_post(
        f"{world.http_url}/v1/aed/itmatt", xml, key=partner.key
    )
    assert status == 400, name
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["errors"], problem
    assert all("code" in e and "message" in e for e in problem["errors"])
    store = world.running.store
    assert await store.last_position() == 0
    rejections = await store.rejections()
    assert rejections[0].http_status == 400
    assert rejections[0].partner == "gb-royal-mail"


async def test_a_post_cannot_send_under_another_posts_operator_code(world: World) -> None:
    cn = await world.client("cn-china-post")
    answer = await cn.submit_itmatt(document("GBA-9", "GBA", items(2, "GB", seed=11)))
    assert answer.status == 403
    assert "operator code" in answer.json()["detail"]
    assert await world.running.store.find_message("cn-china-post", "GBA-9") is None


async def test_other_media_types_are_refused_415(world: World) -> None:
    partner = world.partners["gb-royal-mail"]
    status, problem, _ = await raw_post(
        f"{world.http_url}/v1/aed/itmatt", b"{}", key=partner.key,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 415
    assert problem["status"] == 415


async def test_errors_carry_code_line_and_path_in_the_receipt(world: World) -> None:
    cn = await world.client("cn-china-post")
    answer = await cn.submit_itmatt(document("CNA-10", "CNA", items(6, "CN", seed=12, bad_every=3)))
    rejected = [i for i in answer.json()["items"] if i["status"] == "REJECTED"]
    assert len(rejected) == 2
    for item in rejected:
        finding = item["findings"][0]
        assert finding["line"] >= item["line"] > 0
        assert finding["path"].startswith("/message/msgbody/itmatt_1_5_0/item[")


async def test_operations_endpoints_report_health_readiness_and_metrics(world: World) -> None:
    gb = await world.client("gb-royal-mail")
    await gb.submit_itmatt(document("GBA-11", "GBA", items(6, "GB", seed=13, bad_every=3)))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{world.http_url}/healthz") as r:
            assert (r.status, await r.json()) == (200, {"status": "up"})
        async with session.get(f"{world.http_url}/readyz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ready"})
        async with session.get(f"{world.http_url}/metrics") as r:
            text = await r.text()
        async with session.get(f"{world.http_url}/.well-known/jwks.json") as r:
            jwks = json.loads(await r.read())
    assert 'aedgw_items_total{outcome="accepted",partner="gb-royal-mail"} 4.0' in text
    assert 'aedgw_findings_total{code="S10_CHECK_DIGIT",severity="error"} 1.0' in text
    assert (
        'aedgw_http_requests_total{partner="gb-royal-mail",route="/v1/aed/itmatt",status="202"}'
        in text
    )
    for stage in ("parse", "validate", "translate", "sign", "commit"):
        assert f'aedgw_stage_seconds_count{{stage="{stage}"}}' in text, stage
    assert "aedgw_feed_lag_records" in text
    assert [k["kty"] for k in jwks["keys"]] == ["OKP"]
    assert jwks["keys"][0]["kid"] == world.running.keyring.active.keyid


async def test_a_store_outage_is_503_with_retry_after_and_nothing_half_stored(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world.running.store
    position = await store.last_position()

    async def broken(*_: object, **__: object) -> None:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(store, "commit_message", broken)
    monkeypatch.setattr(store, "ping", broken)
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(document("GBA-OUT-1", "GBA", items(3, "GB", seed=21)))
    assert answer.status == 503, answer.body
    assert answer.headers["Retry-After"].isdigit()
    assert answer.json()["type"].endswith("/store-unavailable")
    async with aiohttp.ClientSession() as session, session.get(f"{world.http_url}/readyz") as r:
        assert r.status == 503
        assert (await r.json())["status"] == "not ready"

    monkeypatch.undo()  # the store is back: the same message goes through, once
    again = await gb.submit_itmatt(document("GBA-OUT-1", "GBA", items(3, "GB", seed=21)))
    assert again.status == 202, again.body
    journal = await store.read_journal(position, 100)
    assert [row.entry.message_id for row in journal] == ["GBA-OUT-1"] * 3


async def test_a_partner_over_its_rate_limit_gets_429_with_retry_after(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    root, partners = partners_dir
    toml = root / "gb-royal-mail" / "partner.toml"
    toml.write_text(toml.read_text().replace("[[keys]]", "rate_per_s = 0.5\nburst = 2\n\n[[keys]]"))
    world = World(make_settings(tmp_path, root), partners)
    await world.start()
    try:
        gb = await world.client("gb-royal-mail")
        statuses = [
            (await gb.submit_itmatt(document(f"GBA-R{i}", "GBA", items(1, "GB", seed=50 + i))))
            for i in range(3)
        ]
        assert [a.status for a in statuses] == [202, 202, 429]
        assert int(statuses[2].headers["Retry-After"]) >= 1
        cn = await world.client("cn-china-post")  # another partner is not affected
        other = await cn.submit_itmatt(document("CNA-R1", "CNA", items(1, "CN", seed=60)))
        assert other.status == 202
    finally:
        for session in world.sessions:
            await session.close()
        await world.stop()
