"""The submission pipeline over an in-memory store, a real DSSE signer and a fixed clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest

from gateway.adapters.crypto.dsse import DsseSigner, verify_envelope
from gateway.adapters.crypto.httpsig import content_digest
from gateway.adapters.crypto.keys import SigningKey, VerificationKey, generate_private_key
from gateway.domain.journal import ItemState, JournalEntry, MessageRecord, StoredMessage
from gateway.domain.messages import ItemFunction
from gateway.domain.partners import ITMATT_FORMAT, Partner, PartnerKind
from gateway.domain.records import DECLARATION_TYPE, declaration_id
from gateway.errors import Forbidden, MessageConflict, MessageRejected
from gateway.formats.itmatt.samples import ItemSpec, build_itmatt, generate_items, valid_s10
from gateway.observability import Metrics
from gateway.services.itmatt_intake import ItemLocks, Pipeline, Submission
from gateway.wire.declaration_pb2 import Declaration
from tests.builders import make_entry
from tests.fakes import ROYAL_MAIL, FixedClock, InMemoryStore
from tests.rigs import gateway_for

P = ParamSpec("P")
R = TypeVar("R")

NOW = datetime(2026, 11, 27, 9, 15, 2, 114000, tzinfo=UTC)
KEY = SigningKey("aedgw-test", "ed25519", generate_private_key("ed25519"))
PUBLIC: dict[str, VerificationKey] = {KEY.keyid: KEY.verification_key("gateway")}


class CountingExecutor(ThreadPoolExecutor):
    """A real thread pool that counts the work handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@dataclass
class Rig:
    store: InMemoryStore
    pipeline: Pipeline
    metrics: Metrics
    commits: list[int] = field(default_factory=list)

    async def submit(self, body: bytes, partner: Partner = ROYAL_MAIL) -> Submission:
        return await self.pipeline.submit_itmatt(partner, body, content_digest(body))

    def entry(self, item_id: str, version: int = 1) -> JournalEntry:
        return next(e for e in self.store.journal if (e.item_id, e.version) == (item_id, version))


async def make_rig(
    *, executor: ThreadPoolExecutor | None = None, offload_bytes: int = 64 * 1024
) -> Rig:
    store = InMemoryStore()
    await store.open()
    metrics = Metrics()
    commits: list[int] = []
    pipeline = Pipeline(
        store=store,
        signer=DsseSigner(KEY),
        clock=FixedClock(NOW),
        metrics=metrics,
        on_commit=commits.append,
        executor=executor,
        offload_bytes=offload_bytes,
    )
    return Rig(store, pipeline, metrics, commits)


@pytest.fixture
async def rig() -> Rig:
    return await make_rig()


def receipt_of(submission: Submission) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(submission.receipt)
    return doc


def error_codes(item: dict[str, Any]) -> set[str]:
    return {f["code"] for f in item["findings"] if f["severity"] == "error"}


def decode(entry: JournalEntry) -> Declaration:
    payload_type, payload = verify_envelope(entry.envelope, PUBLIC)
    assert payload_type == DECLARATION_TYPE
    return Declaration.FromString(payload)


def s10(serial: int) -> str:
    return valid_s10("RB", serial, "GB")


def message(message_id: str, *items: ItemSpec, sender: str = "GBA", test: bool = False) -> bytes:
    return build_itmatt(message_id, sender, items, test=test)


def sample(n: int, *, bad_every: int = 0, seed: int = 7) -> list[ItemSpec]:
    return generate_items(random.Random(seed), n, sender_country="GB", bad_every=bad_every)


# -- accepted, partly accepted, rejected ------------------------------------------------------


