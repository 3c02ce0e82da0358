"""Decisions end to end: a real gateway, real ITMATT over signed HTTP, decisions over real gRPC,
decision and answer records received and verified by real feed consumers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest

from gateway.adapters.grpc.client import decide, decide_stream
from gateway.domain.decisions import decision_event_id
from gateway.domain.routing import Consumer, RoutingRule
from gateway.entrypoints.cli import main
from gateway.wire import decisions_pb2 as pb
from gateway.wire import feed_pb2
from gateway.wire.decisions_pb2 import AnswerRecord, DecisionRecord
from tests.e2e.conftest import PartnerKit, World, make_settings, running
from tests.e2e.helpers import document, drain, items

pytestmark = pytest.mark.slow

CONSUMERS = (
    Consumer(
        "targeting",
        RoutingRule(categories=frozenset({"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"})),
        may_decide=True,
    ),
    Consumer("gifts-desk", RoutingRule(categories=frozenset({"GIFT"})), may_decide=True),
    Consumer("analytics", RoutingRule()),
)


@pytest.fixture
async def world(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> AsyncIterator[World]:
    root, partners = partners_dir
    async with running(make_settings(tmp_path, root, consumers=CONSUMERS), partners) as w:
        yield w


def request(
    consumer: str,
    decision_id: str,
    item_id: str,
    version: int,
    code: pb.DecisionCode.ValueType,
    *,
    note: str = "",
    questions: Sequence[pb.Question] = (),
) -> pb.DecideRequest:
    return pb.DecideRequest(
        consumer=consumer,
        decision=pb.Decision(
            decision_id=decision_id,
            item_id=item_id,
            version=version,
            code=code,
            note=note,
            questions=questions,
        ),
    )


async def _submit(world: World, message_id: str, specs: list) -> dict[str, str]:  # type: ignore[type-arg]
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(document(message_id, "GBA", specs))
    assert answer.status == 202, answer.json()
    return {i["itemId"]: i["status"] for i in answer.json()["items"]}


async def _categories(world: World) -> dict[str, str]:
    rows = await world.running.store.read_journal(0, 10_000)
    return {row.entry.item_id: row.entry.category for row in rows}


async def _refusal(world: World, req: pb.DecideRequest) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await decide(world.grpc_target, req)
    return caught.value.code()


async def test_a_decision_is_journaled_signed_and_delivered_and_every_refusal_has_its_status(
    world: World,
) -> None:
    specs = items(20, "GB", seed=7)
    await _submit(world, "GBA-D1", specs)
    categories = await _categories(world)
    sale = next(i for i, c in categories.items() if c == "SALE_OF_GOODS")
    routed = {"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"}
    other = next(i for i, c in categories.items() if c not in routed)
    hold = pb.HOLD_FOR_INSPECTION

    first = await decide(world.grpc_target, request("targeting", "d-1", sale, 1, hold, note="x"))
    assert (first.item_status, first.replayed) == ("HOLD_FOR_INSPECTION", False)
    again = await decide(world.grpc_target, request("targeting", "d-1", sale, 1, hold, note="x"))
    assert (again.position, again.replayed) == (first.position, True)

    refusals = {
        "conflict": request("targeting", "d-1", sale, 1, pb.RELEASED),
        "unknown item": request("targeting", "d-2", "RR000000000GB", 1, hold),
        "not routed": request("targeting", "d-3", other, 1, hold),
        "may not decide": request("analytics", "d-4", sale, 1, hold),
        "future version": request("targeting", "d-5", sale, 9, hold),
        "no code": request("targeting", "d-6", sale, 1, pb.DECISION_CODE_UNSPECIFIED),
        "questions on a hold": request(
            "targeting", "d-7", sale, 1, hold, questions=[pb.Question(code="HS_CODE_MISSING")]
        ),
    }
    got = {name: await _refusal(world, req) for name, req in refusals.items()}
    assert got == {
        "conflict": grpc.StatusCode.ALREADY_EXISTS,
        "unknown item": grpc.StatusCode.NOT_FOUND,
        "not routed": grpc.StatusCode.PERMISSION_DENIED,
        "may not decide": grpc.StatusCode.PERMISSION_DENIED,
        "future version": grpc.StatusCode.NOT_FOUND,
        "no code": grpc.StatusCode.INVALID_ARGUMENT,
        "questions on a hold": grpc.StatusCode.INVALID_ARGUMENT,
    }

    # An amendment makes version 1 stale.
    spec = next(s for s in specs if s.item_id == sale)
    amended = dataclasses.replace(spec, function="AMENDMENT", version=2)
    assert (await _submit(world, "GBA-D2", [amended]))[sale] == "ACCEPTED"
    stale = request("targeting", "d-8", sale, 1, pb.RELEASED)
    assert await _refusal(world, stale) == grpc.StatusCode.FAILED_PRECONDITION
    released = await decide(world.grpc_target, request("targeting", "d-8", sale, 2, pb.RELEASED))
    assert released.item_status == "RELEASED"

    decisions: list[DecisionRecord] = []

    def keep(record: feed_pb2.FeedRecord, payload: object) -> None:
        assert record.kind == feed_pb2.DECISION
        assert isinstance(payload, DecisionRecord)
        decisions.append(payload)

    seen = await drain(world.grpc_target, "analytics", on_event=keep)
    assert seen.failed == 0  # every record, declarations and decisions, verifies
    assert [(d.decision_id, d.version, d.item_status) for d in decisions] == [
        ("d-1", 1, "HOLD_FOR_INSPECTION"),
        ("d-8", 2, "RELEASED"),
    ]
    assert decision_event_id("targeting", "d-1") in seen.record_ids
    assert decisions[0].note == "x"  # internal consumers see the note; posts never do


async def test_the_stream_decides_in_bulk_in_order_and_an_amendment_answers_a_request(
    world: World,
) -> None:
    specs = items(40, "GB", seed=11)
    await _submit(world, "GBA-S1", specs)
    categories = await _categories(world)
    sales = [i for i, c in categories.items() if c in {"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"}]
    asked = sales[0]
    question = pb.Question(code="DESCRIPTION_TOO_VAGUE", path="/item[1]/content")
    assess = pb.ASSESSMENT_COMPLETE
    reqs = [
        request("targeting", "ri-1", asked, 1, pb.REQUEST_INFORMATION, questions=[question]),
        *(request("targeting", f"ok-{i}", item, 1, assess) for i, item in enumerate(sales[1:])),
        request("targeting", "bad", "RR000000000GB", 1, pb.REFUSED),
        request("targeting", "ok-0", sales[1], 1, pb.ASSESSMENT_COMPLETE),  # a replay
    ]
    outcomes = await decide_stream(world.grpc_target, reqs)
    assert [o.decision_id for o in outcomes] == [r.decision.decision_id for r in reqs]
    assert outcomes[0].response.item_status == "REQUEST_INFORMATION"
    assert all(o.code == 0 for o in outcomes[1:-2])
    assert outcomes[-2].code == grpc.StatusCode.NOT_FOUND.value[0]
    assert outcomes[-1].response.replayed
    assert outcomes[-1].response.position == outcomes[1].response.position

    spec = next(s for s in specs if s.item_id == asked)
    await _submit(world, "GBA-S2", [dataclasses.replace(spec, function="AMENDMENT", version=2)])

    answers: list[AnswerRecord] = []

    def keep(record: feed_pb2.FeedRecord, payload: object) -> None:
        if record.kind == feed_pb2.ANSWER:
            assert isinstance(payload, AnswerRecord)
            answers.append(payload)

    for _ in range(50):  # the answer worker folds the amendment within moments
        await drain(world.grpc_target, "targeting", on_event=keep, idle=0.2)
        if answers:
            break
    assert [(a.decision_id, a.asked_version, a.version) for a in answers] == [("ri-1", 1, 2)]
    kinds: list[int] = []
    await drain(world.grpc_target, "analytics", on_event=lambda r, _p: kinds.append(r.kind))
    assert feed_pb2.ANSWER not in kinds  # an answer goes to the consumer that asked, no one else
    stored = await world.running.store.find_decision("targeting", "ri-1")
    assert stored is not None
    assert stored.answered_by is not None
    status = await world.running.decisions.decide(stored.decision)
    assert status.replayed
    assert status.status == "NONE"  # the answered request no longer counts


async def test_gateway_decide_reports_one_decision_and_a_file_of_them(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _submit(world, "GBA-C1", items(12, "GB", seed=5))
    categories = await _categories(world)
    sales = [i for i, c in categories.items() if c in {"SALE_OF_GOODS", "COMMERCIAL_SAMPLE"}]
    one = [
        "decide", "--consumer", "targeting", "--target", world.grpc_target, "--item", sales[0],
        "--version", "1", "--code", "REQUEST_INFORMATION", "--id", "cli-1",
        "--question", "HS_CODE_MISSING:/item[1]/content[1]/hsTariffNumber",
    ]  # fmt: skip
    assert await asyncio.to_thread(main, one) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["itemStatus"] == "REQUEST_INFORMATION"

    lines = [
        {"decisionId": "cli-2", "itemId": sales[1], "version": 1, "code": "REFUSED",
         "detection": "IPR_COUNTERFEIT", "note": "fake watches"},
        {"decisionId": "cli-3", "itemId": "RR000000000GB", "version": 1, "code": "RELEASED"},
    ]  # fmt: skip
    file = tmp_path / "decisions.jsonl"
    file.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    argv = ["decide", "--consumer", "targeting", "--target", world.grpc_target, "--file", str(file)]
    assert await asyncio.to_thread(main, argv) == 1  # one refused
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[0]["itemStatus"] == "REFUSED"
    assert (out[1]["decisionId"], out[1]["refused"]) == ("cli-3", "NOT_FOUND")
    stored = await world.running.store.find_decision("targeting", "cli-2")
    assert stored is not None
    assert stored.decision.note == "fake watches"
