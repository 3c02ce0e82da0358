"""The share aggregation fed by the pipeline: contributions computed where records are valued
fold to the same cells as the records read back, and are used instead of parsing them."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.adapters.cpu.runner import WorkerProcessCpu
from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.httpsig import content_digest
from gateway.adapters.crypto.keys import SigningKey, generate_private_key
from gateway.formats.itmatt.samples import build_itmatt, generate_items
from gateway.observability import Metrics
from gateway.rules.rates import default_rates
from gateway.services import cell_folding as aggregation
from gateway.services.cell_folding import Aggregator, declaration_in
from gateway.services.itmatt_intake import CpuRunner, Pipeline
from gateway.share.aggregate import Contribution, recount
from gateway.wire.declaration_pb2 import CANCELLATION, Declaration
from tests.fakes import ROYAL_MAIL, FixedClock, InMemoryStore
from tests.rigs import gateway_for

NOW = datetime(2026, 11, 27, 9, 15, 2, tzinfo=UTC)
KEY = SigningKey("aedgw-agg", "ed25519", generate_private_key("ed25519"))


async def submit_history(pipeline: Pipeline, *, posted: bool = True) -> None:
    """Originals (a few rejected), then amendments of some and a cancellation of one; without
    `posted`, no item states its posting time."""
    items = generate_items(random.Random(3), 40, sender_country="GB", bad_every=9)
    if not posted:
        items = [replace(i, posted_at=None) for i in items]
    first = build_itmatt("GBA-AGG-1", "GBA", items)
    later = [
        replace(items[0], function="CANCELLATION", version=2),
        *(replace(i, function="AMENDMENT", version=2, sender_country="FR") for i in items[1:6]),
    ]
    second = build_itmatt("GBA-AGG-2", "GBA", later)
    for body in (first, second):
        done = await pipeline.submit_itmatt(ROYAL_MAIL, body, content_digest(body))
        assert done.http_status == 202


def latest_live(store: InMemoryStore) -> list[Declaration]:
    latest: dict[str, Declaration] = {}
    for entry in store.journal:
        latest[entry.item_id] = declaration_in(entry.envelope)
    return [d for d in latest.values() if d.function != CANCELLATION]


def unvalued_pipeline(store: InMemoryStore, aggregator: Aggregator) -> Pipeline:
    """A pipeline that values nothing (the gateway always values: see `gateway_for`), handing
    its contributions to `aggregator`."""
    return Pipeline(
        store=store,
        signer=DsseSigner(KEY),
        clock=FixedClock(NOW),
        metrics=Metrics(),
        on_commit=lambda _: None,
        on_contributions=aggregator.expect,
    )


async def folded_with(
    cpu: CpuRunner | None, monkeypatch: pytest.MonkeyPatch, folder: Path, *, valued: bool = True
) -> int:
    """Submit the history through `cpu` (None: in process) to a gateway built by the root,
    whose aggregator folds it; the records parsed. Without `valued`, no valuation and no
    posting times: the cells' weeks come from the time each record was received, which
    sealing stamps."""
    store = InMemoryStore()
    await store.open()
    if valued:
        gateway = gateway_for(folder, store=store, clock=FixedClock(NOW), cpu=cpu)
        pipeline, aggregator = gateway.pipeline, gateway.aggregator
    else:
        aggregator = Aggregator(store, page=7)
        pipeline = unvalued_pipeline(store, aggregator)
    await submit_history(pipeline, posted=valued)
    parsed: list[bytes] = []
    real = aggregation.declaration_in

    def counted(envelope: bytes) -> Declaration:
        parsed.append(envelope)
        return real(envelope)

    monkeypatch.setattr(aggregation, "declaration_in", counted)

    assert await aggregator.catch_up() == len(store.journal)
    assert store.cell_counts == recount(latest_live(store))
    assert await store.aggregation_position() == len(store.journal)
    return len(parsed)


@pytest.mark.parametrize("valued", [True, False])
async def test_records_committed_here_are_folded_from_their_contributions(
    monkeypatch: pytest.MonkeyPatch, valued: bool, tmp_path: Path
) -> None:
    # Only the six versions replaced or withdrawn are parsed (the previous side of each
    # amendment and of the cancellation); every new record comes as its contribution.
    assert await folded_with(None, monkeypatch, tmp_path, valued=valued) == 6 + 1


@pytest.mark.slow
async def test_contributions_cross_the_process_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cpu = WorkerProcessCpu(1, lambda: KEY, home_country="US", rates=default_rates())
    try:
        assert await folded_with(cpu, monkeypatch, tmp_path) == 6 + 1
    finally:
        cpu.close()


async def test_records_of_others_are_parsed_to_the_same_cells(tmp_path: Path) -> None:
    """Records this aggregator was not told about (another replica's, or before a restart) are
    read back and parsed; the cells are the same."""
    store = InMemoryStore()
    await store.open()
    await submit_history(gateway_for(tmp_path, store=store, clock=FixedClock(NOW)).pipeline)
    assert await Aggregator(store).catch_up() == len(store.journal)
    assert store.cell_counts == recount(latest_live(store))


async def test_what_was_expected_is_dropped_once_the_position_passed_it() -> None:
    store = InMemoryStore()
    await store.open()
    aggregator = Aggregator(store, expected_max=3)
    term: Contribution = (
        ("2026-W48", "POST", "CN", "61", "GIFT", "B1"),
        (1, Decimal(0), 0, 0, 0, 0),
    )
    aggregator.expect((p, term) for p in (1, 2))
    aggregator.expect((p, term) for p in (3, 4))
    aggregator.expect([(5, term)])
    assert list(aggregator._expected) == [1, 2, 3, 4]  # full: the fifth was not kept
    aggregator._forget_through(2)
    assert list(aggregator._expected) == [3, 4]