async def test_all_good_message_is_journaled_signed_and_receipted(rig: Rig) -> None:
    items = sample(3)
    body = message("GBA-20261127-0001", *items)
    result = await rig.submit(body)

    assert (result.http_status, result.accepted, result.rejected) == (202, 3, 0)
    receipt = receipt_of(result)
    assert receipt["status"] == "ACCEPTED"
    assert receipt["receivedAt"] == "2026-11-27T09:15:02.114Z"
    assert receipt["contentDigest"] == content_digest(body)
    assert [e.item_id for e in rig.store.journal] == [i.item_id for i in items]
    assert rig.commits == [3]
    for spec, item in zip(items, receipt["items"], strict=True):
        entry = rig.entry(spec.item_id)
        decl = decode(entry)
        assert decl.item_id == spec.item_id
        assert decl.declaration_id == item["declarationId"] == entry.record_id
        assert decl.declaration_id == declaration_id(ROYAL_MAIL.id, spec.item_id, 1)
        prov = decl.provenance
        assert prov.partner == ROYAL_MAIL.id
        assert prov.message_id == "GBA-20261127-0001" == entry.message_id
        assert prov.receipt_id == receipt["receiptId"]
        assert prov.received_at.ToDatetime(tzinfo=UTC) == NOW
        assert prov.content_digest == content_digest(body)
        assert (entry.category, entry.value_currency) == (spec.category, spec.currency)
        assert entry.value_amount == Decimal(spec.total())


async def test_message_record_holds_the_receipt_sent(rig: Rig) -> None:
    body = message("GBA-20261127-0001", *sample(2))
    result = await rig.submit(body)
    stored = await rig.store.find_message(ROYAL_MAIL.id, "GBA-20261127-0001")
    assert stored == StoredMessage(
        ROYAL_MAIL.id, "GBA-20261127-0001", content_digest(body), 202, result.receipt
    )


async def test_partly_bad_message_is_partially_accepted_with_exact_codes(rig: Rig) -> None:
    items = sample(8, bad_every=2)
    result = await rig.submit(message("GBA-20261127-0001", *items))

    assert (result.http_status, result.accepted, result.rejected) == (202, 4, 4)
    receipt = receipt_of(result)
    assert receipt["status"] == "PARTIALLY_ACCEPTED"
    assert [error_codes(i) for i in receipt["items"]] == [set(s.expect) for s in items]
    assert {s.expect for s in items if s.expect} == {
        frozenset({"S10_CHECK_DIGIT"}),
        frozenset({"HS_REQUIRED"}),
        frozenset({"WEIGHT_SUM_EXCEEDS_GROSS"}),
        frozenset({"CURRENCY_UNKNOWN"}),
    }
    assert [e.item_id for e in rig.store.journal] == [s.item_id for s in items if not s.expect]
    assert [("declarationId" in i) for i in receipt["items"]] == [not s.expect for s in items]
    assert rig.commits == [4]


async def test_all_bad_message_is_422_and_only_the_message_is_stored(rig: Rig) -> None:
    result = await rig.submit(message("GBA-20261127-0001", *sample(3, bad_every=1)))

    assert (result.http_status, result.accepted, result.rejected) == (422, 0, 3)
    assert receipt_of(result)["status"] == "REJECTED"
    assert rig.store.journal == []
    assert rig.commits == []
    stored = await rig.store.find_message(ROYAL_MAIL.id, "GBA-20261127-0001")
    assert stored is not None
    assert (stored.http_status, stored.receipt) == (422, result.receipt)


async def test_items_and_findings_are_counted_in_metrics(rig: Rig) -> None:
    await rig.submit(message("GBA-20261127-0001", *sample(4, bad_every=2)))
    registry = rig.metrics.registry
    for outcome in ("accepted", "rejected"):
        labels = {"partner": ROYAL_MAIL.id, "outcome": outcome}
        assert registry.get_sample_value("aedgw_items_total", labels) == 2
    s10_errors = {"code": "S10_CHECK_DIGIT", "severity": "error"}
    assert registry.get_sample_value("aedgw_findings_total", s10_errors) == 1


# -- idempotency ------------------------------------------------------------------------------


async def test_resubmission_with_the_same_digest_replays_the_receipt(rig: Rig) -> None:
    body = message("GBA-20261127-0001", *sample(3, bad_every=3))
    first = await rig.submit(body)
    again = await rig.submit(body)

    assert again.http_status == 200
    assert again.receipt == first.receipt
    assert len(rig.store.journal) == 2
    assert rig.commits == [2]


