"""Consumer authentication end to end: a real gateway serving gRPC over mTLS on loopback.

The CAs, the server certificate and every client certificate are made here, per test run, with
`cryptography`; no private key is ever committed. Partners submit signed ITMATT over HTTP; each
consumer connects with its own client certificate and must see exactly its routed records.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from gateway.adapters.grpc.client import consume, get_declaration, list_keys, using_tls
from gateway.adapters.grpc.tls import ClientTls
from gateway.config import GrpcSettings
from gateway.entrypoints.cli import main as cli_main
from tests.e2e.conftest import CONSUMERS, PartnerKit, World, make_settings
from tests.e2e.helpers import document, drain, items
from tests.unit.grpc_fakes import Issued, TestCa

pytestmark = pytest.mark.slow

CERT_NAMES = {"targeting": "targeting.agency.internal", "china-desk": "spiffe://agency/china"}


@dataclass
class Pki:
    folder: Path
    server_ca: TestCa
    consumer_ca: TestCa

    def client(self, issued: Issued) -> ClientTls:
        return ClientTls(ca=self.server_ca.pem, cert=issued.cert, key=issued.key)

    def files(self, issued: Issued, name: str) -> list[str]:
        """`gateway consume` options for this certificate."""
        cert, key = issued.write(self.folder / "clients", name)
        ca = self.folder / "server-ca.pem"
        ca.write_bytes(self.server_ca.pem)
        return ["--cert", str(cert), "--key", str(key), "--ca", str(ca)]


@dataclass
class Secured:
    world: World
    pki: Pki
    certs: dict[str, Issued]  # consumer -> its client certificate

    def tls(self, consumer: str) -> ClientTls:
        return self.pki.client(self.certs[consumer])


@pytest.fixture
async def secured(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[Secured]:
    root, partners = partners_dir
    pki = Pki(tmp_path / "pki", TestCa("test server CA"), TestCa("test consumer CA"))
    cert, key = pki.server_ca.server().write(pki.folder, "server")
    client_ca = pki.folder / "consumer-ca.pem"
    client_ca.write_bytes(pki.consumer_ca.pem)
    grpc_settings = GrpcSettings(
        listen="127.0.0.1:0",
        max_in_flight=50,
        tls_cert=cert,
        tls_key=key,
        client_ca=client_ca,
        client_cert_names=CERT_NAMES,
    )
    certs = {
        "targeting": pki.consumer_ca.issue("Targeting", dns=("targeting.agency.internal",)),
        "china-desk": pki.consumer_ca.issue("China desk", uris=("spiffe://agency/china",)),
        "apparel": pki.consumer_ca.issue("apparel"),  # no client_cert_name: the CN
        "analytics": pki.consumer_ca.issue("analytics"),
    }
    world = World(make_settings(tmp_path, root, grpc=grpc_settings), partners)
    await world.start()
    try:
        yield Secured(world, pki, certs)
    finally:
        await world.stop()


async def submit_both(world: World) -> None:
    gb = await world.client("gb-royal-mail")
    cn = await world.client("cn-china-post")
    a = await gb.submit_itmatt(document("GBA-1", "GBA", items(20, "GB", seed=11)))
    b = await cn.submit_itmatt(document("CNA-1", "CNA", items(20, "CN", seed=12)))
    assert (a.status, b.status) == (202, 202)


async def test_each_consumer_with_its_certificate_receives_exactly_its_routed_records(
    secured: Secured,
) -> None:
    world = secured.world
    await submit_both(world)
    journal = await world.running.store.read_journal(0, 1000)
    for consumer in CONSUMERS:
        with using_tls(secured.tls(consumer.name)):  # keys and feed over mTLS
            result = await drain(world.grpc_target, consumer.name)
        expected = [r.entry.record_id for r in journal if consumer.rule.matches(r.entry)]
        assert expected, consumer.name
        assert result.record_ids == expected, consumer.name
        assert (result.verified, result.failed) == (len(expected), 0)
        assert await world.running.store.get_cursor(consumer.name) == max(
            r.position for r in journal if consumer.rule.matches(r.entry)
        )


async def consume_as(target: str, consumer: str, tls: ClientTls | None) -> int:
    return await asyncio.wait_for(
        consume(target, consumer, on_record=lambda _: None, idle_timeout=1.0, tls=tls), 30
    )


async def test_refused_clients_get_nothing_and_move_no_cursor(secured: Secured) -> None:
    world, pki = secured.world, secured.pki
    await submit_both(world)
    target = world.grpc_target
    expired = pki.consumer_ca.issue("analytics", valid_days=(-10, -1))
    rogue = TestCa("test consumer CA").issue("analytics")  # same CA name, another key
    refused: dict[str, ClientTls | None] = {
        "no certificate (plaintext)": None,
        "no client certificate (TLS)": ClientTls(pki.server_ca.pem, b"", b""),
        "expired certificate": pki.client(expired),
        "certificate from another CA": pki.client(rogue),
    }
    for why, tls in refused.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await consume_as(target, "analytics", tls)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, why
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # targeting's certificate, as analytics
        await consume_as(target, "analytics", secured.tls("targeting"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await world.running.store.get_cursor("analytics") == 0


async def test_lookup_of_a_record_not_routed_to_the_caller_is_not_found(
    secured: Secured,
) -> None:
    world = secured.world
    await submit_both(world)
    journal = await world.running.store.read_journal(0, 1000)
    china = next(r.entry for r in journal if r.entry.partner == "cn-china-post")
    british = next(r.entry for r in journal if r.entry.partner == "gb-royal-mail")
    target, desk = world.grpc_target, secured.tls("china-desk")
    found = await get_declaration(target, china.item_id, partner=china.partner, tls=desk)
    assert found is not None
    assert found.latest.record_id == china.record_id
    # gb-royal-mail's item exists, but is not routed to china-desk: the same answer as unknown
    assert await get_declaration(target, british.item_id, partner=british.partner, tls=desk) is None
    assert await get_declaration(target, "RB999999999GB", tls=desk) is None
    everything = await get_declaration(
        target, british.item_id, partner=british.partner, tls=secured.tls("analytics")
    )
    assert everything is not None
    assert len(await list_keys(target, tls=desk)) >= 1


async def test_gateway_consume_connects_with_cert_key_and_ca(
    secured: Secured, capsys: pytest.CaptureFixture[str]
) -> None:
    world, pki = secured.world, secured.pki
    await submit_both(world)
    journal = await world.running.store.read_journal(0, 1000)
    expected = [r.entry.record_id for r in journal if r.entry.partner == "cn-china-post"]
    argv = ["consume", "--consumer", "china-desk", "--target", world.grpc_target, "--idle", "1"]
    argv += pki.files(secured.certs["china-desk"], "china-desk")
    code = await asyncio.to_thread(cli_main, argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [json.loads(line)["recordId"] for line in out.splitlines()] == expected
    assert f"{len(expected)} records, {len(expected)} verified, 0 failed" in err
    other = ["consume", "--consumer", "analytics", "--target", world.grpc_target, "--idle", "1"]
    other += pki.files(secured.certs["china-desk"], "china-desk")
    assert await asyncio.to_thread(cli_main, other) == 1
    assert "consume failed: PERMISSION_DENIED" in capsys.readouterr().err
