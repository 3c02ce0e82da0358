"""Arrival rules (gateway.domain.arrivals), the arrival service on a frozen clock, and the
arrivals/coverage CLI parsing, without a network."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.adapters.crypto.dsse import DsseSigner, EnvelopeVerifier
from gateway.adapters.crypto.keys import SigningKey, VerificationKey, generate_private_key
from gateway.domain.arrivals import (
    FUTURE_SKEW,
    MAX_ARRIVALS,
    Arrival,
    ArrivalRow,
    Coverage,
    arrival_week,
    check_arrival,
    coverage_of,
    lead_time,
    median_lead,
    origin_country,
)
from gateway.domain.decisions import EventKind, no_aed_event_id
from gateway.domain.partners import PartnerKind
from gateway.domain.routing import Consumer, RoutingRule
from gateway.entrypoints.cli.arrivals import ArrivalSyntaxError, read_arrivals
from gateway.entrypoints.cli.coverage import as_json, share
from gateway.errors import ConsumerDenied, InputError
from gateway.observability import Metrics
from gateway.services.arrivals import ArrivalService, posts_by_country
from gateway.services.decisions import NO_AED_TYPE
from gateway.wire.decisions_pb2 import NoAedRecord
from tests.clocks import FrozenClock
from tests.fakes import ROYAL_MAIL, InMemoryStore

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # Wednesday, 2026-W49
KEY = SigningKey("gw-test", "ed25519", generate_private_key("ed25519"))
POST = Consumer("domestic-post", RoutingRule(), may_report_arrivals=True)
READER = Consumer("analytics", RoutingRule())


def _arrival(item_id: str = "RB123456785GB", at: datetime | None = NOW) -> Arrival:
    return Arrival(item_id, at, "USJFKA", "domestic-post")


# -- rules -------------------------------------------------------------------------------------


def test_the_median_is_the_middle_or_the_exact_mean_of_the_two_middles() -> None:
    assert median_lead([]) is None
    assert median_lead([7]) == timedelta(milliseconds=7)
    assert median_lead([9, 1, 5]) == timedelta(milliseconds=5)
    assert median_lead([4, 1, 3, 2]) == timedelta(microseconds=2500)  # (2 + 3) / 2 ms
    assert median_lead([1, 2]) == timedelta(microseconds=1500)
    day = 86_400_000
    assert median_lead([day * 30, day * 31]) == timedelta(days=30, hours=12)


def test_an_arrival_counts_in_the_iso_week_of_its_utc_time() -> None:
    sunday_night = datetime(2026, 11, 29, 23, 59, 59, 999999, tzinfo=UTC)
    assert arrival_week(sunday_night) == "2026-W48"
    assert arrival_week(sunday_night + timedelta(microseconds=1)) == "2026-W49"
    # Monday 00:30 in Paris is still Sunday in UTC.
    paris = timezone(timedelta(hours=1))
    assert arrival_week(datetime(2026, 11, 30, 0, 30, tzinfo=paris)) == "2026-W48"
    assert arrival_week(datetime(2026, 12, 31, 12, 0, tzinfo=UTC)) == "2026-W53"
    assert arrival_week(datetime(2027, 1, 4, 0, 0, tzinfo=UTC)) == "2027-W01"


def test_aed_counts_only_strictly_before_the_arrival_and_leads_are_whole_ms() -> None:
    assert lead_time(None, NOW) is None
    assert lead_time(NOW, NOW) is None
    assert lead_time(NOW + timedelta(seconds=1), NOW) is None
    before = NOW - timedelta(hours=2, microseconds=1999)
    assert lead_time(before, NOW) == timedelta(hours=2, milliseconds=1)


def test_the_origin_country_is_the_s10_ids_last_two_letters() -> None:
    assert origin_country("RB123456785GB") == "GB"
    assert origin_country("rb123456785cn") == "CN"
    assert origin_country("12345") == ""
    assert origin_country("X") == ""


def test_coverage_groups_by_week_post_and_country() -> None:
    rows = [
        ArrivalRow("2026-W49", "gb-royal-mail", "GB", 1000),
        ArrivalRow("2026-W49", "gb-royal-mail", "GB", None),
        ArrivalRow("2026-W49", "gb-royal-mail", "GB", 3000),
        ArrivalRow("2026-W48", "", "FR", None),
    ]
    assert coverage_of(rows) == [
        Coverage("2026-W48", "", "FR", 1, 0, None),
        Coverage("2026-W49", "gb-royal-mail", "GB", 3, 2, timedelta(seconds=2)),
    ]
    assert coverage_of(rows)[1].no_aed == 1


def test_malformed_arrivals_are_refused_by_name() -> None:
    cases = {
        "item_id is required": _arrival(""),
        "arrived_at is required": _arrival(at=None),
        "timezone-aware": _arrival(at=datetime(2026, 12, 2, 9, 0)),  # noqa: DTZ001
        "in the future": _arrival(at=NOW + FUTURE_SKEW + timedelta(seconds=1)),
        "longer than": _arrival("R" * 65),
    }
    for words, arrival in cases.items():
        with pytest.raises(InputError, match=words):
            check_arrival(arrival, NOW)
    assert check_arrival(_arrival(at=NOW + FUTURE_SKEW), NOW) == NOW + FUTURE_SKEW


# -- the service, on a frozen clock --------------------------------------------------------------


def _service(
    store: InMemoryStore, clock: FrozenClock, metrics: Metrics | None = None
) -> ArrivalService:
    return ArrivalService(
        store, [POST, READER], {ROYAL_MAIL.id: ROYAL_MAIL}, DsseSigner(KEY), clock, metrics=metrics
    )


async def test_the_service_signs_a_no_aed_record_and_counts_fresh_arrivals_only() -> None:
    store, clock, metrics = InMemoryStore(), FrozenClock(NOW), Metrics()
    await store.open()
    service = _service(store, clock, metrics)
    arrived = NOW - timedelta(days=3)  # Sunday 2026-11-29: 2026-W48

    [result] = await service.report("domestic-post", [_arrival(at=arrived)])
    [again] = await service.report("domestic-post", [_arrival(at=arrived)])

    assert (result.with_aed, result.replayed, again.replayed) == (False, False, True)
    assert again.position == result.position
    [row] = store.events
    assert (row.position, row.event.kind, row.event.partner) == (
        result.position, EventKind.NO_AED, ROYAL_MAIL.id,
    )  # fmt: skip
    assert row.event.origin_countries == ("GB",)
    public = VerificationKey(KEY.keyid, KEY.alg, KEY.private_key.public_key(), "gateway")
    kind, payload, _ = EnvelopeVerifier({KEY.keyid: public}).verify(row.event.envelope)
    record = NoAedRecord.FromString(payload)
    assert kind == NO_AED_TYPE
    assert record.event_id == row.event.event_id == no_aed_event_id("RB123456785GB", arrived)
    assert (record.partner, record.origin_country, record.reported_by) == (
        ROYAL_MAIL.id, "GB", "domestic-post",
    )  # fmt: skip
    assert await service.coverage() == [Coverage("2026-W48", ROYAL_MAIL.id, "GB", 1, 0, None)]
    text = metrics.exposition().decode()
    assert f'aedgw_no_aed_events_total{{partner="{ROYAL_MAIL.id}"}} 1.0' in text
    assert f'aedgw_arrivals_total{{partner="{ROYAL_MAIL.id}"}} 1.0' in text  # not 2


async def test_the_frozen_clock_decides_what_is_in_the_future() -> None:
    store, clock = InMemoryStore(), FrozenClock(NOW)
    await store.open()
    service = _service(store, clock)
    tomorrow = NOW + timedelta(days=1)
    with pytest.raises(InputError, match="in the future"):
        await service.report("domestic-post", [_arrival(at=NOW), _arrival("RB1", tomorrow)])
    assert store.arrival_rows == {}  # the batch is refused as a whole
    clock.advance(days=1)
    [result] = await service.report("domestic-post", [_arrival(at=tomorrow)])
    assert not result.replayed


async def test_only_a_consumer_allowed_may_report_and_a_batch_is_bounded() -> None:
    store = InMemoryStore()
    await store.open()
    service = _service(store, FrozenClock(NOW))
    for name in ("analytics", "nobody"):
        with pytest.raises(ConsumerDenied):
            await service.report(name, [_arrival()])
    with pytest.raises(InputError, match="at least one"):
        await service.report("domestic-post", [])
    with pytest.raises(InputError, match=f"at most {MAX_ARRIVALS}"):
        await service.report("domestic-post", [_arrival()] * (MAX_ARRIVALS + 1))


def test_a_country_has_one_post_whatever_the_configuration_order() -> None:
    other = replace(ROYAL_MAIL, id="gb-another-post")
    customs = replace(ROYAL_MAIL, id="aa-customs", country="FR", kind=PartnerKind.CUSTOMS)
    assert posts_by_country([ROYAL_MAIL, other, customs]) == {"GB": "gb-another-post"}


# -- the CLI's parsing and figures ---------------------------------------------------------------


def test_arrivals_are_read_from_arguments_and_lines() -> None:
    found = read_arrivals(
        ["RB123456785GB@2026-12-02T09:00:00Z@USJFKA"],
        [
            "# item, time, office",
            "",
            "RB000000001GB 2026-12-02T08:00:00+01:00",
            "X,2026-12-01T00:00Z,O",
        ],
        "DEFAULT",
    )
    assert found == [
        ("RB123456785GB", datetime(2026, 12, 2, 9, tzinfo=UTC), "USJFKA"),
        ("RB000000001GB", datetime(2026, 12, 2, 7, tzinfo=UTC), "DEFAULT"),
        ("X", datetime(2026, 12, 1, tzinfo=UTC), "O"),
    ]
    for bad in (["RB1 2026-12-02T09:00:00"], ["RB1 yesterday"], ["RB1"]):
        with pytest.raises(ArrivalSyntaxError, match="line 1"):
            read_arrivals([], bad, "")


def test_coverage_figures_are_exact_decimals() -> None:
    assert share(2, 3) == "66.7"
    assert share(0, 5) == "0.0"
    row = Coverage("2026-W49", "", "FR", 3, 2, timedelta(microseconds=3_600_000_500))
    assert as_json(row)["medianLeadSeconds"] == "3600.000500"
    assert as_json(row)["noAed"] == 1