async def test_resubmission_of_a_rejected_message_replays_its_receipt(rig: Rig) -> None:
    body = message("GBA-20261127-0001", *sample(2, bad_every=1))
    first = await rig.submit(body)
    again = await rig.submit(body)
    assert (first.http_status, again.http_status) == (422, 200)
    assert again.receipt == first.receipt


async def test_same_message_id_with_other_content_is_a_conflict(rig: Rig) -> None:
    await rig.submit(message("GBA-20261127-0001", *sample(2, seed=1)))
    with pytest.raises(MessageConflict) as caught:
        await rig.submit(message("GBA-20261127-0001", *sample(2, seed=2)))
    assert (caught.value.partner, caught.value.message_id) == (ROYAL_MAIL.id, "GBA-20261127-0001")
    assert len(rig.store.journal) == 2


async def test_the_same_message_id_from_another_partner_is_independent(rig: Rig) -> None:
    china_post = replace(ROYAL_MAIL, id="cn-china-post", operator_code="CNA", country="CN")
    await rig.submit(message("MSG-1", *sample(1)))
    result = await rig.submit(message("MSG-1", *sample(1, seed=9), sender="CNA"), china_post)
    assert result.http_status == 202


class RacingStore(InMemoryStore):
    """Yields on every lookup, so two submissions both look before either commits."""

    async def find_message(self, partner: str, message_id: str) -> StoredMessage | None:
        await asyncio.sleep(0)
        return await super().find_message(partner, message_id)


async def test_concurrent_duplicates_commit_once_and_share_the_receipt(tmp_path: Path) -> None:
    store = RacingStore()
    await store.open()
    gateway = gateway_for(tmp_path, store=store, clock=FixedClock(NOW))
    pipeline = gateway.pipeline
    body = message("GBA-20261127-0001", *sample(2))
    digest = content_digest(body)
    first, second = await asyncio.gather(
        pipeline.submit_itmatt(ROYAL_MAIL, body, digest),
        pipeline.submit_itmatt(ROYAL_MAIL, body, digest),
    )
    assert sorted([first.http_status, second.http_status]) == [200, 202]
    assert first.receipt == second.receipt
    assert len(store.journal) == 2
    assert gateway.notifier.latest == 2  # the feeds were woken up to the commit


class HistoryRacingStore(InMemoryStore):
    """Yields after every history lookup, so two replicas both read before either commits."""

    async def item_states(self, partner: str, item_ids: Iterable[str]) -> Mapping[str, ItemState]:
        states = await super().item_states(partner, item_ids)
        await asyncio.sleep(0.01)
        return states


async def test_replicas_racing_on_one_item_journal_it_once_and_the_loser_decides_again(
    tmp_path: Path,
) -> None:
    """Two replicas (two pipelines, each with its own item locks) on one store receive two
    messages declaring the same original item: one journals it; the other's commit finds the
    version taken, re-reads the history and answers with the item rejected, not a 503."""
    store = HistoryRacingStore()
    await store.open()
    replicas = [
        gateway_for(tmp_path / f"r{n}", store=store, clock=FixedClock(NOW)).pipeline
        for n in range(2)
    ]
    (item,) = sample(1)
    bodies = [message(f"GBA-RACE-{n}", item) for n in range(2)]

    results = await asyncio.gather(
        *(
            p.submit_itmatt(ROYAL_MAIL, b, content_digest(b))
            for p, b in zip(replicas, bodies, strict=True)
        )
    )

    assert sorted((r.accepted, r.rejected) for r in results) == [(0, 1), (1, 0)]
    assert len(store.journal) == 1
    loser = next(r for r in results if r.rejected)
    assert loser.http_status == 422
    assert len(store.messages) == 2


class GatheringStore(InMemoryStore):
    """Holds each commit until `expected` commits are in progress at once (or `patience` passes),
    and records the most that ever were."""

    def __init__(self, expected: int, patience: float = 0.2) -> None:
        super().__init__()
        self.expected, self.patience = expected, patience
        self.inside = self.most = 0
        self._all_in = asyncio.Event()

    async def commit_message(
        self, message: MessageRecord, entries: Sequence[JournalEntry]
    ) -> list[int]:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if self.inside >= self.expected:
            self._all_in.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_in.wait(), self.patience)
            return await super().commit_message(message, entries)
        finally:
            self.inside -= 1


