"""Arrivals end to end: a real gateway on a frozen clock, real ITMATT over signed HTTP, arrivals
over real gRPC, NO_AED records received and verified (with the published JWKS) by real feed
consumers, AED coverage read back from the store, the metrics and the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.adapters.crypto.jwk import keys_from_jwks
from gateway.adapters.crypto.keys import VerificationKey
from gateway.adapters.grpc.client import report_arrivals
from gateway.domain.arrivals import Coverage
from gateway.domain.decisions import no_aed_event_id
from gateway.domain.routing import Consumer, RoutingRule
from gateway.entrypoints.cli import main
from gateway.formats.itmatt.samples import valid_s10
from gateway.wire import decisions_pb2 as pb
from gateway.wire import feed_pb2
from gateway.wire.decisions_pb2 import NoAedRecord
from tests.clocks import FrozenClock
from tests.e2e.conftest import PartnerKit, World, make_settings
from tests.e2e.helpers import document, drain, items

pytestmark = pytest.mark.slow

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday of 2026-W49
GB, CN = "gb-royal-mail", "cn-china-post"
CONSUMERS = (
    Consumer(
        "domestic-post", RoutingRule(origin_countries=frozenset({"JP"})), may_report_arrivals=True
    ),
    Consumer("gb-desk", RoutingRule(origin_countries=frozenset({"GB"}))),
    Consumer("china-desk", RoutingRule(partners=frozenset({CN}))),
    Consumer("analytics", RoutingRule()),
)


@pytest.fixture
async def world(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    root, partners = partners_dir
    settings = make_settings(tmp_path, root, consumers=CONSUMERS)
    w = World(settings, partners, clock=FrozenClock(T0))
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


def arrival(item_id: str, at: datetime | None, office: str = "USJFKA") -> pb.Arrival:
    if at is None:
        return pb.Arrival(item_id=item_id, office=office)
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return pb.Arrival(item_id=item_id, arrived_at=stamp, office=office)


def report(consumer: str, *arrivals: pb.Arrival) -> pb.ReportArrivalsRequest:
    return pb.ReportArrivalsRequest(consumer=consumer, arrivals=arrivals)


async def _submit(world: World, partner: str, code: str, message_id: str, ids: list) -> None:  # type: ignore[type-arg]
    client = await world.client(partner)
    answer = await client.submit_itmatt(document(message_id, code, ids))
    assert answer.status == 202, answer.json()
    assert {i["status"] for i in answer.json()["items"]} == {"ACCEPTED"}


async def _refusal(world: World, request: pb.ReportArrivalsRequest) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await report_arrivals(world.grpc_target, request)
    return caught.value.code()


async def _jwks(world: World) -> dict[str, VerificationKey]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.http_url}/.well-known/jwks.json") as response,
    ):
        return keys_from_jwks(await response.json(content_type=None))


async def _no_aed_received(
    world: World, consumer: str, keys: dict[str, VerificationKey]
) -> dict[str, NoAedRecord]:
    got: dict[str, NoAedRecord] = {}

    def keep(record: feed_pb2.FeedRecord, payload: object) -> None:
        assert record.kind == feed_pb2.NO_AED
        assert isinstance(payload, NoAedRecord)
        assert record.record_id == payload.event_id
        got[payload.event_id] = payload

    seen = await drain(world.grpc_target, consumer, keys=keys, on_event=keep, idle=0.5)
    assert seen.failed == 0
    return got


async def test_arrivals_make_exact_no_aed_events_coverage_and_metrics(
    world: World, tmp_path: Path
) -> None:
    clock = world.clock
    assert isinstance(clock, FrozenClock)
    gb = items(6, "GB", seed=21)
    await _submit(world, GB, "GBA", "GBA-A1", gb)  # received at T0
    clock.advance(hours=1)
    cn = items(3, "CN", seed=22)
    await _submit(world, CN, "CNA", "CNA-A1", cn)  # received at T0 + 1 h
    clock.set(T0 + timedelta(hours=6))
    g, c = [s.item_id for s in gb], [s.item_id for s in cn]
    undeclared_gb, undeclared_fr = valid_s10("LX", 12345678, "GB"), valid_s10("LX", 7654321, "FR")

    first = report(
        "domestic-post",
        arrival(g[0], T0 + timedelta(hours=2)),  # with AED, lead 2 h
        arrival(g[1], T0 + timedelta(hours=4)),  # with AED, lead 4 h
        arrival(g[2], T0 + timedelta(hours=3)),  # with AED, lead 3 h
        arrival(g[3], T0 - timedelta(hours=1)),  # before its AED: NO_AED
        arrival(g[4], datetime(2026, 11, 29, 23, 0, tzinfo=UTC)),  # NO_AED, in 2026-W48
        arrival(c[0], T0 + timedelta(hours=1, minutes=30)),  # with AED, lead 30 min
        arrival(c[1], T0 + timedelta(minutes=30)),  # its AED came at T0 + 1 h: NO_AED
        arrival(undeclared_gb, T0 + timedelta(hours=5)),  # never declared: NO_AED
        arrival(undeclared_fr, T0 + timedelta(hours=5), office="USLAXA"),  # no FR post: NO_AED
    )
    response = await report_arrivals(world.grpc_target, first)

    with_aed = [o.with_aed for o in response.outcomes]
    assert with_aed == [True, True, True, False, False, True, False, False, False]
    assert [o.item_id for o in response.outcomes] == [a.item_id for a in first.arrivals]
    assert not any(o.replayed for o in response.outcomes)
    assert all((o.position == 0) == o.with_aed for o in response.outcomes)
    no_aed = {
        no_aed_event_id(a.item_id, a.arrived_at.ToDatetime(tzinfo=UTC)): a.item_id
        for a, o in zip(first.arrivals, response.outcomes, strict=True)
        if not o.with_aed
    }

    # Idempotent: the same report again is replayed, outcome for outcome.
    again = await report_arrivals(world.grpc_target, first)
    assert [(o.with_aed, o.position) for o in again.outcomes] == [
        (o.with_aed, o.position) for o in response.outcomes
    ]
    assert all(o.replayed for o in again.outcomes)

    await _refusals_store_nothing(world, g[5])

    # Exactly the NO_AED events, verified with the JWKS, to exactly the consumers whose routing
    # takes the origin country (and post).
    keys = await _jwks(world)
    received = {c.name: await _no_aed_received(world, c.name, keys) for c in CONSUMERS}
    by_country = {eid: item[-2:] for eid, item in no_aed.items()}
    assert set(received["analytics"]) == set(no_aed)
    assert set(received["gb-desk"]) == {e for e, cc in by_country.items() if cc == "GB"}
    assert set(received["china-desk"]) == {e for e, cc in by_country.items() if cc == "CN"}
    assert received["domestic-post"] == {}
    assert len(received["gb-desk"]) == 3
    assert len(received["china-desk"]) == 1
    fr = received["analytics"][no_aed_event_id(undeclared_fr, T0 + timedelta(hours=5))]
    assert (fr.item_id, fr.origin_country, fr.partner, fr.office, fr.reported_by) == (
        undeclared_fr, "FR", "", "USLAXA", "domestic-post",
    )  # fmt: skip
    assert fr.arrived_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(hours=5)
    late = received["gb-desk"][no_aed_event_id(g[3], T0 - timedelta(hours=1))]
    assert (late.partner, late.origin_country) == (GB, "GB")

    # Coverage per ISO week of arrival and origin post, exactly.
    expected = [
        Coverage("2026-W48", GB, "GB", 1, 0, None),
        Coverage("2026-W49", "", "FR", 1, 0, None),
        Coverage("2026-W49", CN, "CN", 2, 1, timedelta(minutes=30)),
        Coverage("2026-W49", GB, "GB", 5, 3, timedelta(hours=3)),
    ]
    assert await world.running.arrivals.coverage() == expected
    assert await world.running.arrivals.coverage("2026-W49", CN) == [expected[2]]

    _assert_metrics(world)

    await _assert_cli(world, tmp_path, g)


def _main_to(out: Path, argv: list[str]) -> int:
    """Run the CLI with its stdout going to `out` (a thread of its own: it runs its own loop)."""
    import contextlib

    with out.open("w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        return main(argv)


async def _refusals_store_nothing(world: World, item_id: str) -> None:
    """Each refusal has its status; the batch is refused whole (nothing of it stored)."""
    before = await world.running.arrivals.coverage()
    valid = arrival(item_id, T0 + timedelta(hours=5))
    refusals = {
        "may not report": report("analytics", valid),
        "unknown consumer": report("nobody", valid),
        "no item id": report("domestic-post", valid, arrival("", T0)),
        "no time": report("domestic-post", valid, arrival(item_id, None)),
        "in the future": report("domestic-post", arrival(item_id, T0 + timedelta(hours=7))),
        "no arrivals": report("domestic-post"),
    }
    got = {name: await _refusal(world, request) for name, request in refusals.items()}
    assert got == {
        "may not report": grpc.StatusCode.PERMISSION_DENIED,
        "unknown consumer": grpc.StatusCode.PERMISSION_DENIED,
        "no item id": grpc.StatusCode.INVALID_ARGUMENT,
        "no time": grpc.StatusCode.INVALID_ARGUMENT,
        "in the future": grpc.StatusCode.INVALID_ARGUMENT,
        "no arrivals": grpc.StatusCode.INVALID_ARGUMENT,
    }
    assert await world.running.arrivals.coverage() == before


def _assert_metrics(world: World) -> None:
    metrics = world.running.metrics.exposition().decode()
    for line in (
        f'aedgw_arrivals_total{{partner="{GB}"}} 6.0',
        f'aedgw_arrivals_with_aed_total{{partner="{GB}"}} 3.0',
        f'aedgw_no_aed_events_total{{partner="{GB}"}} 3.0',
        f'aedgw_arrivals_total{{partner="{CN}"}} 2.0',
        f'aedgw_no_aed_events_total{{partner="{CN}"}} 1.0',
        'aedgw_arrivals_total{partner="none"} 1.0',
        f'aedgw_aed_lead_seconds_count{{partner="{GB}"}} 3.0',
        f'aedgw_aed_lead_seconds_sum{{partner="{GB}"}} 32400.0',
    ):
        assert line in metrics, line


async def _assert_cli(world: World, tmp_path: Path, g: list[str]) -> None:
    """`gateway coverage --json` over the same store, `gateway arrivals report` over gRPC."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\npartners_dir = "{tmp_path / "partners"}"\n',
        encoding="utf-8",
    )
    out = tmp_path / "coverage.json"
    code = await asyncio.to_thread(
        _main_to, out, ["--config", str(config), "coverage", "--week", "2026-W49", "--json"]
    )
    assert code == 0
    rows = json.loads(out.read_text())["coverage"]
    assert [(r["partner"], r["arrivals"], r["withAed"], r["medianLeadSeconds"]) for r in rows] == [
        ("", 1, 0, None),
        (CN, 2, 1, "1800.000000"),
        (GB, 5, 3, "10800.000000"),
    ]
    reported = tmp_path / "reported.txt"
    argv = [
        "--config", str(config), "arrivals", "report", "--consumer", "domestic-post",
        "--target", world.grpc_target, "--office", "USJFKA",
        f"{g[5]}@{(T0 + timedelta(hours=5)).isoformat()}",
        f"{g[0]}@{(T0 + timedelta(hours=2)).isoformat()}",
    ]  # fmt: skip
    assert await asyncio.to_thread(_main_to, reported, argv) == 0
    lines = reported.read_text().splitlines()
    assert lines[0].split()[2:] == ["with", "AED"]
    assert lines[1].endswith("(replayed)")
