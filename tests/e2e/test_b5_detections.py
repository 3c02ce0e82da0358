"""B5 detections end to end: items over signed HTTP, decisions over real gRPC, the cells folded
by the running gateway, and a report built on a frozen clock that shows the detections of the
cells it publishes and hides those of the cells it suppresses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters.grpc.client import decide
from gateway.domain.cells import CellKey
from gateway.domain.routing import Consumer, RoutingRule
from gateway.formats.itmatt.samples import ItemSpec, PieceSpec
from gateway.services.b5_reports import report_document
from gateway.services.cell_folding import declaration_in
from gateway.share.aggregate import cell_of
from gateway.wire import decisions_pb2 as pb
from tests.clocks import FrozenClock
from tests.detections import hidden_detection_bounds, recounted
from tests.e2e.conftest import PartnerKit, World, make_settings
from tests.e2e.helpers import document, items
from tests.e2e.test_b5 import DATA_DAY, WEEK, customs_partner

pytestmark = pytest.mark.slow
CONSUMERS = (Consumer("customs-risk", RoutingRule(), may_decide=True),)
WEEKS = ["2026-W47", WEEK]


def _specs() -> list[ItemSpec]:
    """20 scarves of one cell (published: k = 10), 11 handbags of another (the cheapest
    complement) and 3 toys of a third (suppressed: fewer than k)."""
    ids = [spec.item_id for spec in items(34, "GB", seed=77)]
    bag = PieceSpec(description="Leather handbag", hs_code="4202.21")
    toy = PieceSpec(description="Wooden toy train", hs_code="9503.00")
    return (
        [ItemSpec(i) for i in ids[:20]]
        + [ItemSpec(i, pieces=(bag,)) for i in ids[20:31]]
        + [ItemSpec(i, pieces=(toy,)) for i in ids[31:]]
    )


def _decision(
    decision_id: str,
    item_id: str,
    code: pb.DecisionCode.ValueType,
    detection: pb.Detection.ValueType = pb.DETECTION_UNSPECIFIED,
) -> pb.DecideRequest:
    return pb.DecideRequest(
        consumer="customs-risk",
        decision=pb.Decision(
            decision_id=decision_id, item_id=item_id, version=1, code=code, detection=detection
        ),
    )


async def test_a_refusal_is_counted_a_release_takes_it_out_and_a_report_hides_small_cells(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    root, partners = partners_dir
    partners["gb-bf"] = customs_partner(root, "gb-bf")  # k = 10, combined view
    settings = make_settings(tmp_path, root, consumers=CONSUMERS)
    world = World(settings, partners, clock=FrozenClock(DATA_DAY))
    await world.start()
    try:
        gb = await world.client("gb-royal-mail")
        answer = await gb.submit_itmatt(document("GBA-DET", "GBA", _specs()))
        assert answer.status == 202
        gateway, store = world.running, world.running.store
        await gateway.aggregator.catch_up()
        journal = await store.read_journal(0, 1000)
        cell: dict[str, CellKey] = {
            row.entry.item_id: cell_of(declaration_in(row.entry.envelope)) for row in journal
        }
        before = await store.cells([WEEK])
        big = next(i for i, c in cell.items() if c.week == WEEK and before[c].items >= 20)
        small = next(i for i, c in cell.items() if c.week == WEEK and before[c].items < 10)

        await decide(world.grpc_target, _decision("d-1", big, pb.REFUSED, pb.NARCOTICS))
        await gateway.aggregator.catch_up()
        assert (await store.cells([WEEK]))[cell[big]].detections == 1
        assert await store.cells(WEEKS) == await recounted(store)

        await decide(world.grpc_target, _decision("d-2", big, pb.RELEASED))
        await gateway.aggregator.catch_up()
        assert (await store.cells([WEEK]))[cell[big]] == before[cell[big]]
        assert await store.cells(WEEKS) == await recounted(store)

        await decide(world.grpc_target, _decision("d-3", big, pb.RETURN_TO_SENDER, pb.WEAPONS))
        await decide(world.grpc_target, _decision("d-4", small, pb.DO_NOT_LOAD, pb.NARCOTICS))
        await gateway.aggregator.catch_up()
        folded = await store.cells(WEEKS)
        assert folded == await recounted(store)
        assert folded[cell[small]].detections == 1

        [built] = await gateway.share.build(WEEK, ["gb-bf"])
        doc = report_document(built.report)
    finally:
        await world.stop()

    shown = {
        CellKey(*(e[d] for d in ("week", "channel", "originCountry", "hsChapter", "category",
                                 "valueBand"))): e
        for e in doc["cells"]
    }  # fmt: skip
    assert shown[cell[big]]["suppressed"] is False
    assert shown[cell[big]]["detections"] == 1
    assert shown[cell[small]]["suppressed"] is True
    assert "detections" not in shown[cell[small]]
    assert doc["totals"]["grand"]["detections"] == 2
    for dims, (low, high) in hidden_detection_bounds(doc).items():
        true = folded[CellKey(*dims)].detections
        assert low <= true <= high
        assert high - low >= min(10, true), (dims, true, low, high)