async def gathering_pipeline(store: GatheringStore, folder: Path) -> Pipeline:
    await store.open()
    return gateway_for(folder, store=store, clock=FixedClock(NOW)).pipeline


async def test_one_partners_messages_on_distinct_items_commit_at_once(tmp_path: Path) -> None:
    """The store can group them into one transaction: no lock per partner serialises them."""
    store = GatheringStore(expected=3)
    pipeline = await gathering_pipeline(store, tmp_path)
    items = sample(6)
    bodies = [message(f"GBA-PAR-{n}", *items[2 * n : 2 * n + 2]) for n in range(3)]

    results = await asyncio.gather(
        *(pipeline.submit_itmatt(ROYAL_MAIL, b, content_digest(b)) for b in bodies)
    )

    assert store.most == 3
    assert [(r.http_status, r.accepted) for r in results] == [(202, 2)] * 3
    assert sorted(e.item_id for e in store.journal) == sorted(i.item_id for i in items)


async def test_messages_sharing_an_item_commit_one_after_the_other(tmp_path: Path) -> None:
    """The second reads the history after the first committed: the item is journaled once and
    the other message is told it was already accepted (not a version race)."""
    store = GatheringStore(expected=2)
    pipeline = await gathering_pipeline(store, tmp_path)
    shared, own = sample(2)
    bodies = [message("GBA-SEQ-1", shared), message("GBA-SEQ-2", shared, own)]

    first, second = await asyncio.gather(
        *(pipeline.submit_itmatt(ROYAL_MAIL, b, content_digest(b)) for b in bodies)
    )

    assert store.most == 1
    assert (first.http_status, first.accepted) == (202, 1)
    assert (second.http_status, second.accepted, second.rejected) == (202, 1, 1)
    assert sorted(e.item_id for e in store.journal) == sorted([shared.item_id, own.item_id])


async def test_item_locks_are_forgotten_once_released_or_abandoned() -> None:
    locks = ItemLocks()
    async with locks.holding("p", ["B", "A", "A"]):
        assert len(locks) == 2
        waiter = asyncio.create_task(_hold(locks, "p", ["A", "C"]))
        await asyncio.sleep(0)
        assert len(locks) == 2  # a waiter holds none of its items while it waits
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert len(locks) == 0
    async with locks.holding("p", ["A"]):  # and a key abandoned by a cancelled waiter works
        pass
    assert len(locks) == 0


async def test_a_message_waiting_for_one_item_holds_none_of_its_others() -> None:
    """Taken all at once or not at all: a message on another of its items goes first."""
    locks = ItemLocks()
    entered: list[str] = []
    release = asyncio.Event()

    async def hold(name: str, items: list[str], until: asyncio.Event | None = None) -> None:
        async with locks.holding("p", items):
            entered.append(name)
            if until is not None:
                await until.wait()

    first = asyncio.create_task(hold("first", ["Z"], release))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold("waiting", ["B", "Z"]))
    await asyncio.sleep(0)
    other = asyncio.create_task(hold("other", ["B"]))
    await asyncio.sleep(0)
    assert entered == ["first", "other"]
    assert len(locks) == 1

    release.set()
    await asyncio.gather(first, waiting, other)
    assert entered == ["first", "other", "waiting"]
    assert len(locks) == 0


async def test_a_message_without_item_ids_waits_for_nothing() -> None:
    locks = ItemLocks()
    async with locks.holding("p", ["A"]):
        async with locks.holding("p", []):
            assert len(locks) == 1
        async with locks.holding("q", []):
            pass
    assert len(locks) == 0


async def _hold(locks: ItemLocks, partner: str, items: list[str]) -> None:
    async with locks.holding(partner, items):
        pass


# -- who may submit ---------------------------------------------------------------------------


async def test_sender_other_than_the_partners_operator_code_is_forbidden(rig: Rig) -> None:
    with pytest.raises(Forbidden, match="'CNA'") as caught:
        await rig.submit(message("CNA-1", *sample(2), sender="CNA"))
    assert caught.value.partner == ROYAL_MAIL.id
    assert rig.store.messages == {}
    assert rig.store.journal == []
    assert rig.commits == []


