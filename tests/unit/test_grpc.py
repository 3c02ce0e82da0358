"""The assembled gRPC server (lookup, keys, health, reflection, error mapping) and the client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.adapters.grpc.client import (
    client_tls,
    consume,
    get_declaration,
    list_keys,
    open_channel,
    using_tls,
)
from gateway.adapters.grpc.keys import PublicKeyInfo
from gateway.adapters.grpc.server import (
    GATEWAY_SERVICES,
    HEALTH_SERVICE,
    GrpcStore,
    build_grpc_server,
)
from gateway.adapters.grpc.status import status_code
from gateway.adapters.grpc.tls import (
    ClientTls,
    ServerTls,
    certificate_names,
    is_loopback,
    load_server_tls,
)
from gateway.config import load_settings
from gateway.domain.journal import JournalEntry, JournalRow, StoredMessage
from gateway.domain.notify import JournalNotifier
from gateway.domain.routing import Consumer, RoutingRule
from gateway.entrypoints.cli import main as cli_main
from gateway.errors import (
    AuthError,
    ConfigError,
    DuplicateMessage,
    GatewayError,
    InputError,
    MessageConflict,
    NotFound,
    Overloaded,
    SignatureError,
    StoreError,
)
from gateway.ports import Store
from gateway.wire import feed_pb2, feed_pb2_grpc
from tests.unit.grpc_fakes import FakeStore, Issued, TestCa, make_entry

GUARD = 10.0  # seconds: only a hang guard, never a measure of speed
ITEM = "RB000000042GB"
KEYS = (
    PublicKeyInfo("gw-2025", "ed25519", b"\x01" * 32, None, datetime(2026, 1, 31, tzinfo=UTC)),
    PublicKeyInfo("gw-2026", "ed25519", b"\x02" * 32, datetime(2026, 1, 1, tzinfo=UTC), None, True),
)
EVERYTHING = Consumer("everything", RoutingRule())


class UnavailableStore(FakeStore):
    async def item_history(self, item_id: str, partner: str | None = None) -> list[JournalRow]:
        raise StoreError("the journal cannot be reached")


@dataclass
class Gateway:
    target: str
    store: FakeStore
    notifier: JournalNotifier


async def serve(store: FakeStore, *, max_in_flight: int = 1000) -> AsyncIterator[Gateway]:
    notifier = JournalNotifier()
    server, port = await build_grpc_server(
        store=store,
        consumers=[EVERYTHING],
        notifier=notifier,
        public_keys=lambda: KEYS,
        listen="127.0.0.1:0",
        max_in_flight=max_in_flight,
    )
    await server.start()
    try:
        yield Gateway(f"127.0.0.1:{port}", store, notifier)
    finally:
        notifier.close()
        await server.stop(grace=None)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async for running in serve(FakeStore()):
        yield running


@pytest.fixture
async def narrow_gateway() -> AsyncIterator[Gateway]:
    """A gateway allowing only two records in flight."""
    async for running in serve(FakeStore(), max_in_flight=2):
        yield running


def grpc_store_of(store: Store) -> GrpcStore:
    """Type-checked by mypy: every gateway Store serves the gRPC adapter."""
    return store


def test_the_fake_store_is_what_the_grpc_services_need() -> None:
    store: GrpcStore = FakeStore()
    assert grpc_store_of is not None
    assert store is not None


async def test_lookup_returns_latest_and_history_oldest_first(gateway: Gateway) -> None:
    gateway.store.append(
        make_entry(1, item_id=ITEM, version=1),
        make_entry(2),
        make_entry(3, item_id=ITEM, version=2),
        make_entry(4, item_id=ITEM, partner="nz-post"),
    )
    mine = await get_declaration(gateway.target, ITEM, partner="gb-royal-mail")
    everyone = await get_declaration(gateway.target, ITEM)
    assert mine is not None
    assert everyone is not None
    assert [(r.position, r.version) for r in mine.history] == [(1, 1), (3, 2)]
    assert (mine.latest.position, mine.latest.version, mine.latest.item_id) == (3, 2, ITEM)
    assert mine.latest.envelope.payload == b"decl-3"
    assert [r.position for r in everyone.history] == [1, 3, 4]


async def test_lookup_of_an_unknown_item_is_not_found(gateway: Gateway) -> None:
    gateway.store.append(make_entry(1))
    assert await get_declaration(gateway.target, "RB999999999GB") is None
    assert await get_declaration(gateway.target, ITEM, partner="nobody") is None


async def test_lookup_without_item_id_is_invalid(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = feed_pb2_grpc.DeclarationsStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Get(feed_pb2.GetDeclarationRequest(), timeout=GUARD)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_store_errors_are_unavailable_and_marked_retriable() -> None:
    async for running in serve(UnavailableStore()):
        async with grpc.aio.insecure_channel(running.target) as channel:
            stub = feed_pb2_grpc.DeclarationsStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Get(feed_pb2.GetDeclarationRequest(item_id=ITEM), timeout=GUARD)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ("retriable", "true") in tuple(caught.value.trailing_metadata() or ())


async def test_keys_lists_the_published_keys(gateway: Gateway) -> None:
    keys = await list_keys(gateway.target)
    assert [(k.kid, k.alg, k.public_key, k.active) for k in keys] == [
        ("gw-2025", "ed25519", b"\x01" * 32, False),
        ("gw-2026", "ed25519", b"\x02" * 32, True),
    ]
    assert (keys[0].not_before, keys[0].not_after) == ("", "2026-01-31T00:00:00Z")
    assert (keys[1].not_before, keys[1].not_after) == ("2026-01-01T00:00:00Z", "")


async def test_health_reports_serving_for_the_server_and_each_service(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", *GATEWAY_SERVICES):
            request = health_pb2.HealthCheckRequest(service=service)
            response = await stub.Check(request, timeout=GUARD)
            assert response.status == health_pb2.HealthCheckResponse.SERVING, service


async def test_reflection_lists_the_services(gateway: Gateway) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async with grpc.aio.insecure_channel(gateway.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        async with asyncio.timeout(GUARD):
            responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert names >= {"aedgw.v1.Feed", "aedgw.v1.Declarations", "aedgw.v1.Keys", HEALTH_SERVICE}


async def test_client_acknowledges_after_processing(gateway: Gateway) -> None:
    gateway.store.append(*(make_entry(n) for n in range(1, 11)))
    seen: list[str] = []

    async def on_record(record: feed_pb2.FeedRecord) -> None:
        await asyncio.sleep(0)
        seen.append(record.record_id)

    count = await asyncio.wait_for(
        consume(gateway.target, EVERYTHING.name, on_record=on_record, ack_every=3, max_records=8),
        GUARD,
    )
    assert count == 8
    assert seen == [row.entry.record_id for row in gateway.store.rows[:8]]
    assert gateway.store.cursors[EVERYTHING.name] == 8


async def test_client_acks_partial_batches_so_a_small_window_never_stalls(
    narrow_gateway: Gateway,
) -> None:
    narrow_gateway.store.append(*(make_entry(n) for n in range(1, 8)))
    count = await asyncio.wait_for(
        consume(
            narrow_gateway.target,
            EVERYTHING.name,
            on_record=lambda _: None,
            ack_every=100,
            max_records=7,
        ),
        GUARD,
    )
    assert count == 7


async def test_client_stops_on_the_stop_event_and_when_idle(gateway: Gateway) -> None:
    stop = asyncio.Event()
    stop.set()
    assert (
        await asyncio.wait_for(
            consume(gateway.target, EVERYTHING.name, on_record=lambda _: None, stop=stop), GUARD
        )
        == 0
    )
    assert (
        await asyncio.wait_for(
            consume(gateway.target, EVERYTHING.name, on_record=lambda _: None, idle_timeout=0.01),
            GUARD,
        )
        == 0
    )


async def test_client_sees_an_unknown_consumer_as_not_found(gateway: Gateway) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(consume(gateway.target, "nobody", on_record=print), GUARD)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_build_refuses_an_address_it_cannot_bind() -> None:
    with pytest.raises(ConfigError, match=r"grpc\.listen: cannot bind"):
        await build_grpc_server(
            store=FakeStore(),
            consumers=[],
            notifier=JournalNotifier(),
            public_keys=lambda: (),
            listen="256.0.0.1:1",
            insecure=True,
        )


STORED = StoredMessage("gb-royal-mail", "M-1", "sha-256=:x:", 202, b"{}")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StoreError("down"), grpc.StatusCode.UNAVAILABLE),
        (DuplicateMessage(STORED), grpc.StatusCode.ALREADY_EXISTS),
        (InputError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (MessageConflict("gb-royal-mail", "M-1"), grpc.StatusCode.ALREADY_EXISTS),
        (AuthError("no"), grpc.StatusCode.PERMISSION_DENIED),
        (SignatureError("stale", "too old"), grpc.StatusCode.UNAUTHENTICATED),
        (Overloaded(), grpc.StatusCode.UNAVAILABLE),
        (ConfigError("f", "k", "p"), grpc.StatusCode.FAILED_PRECONDITION),
        (NotFound("item", ITEM), grpc.StatusCode.NOT_FOUND),
        (GatewayError("?"), grpc.StatusCode.INTERNAL),
    ],
)
def test_errors_map_to_their_most_specific_status(error: GatewayError, code: object) -> None:
    assert status_code(error) == code


async def test_notifier_wakes_a_waiter_beyond_its_position() -> None:
    notifier = JournalNotifier()
    waiter = asyncio.create_task(notifier.wait_beyond(5, timeout=GUARD))
    await asyncio.sleep(0)
    notifier.notify(5)  # not beyond: the waiter keeps waiting
    notifier.notify(6)
    assert await waiter is True
    assert await notifier.wait_beyond(5) is True  # already beyond: returns at once


async def test_notifier_times_out_and_close_releases_everyone() -> None:
    notifier = JournalNotifier()
    assert await notifier.wait_beyond(0, timeout=0) is False
    waiter = asyncio.create_task(notifier.wait_beyond(0))
    closed = asyncio.create_task(notifier.wait_closed())
    await asyncio.sleep(0)
    notifier.close()
    assert await asyncio.wait_for(waiter, GUARD) is False
    await asyncio.wait_for(closed, GUARD)
    assert await notifier.wait_beyond(0) is False


# --- consumer authentication: real mTLS on loopback, certificates made here ------------------

TARGETING = Consumer("targeting", RoutingRule(categories=frozenset({"SALE_OF_GOODS"})))
GIFTS = Consumer("gifts", RoutingRule(categories=frozenset({"GIFT"})))
PGA = Consumer("pga", RoutingRule(partners=frozenset({"cn-china-post"})))
CERT_NAMES = {"targeting": "targeting.internal", "pga": "spiffe://agency.example/pga"}
# gifts has no client_cert_name: its certificate's CN "gifts" identifies it


@dataclass
class Pki:
    server_ca: TestCa  # issues the gateway's server certificate
    consumer_ca: TestCa  # issues the consumers' client certificates ([grpc] client_ca)
    server: Issued

    def client(self, issued: Issued) -> ClientTls:
        return ClientTls(ca=self.server_ca.pem, cert=issued.cert, key=issued.key)


@dataclass
class TlsGateway:
    target: str
    store: FakeStore
    pki: Pki
    targeting: ClientTls  # DNS SAN targeting.internal
    gifts: ClientTls  # CN gifts, no SAN
    pga: ClientTls  # URI SAN spiffe://agency.example/pga


@pytest.fixture(scope="module")
def pki() -> Pki:
    server_ca = TestCa("AEDGW test server CA")
    return Pki(server_ca, TestCa("AEDGW test consumer CA"), server_ca.server())


@pytest.fixture
async def tls_gateway(pki: Pki) -> AsyncIterator[TlsGateway]:
    store = FakeStore()
    notifier = JournalNotifier()
    server, port = await build_grpc_server(
        store=store,
        consumers=[TARGETING, GIFTS, PGA],
        notifier=notifier,
        public_keys=lambda: KEYS,
        listen="127.0.0.1:0",
        tls=ServerTls(pki.server.cert, pki.server.key, pki.consumer_ca.pem),
        client_cert_names=CERT_NAMES,
    )
    await server.start()
    ca = pki.consumer_ca
    try:
        yield TlsGateway(
            f"127.0.0.1:{port}",
            store,
            pki,
            pki.client(ca.issue("Targeting unit", dns=("targeting.internal",))),
            pki.client(ca.issue("gifts")),
            pki.client(ca.issue("PGA", uris=("spiffe://agency.example/pga",))),
        )
    finally:
        notifier.close()
        await server.stop(grace=None)


def mixed_entries() -> list[JournalEntry]:
    return [
        make_entry(1, category="SALE_OF_GOODS"),
        make_entry(2, category="GIFT"),
        make_entry(3, category="SALE_OF_GOODS", partner="cn-china-post", origins=("CN",)),
        make_entry(4, category="DOCUMENTS"),
        make_entry(5, category="GIFT", partner="cn-china-post", origins=("CN",)),
        make_entry(6, category="SALE_OF_GOODS"),
    ]


async def received(target: str, consumer: str, tls: ClientTls | None) -> list[int]:
    positions: list[int] = []
    await asyncio.wait_for(
        consume(
            target,
            consumer,
            on_record=lambda r: positions.append(r.position),
            idle_timeout=0.3,
            tls=tls,
        ),
        GUARD,
    )
    return positions


async def rpc_code(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(call, GUARD)
    code: grpc.StatusCode = caught.value.code()
    return code


async def test_mtls_each_consumer_receives_exactly_its_routed_records(
    tls_gateway: TlsGateway,
) -> None:
    gw = tls_gateway
    gw.store.append(*mixed_entries())
    assert await received(gw.target, "targeting", gw.targeting) == [1, 3, 6]
    assert await received(gw.target, "gifts", gw.gifts) == [2, 5]
    assert await received(gw.target, "pga", gw.pga) == [3, 5]
    assert gw.store.cursors == {"targeting": 6, "gifts": 5, "pga": 5}
    keys = await list_keys(gw.target, tls=gw.gifts)
    assert [k.kid for k in keys] == ["gw-2025", "gw-2026"]


async def test_mtls_an_empty_consumer_name_means_the_certificate_s_own(
    tls_gateway: TlsGateway,
) -> None:
    tls_gateway.store.append(*mixed_entries())
    assert await received(tls_gateway.target, "", tls_gateway.gifts) == [2, 5]


async def test_mtls_subscribing_as_another_consumer_is_permission_denied(
    tls_gateway: TlsGateway,
) -> None:
    gw = tls_gateway
    gw.store.append(*mixed_entries())
    for name in ("gifts", "nobody"):  # an unknown name is not revealed as NOT_FOUND either
        code = await rpc_code(consume(gw.target, name, on_record=print, tls=gw.targeting))
        assert code == grpc.StatusCode.PERMISSION_DENIED, name
    assert gw.store.cursors == {}


async def test_mtls_a_certificate_naming_no_consumer_is_permission_denied(
    tls_gateway: TlsGateway,
) -> None:
    gw = tls_gateway
    gw.store.append(*mixed_entries())
    # the CN "targeting" is a consumer's *name*, but targeting is identified as targeting.internal
    stranger = gw.pki.client(gw.pki.consumer_ca.issue("targeting", dns=("other.internal",)))
    for call in (
        consume(gw.target, "targeting", on_record=print, tls=stranger),
        list_keys(gw.target, tls=stranger),
        get_declaration(gw.target, "RB000000001GB", tls=stranger),
    ):
        assert await rpc_code(call) == grpc.StatusCode.PERMISSION_DENIED


async def test_mtls_a_client_without_a_certificate_is_refused(tls_gateway: TlsGateway) -> None:
    gw = tls_gateway
    server_only = grpc.ssl_channel_credentials(root_certificates=gw.pki.server_ca.pem)
    async with grpc.aio.secure_channel(gw.target, server_only) as channel:
        stub = feed_pb2_grpc.KeysStub(channel)
        code = await rpc_code(stub.List(feed_pb2.ListKeysRequest(), timeout=GUARD))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert await rpc_code(list_keys(gw.target)) == grpc.StatusCode.UNAVAILABLE  # plaintext


async def test_mtls_a_certificate_from_another_ca_is_refused(tls_gateway: TlsGateway) -> None:
    gw = tls_gateway
    gw.store.append(*mixed_entries())
    rogue_ca = TestCa("AEDGW test consumer CA")  # same name, other key
    rogue = gw.pki.client(rogue_ca.issue("Targeting unit", dns=("targeting.internal",)))
    code = await rpc_code(consume(gw.target, "targeting", on_record=print, tls=rogue))
    assert code == grpc.StatusCode.UNAVAILABLE
    # the server certificate's CA cannot issue client certificates either
    by_server_ca = gw.pki.client(gw.pki.server_ca.issue("x", dns=("targeting.internal",)))
    assert await rpc_code(list_keys(gw.target, tls=by_server_ca)) == grpc.StatusCode.UNAVAILABLE
    assert gw.store.cursors == {}


@pytest.mark.parametrize("valid_days", [(-30, -1), (1, 30)], ids=["expired", "not-yet-valid"])
async def test_mtls_an_expired_or_not_yet_valid_certificate_is_refused(
    tls_gateway: TlsGateway, valid_days: tuple[int, int]
) -> None:
    gw = tls_gateway
    issued = gw.pki.consumer_ca.issue("gifts", valid_days=valid_days)
    code = await rpc_code(consume(gw.target, "gifts", on_record=print, tls=gw.pki.client(issued)))
    assert code == grpc.StatusCode.UNAVAILABLE


async def test_mtls_lookup_returns_only_versions_routed_to_the_caller(
    tls_gateway: TlsGateway,
) -> None:
    gw = tls_gateway
    gw.store.append(
        make_entry(1, item_id=ITEM, version=1, category="SALE_OF_GOODS"),
        make_entry(2, item_id=ITEM, version=2, category="GIFT"),
        make_entry(3, item_id=ITEM, version=3, category="SALE_OF_GOODS"),
    )
    targeting = await get_declaration(gw.target, ITEM, tls=gw.targeting)
    gifts = await get_declaration(gw.target, ITEM, tls=gw.gifts)
    assert targeting is not None
    assert gifts is not None
    assert [r.version for r in targeting.history] == [1, 3]
    assert targeting.latest.version == 3
    assert [r.version for r in gifts.history] == [2]
    assert gifts.latest.version == 2
    # routed to nobody it may see: NOT_FOUND, the same answer as for an unknown item
    assert await get_declaration(gw.target, ITEM, tls=gw.pga) is None
    assert await get_declaration(gw.target, "RB999999999GB", tls=gw.pga) is None


async def test_mtls_health_needs_only_the_handshake(tls_gateway: TlsGateway) -> None:
    gw = tls_gateway
    anyone = gw.pki.client(gw.pki.consumer_ca.issue("monitoring"))
    async with open_channel(gw.target, anyone) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=GUARD
        )
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_the_client_uses_the_context_s_tls_when_none_is_given(
    tls_gateway: TlsGateway,
) -> None:
    with using_tls(tls_gateway.gifts):
        keys = await list_keys(tls_gateway.target)
    assert len(keys) == 2
    assert client_tls.get() is None


async def test_plaintext_is_refused_on_a_non_loopback_address_unless_insecure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    common = {
        "store": FakeStore(),
        "consumers": [EVERYTHING],
        "notifier": JournalNotifier(),
        "public_keys": lambda: (),
    }
    with pytest.raises(ConfigError, match=r"grpc\.listen: '0\.0\.0\.0:0' is not a loopback"):
        await build_grpc_server(**common, listen="0.0.0.0:0")  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, "gateway.adapters.grpc.server")
    server, _ = await build_grpc_server(**common, listen="[::1]:0")  # type: ignore[arg-type]
    await server.stop(None)
    assert "consumer identity is NOT authenticated" in caplog.text
    with pytest.raises(ConfigError, match="cannot bind"):  # insecure: past the check, to bind
        await build_grpc_server(**common, listen="256.0.0.1:1", insecure=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:1", True),
        ("127.8.9.1:1", True),
        ("[::1]:1", True),
        ("localhost:1", True),
        ("0.0.0.0:1", False),
        ("[::]:1", False),
        ("10.1.2.3:1", False),
        ("gateway.internal:1", False),
    ],
)
def test_is_loopback(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback


def test_certificate_names_are_the_cn_and_dns_and_uri_alternative_names(pki: Pki) -> None:
    issued = pki.consumer_ca.issue(
        "Targeting", dns=("targeting.internal",), uris=("spiffe://a/t",), ips=("10.0.0.1",)
    )
    assert certificate_names(issued.cert) == {"Targeting", "targeting.internal", "spiffe://a/t"}


def test_server_tls_is_checked_naming_the_key_at_fault(pki: Pki, tmp_path: Path) -> None:
    cert, key = pki.server.write(tmp_path, "server")
    other_cert, other_key = pki.consumer_ca.issue("x").write(tmp_path, "other")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.consumer_ca.pem)
    assert load_server_tls(cert, key, ca).client_ca == pki.consumer_ca.pem
    with pytest.raises(ConfigError, match=r"grpc\.tls_key: .* is not the private key"):
        load_server_tls(cert, other_key, ca)
    with pytest.raises(ConfigError, match=r"grpc\.client_ca: .* not a CA"):
        load_server_tls(cert, key, other_cert)
    with pytest.raises(ConfigError, match=r"grpc\.tls_cert: cannot read"):
        load_server_tls(tmp_path / "missing.pem", key, ca)
    with pytest.raises(ConfigError, match=r"grpc\.tls_key: .* not an unencrypted PEM"):
        load_server_tls(cert, cert, ca)
    with pytest.raises(ConfigError, match=r"grpc\.client_ca: .* no PEM certificate"):
        load_server_tls(cert, key, key)


# --- configuration: [grpc] TLS keys and [[consumers]] client_cert_name -----------------------


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_reads_grpc_tls_and_client_cert_names(pki: Pki, tmp_path: Path) -> None:
    pki.server.write(tmp_path / "tls", "server")
    (tmp_path / "tls" / "consumer-ca.pem").write_bytes(pki.consumer_ca.pem)
    path = write_config(
        tmp_path,
        '[grpc]\nlisten = "0.0.0.0:50051"\ntls_cert = "tls/server.crt"\n'
        'tls_key = "tls/server.key"\nclient_ca = "tls/consumer-ca.pem"\n\n'
        '[[consumers]]\nname = "targeting"\nclient_cert_name = "targeting.internal"\n\n'
        '[[consumers]]\nname = "analytics"\n',
    )
    grpc_settings = load_settings(path).grpc
    assert grpc_settings.tls_cert == tmp_path / "tls" / "server.crt"
    assert grpc_settings.client_ca == tmp_path / "tls" / "consumer-ca.pem"
    assert grpc_settings.insecure is False
    assert grpc_settings.client_cert_names == {
        "targeting": "targeting.internal",
        "analytics": "analytics",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[grpc]\ntls_cert = "a.crt"\ntls_key = "a.key"\n',
            r"grpc\.client_ca: tls_cert, tls_key and client_ca go together .*fix: set client_ca",
        ),
        (
            '[grpc]\ntls_cert = "a.crt"\ntls_key = "a.key"\nclient_ca = "ca.pem"\n',
            r"grpc\.tls_cert: cannot read .*a\.crt",
        ),
        (
            '[grpc]\nlisten = "0.0.0.0:50051"\n',
            r"grpc\.listen: '0\.0\.0\.0:50051' is not a loopback address .*fix: set tls_cert",
        ),
        ('[grpc]\ninsecure = "yes"\n', r"grpc\.insecure: must be a bool"),
        (
            (
                '[[consumers]]\nname = "a"\nclient_cert_name = "x.internal"\n\n'
                '[[consumers]]\nname = "b"\nclient_cert_name = "x.internal"\n'
            ),
            r"consumers\[1\]\.client_cert_name: 'x\.internal' already identifies consumer 'a'",
        ),
        (
            '[[consumers]]\nname = "a"\nclient_cert_name = ""\n',
            r"consumers\[0\]\.client_cert_name: '' is not a certificate name",
        ),
    ],
)
def test_config_refuses_bad_grpc_security_naming_file_key_and_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(path)
    assert caught.value.file == str(path)


def test_config_allows_plaintext_elsewhere_only_when_insecure(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[grpc]\nlisten = "0.0.0.0:50051"\ninsecure = true\n')
    assert load_settings(path).grpc.insecure is True


def test_consume_needs_cert_key_and_ca_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = cli_main(["consume", "--consumer", "gifts", "--cert", str(tmp_path / "c.pem")])
    assert code == 2
    assert "--key: --cert, --key and --ca go together" in capsys.readouterr().err