async def test_partner_without_the_itmatt_format_is_forbidden(rig: Rig) -> None:
    customs = replace(
        ROYAL_MAIL, id="gb-hmrc", kind=PartnerKind.CUSTOMS, formats=frozenset({"b5-trend-1"})
    )
    with pytest.raises(Forbidden, match=ITMATT_FORMAT):
        await rig.submit(message("GBA-1", *sample(1)), customs)
    assert rig.store.messages == {}
    assert rig.store.journal == []


async def test_message_refused_as_a_whole_stores_nothing(rig: Rig) -> None:
    with pytest.raises(MessageRejected):
        await rig.submit(b"<message xmlns='urn:aedgw:itmatt:1.5'>")
    assert rig.store.messages == {}


# -- test messages ----------------------------------------------------------------------------


async def test_test_message_is_answered_but_never_journaled(rig: Rig) -> None:
    result = await rig.submit(message("GBA-TEST-1", *sample(2), test=True))
    assert (result.http_status, result.accepted) == (202, 2)
    receipt = receipt_of(result)
    assert receipt["test"] is True
    assert receipt["status"] == "ACCEPTED"
    assert rig.store.journal == []
    assert rig.commits == []
    assert rig.store.messages[ROYAL_MAIL.id, "GBA-TEST-1"].test


async def test_items_of_a_test_message_can_be_sent_again_for_real(rig: Rig) -> None:
    items = sample(1)
    await rig.submit(message("GBA-TEST-1", *items, test=True))
    result = await rig.submit(message("GBA-REAL-1", *items))
    assert result.http_status == 202
    assert len(rig.store.journal) == 1


# -- versions against the journal -------------------------------------------------------------


def original(serial: int = 1) -> ItemSpec:
    return ItemSpec(item_id=s10(serial))


def amendment(serial: int, version: int, **changes: Any) -> ItemSpec:
    return replace(original(serial), function="AMENDMENT", version=version, **changes)


async def test_amendment_in_a_later_message_is_accepted_as_a_new_version(rig: Rig) -> None:
    await rig.submit(message("GBA-1", original()))
    result = await rig.submit(message("GBA-2", amendment(1, 2, gross_weight="2.000")))

    assert result.http_status == 202
    [item] = receipt_of(result)["items"]
    assert (item["version"], item["status"]) == (2, "ACCEPTED")
    history = await rig.store.item_history(s10(1), ROYAL_MAIL.id)
    assert [(r.position, r.entry.version) for r in history] == [(1, 1), (2, 2)]
    v2 = rig.entry(s10(1), 2)
    assert v2.function is ItemFunction.AMENDMENT
    assert decode(v2).gross_weight_kg == "2.000"
    assert item["declarationId"] == declaration_id(ROYAL_MAIL.id, s10(1), 2)
    assert v2.record_id != rig.entry(s10(1), 1).record_id
    assert rig.commits == [1, 2]


async def test_amendment_not_above_the_latest_version_is_stale(rig: Rig) -> None:
    await rig.submit(message("GBA-1", original()))
    await rig.submit(message("GBA-2", amendment(1, 3)))
    result = await rig.submit(message("GBA-3", amendment(1, 2)))

    assert result.http_status == 422
    [item] = receipt_of(result)["items"]
    assert error_codes(item) == {"VERSION_STALE"}
    assert [e.version for e in rig.store.journal] == [1, 3]


async def test_original_sent_again_in_a_new_message_is_already_accepted(rig: Rig) -> None:
    await rig.submit(message("GBA-1", original(1)))
    result = await rig.submit(message("GBA-2", original(1), original(2)))

    assert result.http_status == 202
    first, second = receipt_of(result)["items"]
    assert error_codes(first) == {"ITEM_ALREADY_ACCEPTED"}
    assert (second["status"], error_codes(second)) == ("ACCEPTED", set())
    assert [e.item_id for e in rig.store.journal] == [s10(1), s10(2)]


async def test_amendment_of_an_unknown_item_is_refused(rig: Rig) -> None:
    result = await rig.submit(message("GBA-1", amendment(5, 2)))
    assert result.http_status == 422
    [item] = receipt_of(result)["items"]
    assert error_codes(item) == {"UNKNOWN_ITEM"}
    assert rig.store.journal == []


async def test_history_is_per_partner(rig: Rig) -> None:
    china_post = replace(ROYAL_MAIL, id="cn-china-post", operator_code="CNA", country="CN")
    await rig.submit(message("GBA-1", original(1)))
    result = await rig.submit(message("CNA-1", amendment(1, 2), sender="CNA"), china_post)
    [item] = receipt_of(result)["items"]
    assert error_codes(item) == {"UNKNOWN_ITEM"}


async def test_original_and_amendment_may_travel_in_one_message(rig: Rig) -> None:
    result = await rig.submit(message("GBA-1", original(1), amendment(1, 2)))
    assert (result.http_status, result.accepted) == (202, 2)
    assert [e.version for e in rig.store.journal] == [1, 2]


# -- large messages and ids -------------------------------------------------------------------


def comparable(submission: Submission, store: InMemoryStore) -> tuple[object, ...]:
    """The result without the receipt id (a fresh UUID per message)."""
    receipt = receipt_of(submission)
    receipt.pop("receiptId")
    declarations = []
    for entry in store.journal:
        decl = decode(entry)
        decl.provenance.receipt_id = ""
        declarations.append(decl.SerializeToString(deterministic=True))
    return submission.http_status, receipt, declarations


async def test_large_message_offloaded_gives_the_same_result_as_inline() -> None:
    items = sample(300, bad_every=7)
    body = message("GBA-BIG-1", *items)
    assert len(body) > 64 * 1024
    with CountingExecutor() as executor:
        offloaded = await make_rig(executor=executor)
        big = await offloaded.submit(body)
        assert executor.submitted == 1  # one task: parse, then seal + sign
    inline = await make_rig(offload_bytes=len(body) + 1)
    small = await inline.submit(body)

    assert big.http_status == 202
    assert (big.accepted, big.rejected) == (300 - 42, 42)
    assert comparable(big, offloaded.store) == comparable(small, inline.store)
    assert offloaded.commits == inline.commits == [258]


async def test_small_message_is_not_offloaded() -> None:
    with CountingExecutor() as executor:
        rig = await make_rig(executor=executor)
        await rig.submit(message("GBA-1", *sample(2)))
        assert executor.submitted == 0


async def test_declaration_ids_are_stable_across_stores_and_messages() -> None:
    first, second = await make_rig(), await make_rig()
    await first.submit(message("GBA-1", original(1)))
    await second.submit(message("GBA-77", original(1), original(2)))
    assert first.entry(s10(1)).record_id == second.entry(s10(1)).record_id


def test_declaration_id_depends_on_partner_item_and_version() -> None:
    base = declaration_id("gb-royal-mail", s10(1), 1)
    assert base == declaration_id("gb-royal-mail", s10(1), 1)
    others = {
        declaration_id("cn-china-post", s10(1), 1),
        declaration_id("gb-royal-mail", s10(2), 1),
        declaration_id("gb-royal-mail", s10(1), 2),
    }
    assert base not in others
    assert len(others) == 3


@pytest.mark.parametrize(
    ("partner", "item_id", "version"),
    [("gb-royal-mail", "EE123456785GB", 1), ("cn-china-post", "", 0), ("p", "ïtém/é", 2**40)],
)
def test_declaration_id_is_the_uuid5_of_partner_item_and_version(
    partner: str, item_id: str, version: int
) -> None:
    namespace = uuid.UUID("6f1d3c1e-3f0a-5b7e-9d2c-a3e5b1c0d9f4")  # the ids already journaled
    expected = str(uuid.uuid5(namespace, f"{partner}/{item_id}/{version}"))
    assert declaration_id(partner, item_id, version) == expected


def test_an_entry_with_an_envelope_is_the_entry_with_only_that_changed() -> None:
    entry = make_entry("EE123456785GB", 3)
    assert entry.with_envelope(b"sealed") == replace(entry, envelope=b"sealed")
