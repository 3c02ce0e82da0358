"""The CPU stages on a real process pool: signed records, key rotation, a worker dying."""

from __future__ import annotations

import asyncio
import os
import pickle
import random
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.adapters.cpu import codec
from gateway.adapters.cpu.codec import RecordIdTable
from gateway.adapters.cpu.runner import WorkerProcessCpu
from gateway.adapters.crypto.dsse import DsseSigner, verify_envelope
from gateway.adapters.crypto.httpsig import content_digest
from gateway.adapters.crypto.keys import SigningKey, VerificationKey, generate_private_key
from gateway.config import load_settings
from gateway.domain.bodies import Body
from gateway.domain.findings import Finding
from gateway.domain.journal import JournalEntry
from gateway.domain.messages import TRANSLATED, ItemOutcome, MessageHeader, ParsedMessage
from gateway.domain.partners import ITMATT_FORMAT
from gateway.domain.records import DECLARATION_TYPE, Provenance
from gateway.errors import ConfigError, MessageRejected, Overloaded, SignatureError
from gateway.formats.itmatt.samples import build_itmatt, generate_items
from gateway.rules.rates import default_rates
from gateway.rules.valuation import valuer
from gateway.services.itmatt_intake import CpuResult, CpuStages, RecordIds
from gateway.wire.declaration_pb2 import Declaration
from tests.fakes import ROYAL_MAIL, FixedClock, InMemoryStore
from tests.rigs import gateway_for

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 27, 9, 15, 2, tzinfo=UTC)
FIRST = SigningKey("aedgw-pool-1", "ed25519", generate_private_key("ed25519"))
SECOND = SigningKey("aedgw-pool-2", "ecdsa-p256-sha256", generate_private_key("ecdsa-p256-sha256"))
PUBLIC: dict[str, VerificationKey] = {
    k.keyid: k.verification_key("gateway") for k in (FIRST, SECOND)
}
PROV = Provenance("gb-royal-mail", NOW, "2b0f6c1e-0000-4000-8000-000000000001", "sha-256=:x:")


class ActiveKey:
    """What the keyring's `active` is to the pool: read per message."""

    def __init__(self) -> None:
        self.key = FIRST

    def __call__(self) -> SigningKey:
        return self.key


def message(message_id: str, n: int, *, bad_every: int = 0, sender: str = "GBA") -> bytes:
    items = generate_items(random.Random(11), n, sender_country="GB", bad_every=bad_every)
    return build_itmatt(message_id, sender, items)


@pytest.fixture
async def active() -> ActiveKey:
    return ActiveKey()


@pytest.fixture
async def pool(active: ActiveKey) -> AsyncIterator[WorkerProcessCpu]:
    cpu = WorkerProcessCpu(2, active, home_country="US", rates=default_rates())
    await cpu.start()
    yield cpu
    await asyncio.to_thread(cpu.close)


async def test_the_pool_gives_what_the_stages_give_in_process(pool: WorkerProcessCpu) -> None:
    body = message("GBA-POOL-1", 20, bad_every=7)
    remote = await pool.run(body, "GBA", PROV, ITMATT_FORMAT)
    local = CpuStages(DsseSigner(FIRST), valuer("US", default_rates())).run(
        body, "GBA", PROV, ITMATT_FORMAT
    )

    assert remote.parsed == local.parsed
    assert [i.accepted for i in remote.parsed.items] == [i.accepted for i in local.parsed.items]
    assert remote.sealed.keys() == local.sealed.keys()
    assert len(remote.sealed) == 20 - 2
    for index, entry in remote.sealed.items():
        payload_type, payload = verify_envelope(entry.envelope, PUBLIC)
        assert payload_type == DECLARATION_TYPE
        decl = Declaration.FromString(payload)
        expected = Declaration.FromString(verify_envelope(local.sealed[index].envelope, PUBLIC)[1])
        assert decl == expected
        assert decl.valuation.value_usd  # valued in the worker
        assert entry.record_id == local.sealed[index].record_id
    assert [stage for stage, _ in remote.seconds] == ["parse", "validate", "translate", "sign"]
    assert all(seconds > 0 for _, seconds in remote.seconds)


@pytest.mark.parametrize("test", [False, True])
def test_a_result_crosses_the_pool_as_plain_values_and_comes_back_whole(test: bool) -> None:
    """What run_message sends back (marshalled plain values) decodes to the CpuResult of the
    stages: outcomes with their findings (errors, warnings, lines, paths), each translated
    item marked TRANSLATED, the entries, the stage times and the cell contributions."""
    items = generate_items(random.Random(5), 30, sender_country="GB", bad_every=4)
    body = build_itmatt("GBA-PLAIN-1", "GBA", items, test=test)
    stages = CpuStages(DsseSigner(FIRST), valuer("US", default_rates()))
    local = stages.run(body, "GBA", PROV, ITMATT_FORMAT)
    back = codec.decode(codec.encode(local))

    assert back.parsed == local.parsed  # header (prepared_at included), items, source format
    assert [i.findings for i in back.parsed.items] == [i.findings for i in local.parsed.items]
    assert any(f.line and f.path for i in back.parsed.items for f in i.findings)
    assert [i.accepted for i in back.parsed.items] == [i.accepted for i in local.parsed.items]
    assert all(
        (i.declaration is TRANSLATED) == (o.declaration is not None)
        for i, o in zip(back.parsed.items, local.parsed.items, strict=True)
    )
    assert back.sealed == local.sealed
    assert len(back.sealed) == (0 if test else 30 - 7)
    assert back.seconds == local.seconds
    assert back.contributions is not None
    assert local.contributions is not None
    assert [back.contributions.get(i) for i in range(32)] == [
        local.contributions.get(i) for i in range(32)
    ]
    # Its provenance goes the other way as plain values too.
    assert codec.provenance(codec.plain_provenance(PROV)) == PROV


def test_the_plain_encoding_knows_every_field_it_carries() -> None:
    """A field added to one of these classes must be added to the pool's encoding too."""
    assert [f.name for f in fields(CpuResult)] == ["parsed", "sealed", "seconds", "contributions"]
    assert [f.name for f in fields(ParsedMessage)] == ["header", "items", "source_format"]
    assert [f.name for f in fields(MessageHeader)] == [
        "message_id", "sender", "recipient", "prepared_at", "test"
    ]  # fmt: skip
    assert [f.name for f in fields(ItemOutcome)] == [
        "index", "line", "item_id", "version", "function", "findings", "declaration"
    ]  # fmt: skip
    assert [f.name for f in fields(Finding)] == ["code", "severity", "message", "path", "line"]
    assert len(fields(JournalEntry)) == 12  # codec.row_of / entry_of
    assert [f.name for f in fields(Provenance)] == [
        "partner", "received_at", "receipt_id", "content_digest"
    ]  # fmt: skip


@pytest.mark.parametrize("sender", ["GBA", "CNA"])
def test_a_streamed_body_gives_what_the_whole_document_path_gives(sender: str) -> None:
    body = message("GBA-STREAM-1", 40, bad_every=9, sender=sender)
    value = valuer("US", default_rates())
    whole = CpuStages(DsseSigner(FIRST), value).run(body, "GBA", PROV, ITMATT_FORMAT)
    streamed = CpuStages(DsseSigner(FIRST), value, stream_bytes=len(body)).run(
        body, "GBA", PROV, ITMATT_FORMAT
    )

    assert [(i.index, i.accepted, i.findings) for i in streamed.parsed.items] == [
        (i.index, i.accepted, i.findings) for i in whole.parsed.items
    ]
    assert streamed.parsed.header == whole.parsed.header
    assert all(i.declaration in (None, Declaration()) for i in streamed.parsed.items)
    # the same records, byte for byte: the same leaves in the same order under the same key
    assert streamed.sealed == whole.sealed
    assert len(whole.sealed) == (40 - 4 if sender == "GBA" else 0)
    for entry in streamed.sealed.values():
        assert Declaration.FromString(
            verify_envelope(entry.envelope, PUBLIC)[1]
        ).valuation.value_usd
    assert [stage for stage, _ in streamed.seconds] == (
        ["validate", "translate", "parse", "sign"]
        if sender == "GBA"
        else ["validate", "translate", "parse"]
    )


async def test_a_large_body_goes_to_its_worker_as_a_file_and_comes_back_the_same(
    active: ActiveKey, tmp_path: Path
) -> None:
    body = message("GBA-SPOOL-1", 30, bad_every=7)
    spool = tmp_path / "spool"
    cpu = WorkerProcessCpu(
        1,
        active,
        home_country="US",
        rates=default_rates(),
        spool_bytes=len(body) - 100,
        spool_dir=spool,
    )
    try:
        spooled = await cpu.run(body, "GBA", PROV, ITMATT_FORMAT)
        with pytest.raises(MessageRejected) as caught:
            await cpu.run(body[:-40], "GBA", PROV, ITMATT_FORMAT)
    finally:
        cpu.close()
    local = CpuStages(DsseSigner(FIRST), valuer("US", default_rates())).run(
        body, "GBA", PROV, ITMATT_FORMAT
    )
    assert spooled.sealed == local.sealed
    assert dict(RecordIds(spooled.sealed)) == {i: e.record_id for i, e in local.sealed.items()}
    assert [(i.accepted, i.findings) for i in spooled.parsed.items] == [
        (i.accepted, i.findings) for i in local.parsed.items
    ]
    assert caught.value.findings[0].code == "XML_NOT_WELL_FORMED"
    # The entries wait in their file for the commit, read each time the store iterates them.
    accepted = [i for i in local.sealed if i % 3]  # some of them
    assert list(spooled.sealed.select(accepted)) == local.sealed.select(accepted)
    assert len(spooled.sealed.select(accepted)) == len(accepted)
    assert [p.suffix for p in spool.iterdir()] == [".entries"]
    spooled.sealed.close()
    assert list(spool.iterdir()) == []  # neither the bodies nor the results are left behind


def test_a_record_id_table_packs_the_ids_of_a_streamed_message() -> None:
    table = RecordIdTable()
    for index, record_id in [(2, "a-2"), (5, "record-5"), (9, "")]:
        table.add(index, record_id)
    with pytest.raises(ValueError, match="out of order"):
        table.add(9, "again")
    copy = pickle.loads(pickle.dumps(table))  # noqa: S301 - bytes made just above
    for ids in (table, copy):
        assert list(ids) == [2, 5, 9]
        assert [ids.record_id(i) for i in ids] == ["a-2", "record-5", ""]
        assert (5 in ids, 3 in ids, "5" in ids, 10 in ids) == (True, False, False, False)
        with pytest.raises(KeyError):
            ids.record_id(3)
    table.add(10, "é")
    assert table.record_id(10) == "é"


async def test_another_senders_message_is_parsed_but_not_signed(pool: WorkerProcessCpu) -> None:
    done = await pool.run(message("CNA-1", 2, sender="CNA"), "GBA", PROV, ITMATT_FORMAT)
    assert done.parsed.header.sender == "CNA"
    assert done.sealed == {}


async def test_a_rejected_message_raises_in_the_main_process(pool: WorkerProcessCpu) -> None:
    with pytest.raises(MessageRejected) as caught:
        await pool.run(b"<not-itmatt/>", "GBA", PROV, ITMATT_FORMAT)
    assert caught.value.findings
    assert caught.value.title


async def test_workers_sign_with_the_key_active_now(
    pool: WorkerProcessCpu, active: ActiveKey
) -> None:
    body = message("GBA-ROT-1", 4)
    before = await asyncio.gather(*(pool.run(body, "GBA", PROV, ITMATT_FORMAT) for _ in range(4)))
    active.key = SECOND  # what SIGHUP after `gateway keys rotate` does to the keyring
    after = await asyncio.gather(*(pool.run(body, "GBA", PROV, ITMATT_FORMAT) for _ in range(4)))

    def signed_by(key: SigningKey, results: list[CpuResult]) -> bool:
        only = {key.keyid: PUBLIC[key.keyid]}
        return all(
            verify_envelope(entry.envelope, only)[0] == DECLARATION_TYPE
            for r in results
            for entry in r.sealed.values()
        )

    assert signed_by(FIRST, before)
    assert signed_by(SECOND, after)
    with pytest.raises(SignatureError):
        signed_by(FIRST, after)


async def test_a_dead_worker_gives_overloaded_and_a_fresh_pool(
    pool: WorkerProcessCpu, tmp_path: Path
) -> None:
    """A worker killed while messages are in flight: those get 503 (Overloaded), nothing is
    journaled, and the next message is served by a new pool."""
    store = InMemoryStore()
    await store.open()
    gateway = gateway_for(tmp_path, store=store, clock=FixedClock(NOW), cpu=pool)
    pipeline = gateway.pipeline
    body = message("GBA-KILL-1", 500)
    in_flight = asyncio.create_task(pipeline.submit_itmatt(ROYAL_MAIL, body, content_digest(body)))
    await asyncio.sleep(0)  # the message is handed to the pool (~0.2 s of work)
    assert pool._pool is not None
    pool._pool.submit(os._exit, 1)
    with pytest.raises(Overloaded):
        await in_flight
    assert store.journal == []
    assert gateway.notifier.latest == 0
    assert pool.restarts == 1

    again = await pipeline.submit_itmatt(ROYAL_MAIL, body, content_digest(body))
    assert again.http_status == 202
    assert again.accepted == 500
    assert len(store.journal) == 500
    for entry in store.journal:
        verify_envelope(entry.envelope, PUBLIC)


class CountingInline:
    """The in-process stages, counting the messages given to them."""

    def __init__(self) -> None:
        self.stages = CpuStages(DsseSigner(FIRST))
        self.bodies: list[Body] = []

    async def run(self, body: Body, operator_code: str, prov: Provenance, fmt: str) -> CpuResult:
        self.bodies.append(body)
        assert isinstance(body, bytes)
        return self.stages.run(body, operator_code, prov, fmt)

    async def start(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_small_messages_stay_in_process_and_larger_ones_go_to_a_worker(
    active: ActiveKey,
) -> None:
    inline = CountingInline()
    small, large = message("GBA-SMALL-1", 1), message("GBA-LARGE-1", 5)
    cpu = WorkerProcessCpu(
        1, active, home_country="US", rates=default_rates(), inline=inline, inline_bytes=4096
    )
    try:
        assert len(small) < 4096 <= len(large)
        near = await cpu.run(small, "GBA", PROV, ITMATT_FORMAT)
        far = await cpu.run(large, "GBA", PROV, ITMATT_FORMAT)
    finally:
        cpu.close()

    assert inline.bodies == [small]
    assert len(near.sealed) == 1
    assert len(far.sealed) == 5
    for result in (near, far):
        for entry in result.sealed.values():
            assert verify_envelope(entry.envelope, PUBLIC)[0] == DECLARATION_TYPE
    # Only the worker values items (this inline runner was given no valuer).
    assert all(
        Declaration.FromString(verify_envelope(e.envelope, PUBLIC)[1]).valuation.value_usd
        for e in far.sealed.values()
    )
    assert not any(
        Declaration.FromString(verify_envelope(e.envelope, PUBLIC)[1]).valuation.value_usd
        for e in near.sealed.values()
    )


async def test_a_hung_worker_is_killed_after_the_task_timeout_and_the_pool_replaced(
    active: ActiveKey,
) -> None:
    """The only worker is stuck (a task that never ends): the message waiting for it gets
    Overloaded when its timeout passes, the stuck worker is killed, and the next message is
    served by a fresh pool."""
    cpu = WorkerProcessCpu(1, active, task_timeout_s=0.5)
    try:
        await cpu.start()
        assert cpu._pool is not None
        (stuck,) = cpu._pool.processes
        cpu._pool.submit(time.sleep, 60)
        with pytest.raises(Overloaded):
            await cpu.run(message("GBA-HUNG-1", 2), "GBA", PROV, ITMATT_FORMAT)
        assert cpu.restarts == 1
        await asyncio.to_thread(stuck.join, 10)
        assert stuck.exitcode == -signal.SIGKILL  # within 10 s of a 60 s sleep: killed

        again = await cpu.run(message("GBA-HUNG-2", 2), "GBA", PROV, ITMATT_FORMAT)
        assert len(again.sealed) == 2
    finally:
        cpu.close()


# -- configuration ---------------------------------------------------------------------------


def test_cpu_workers_default_to_the_cpu_count_and_zero_means_in_process(tmp_path: Path) -> None:
    assert load_settings(None).cpu.workers == (os.cpu_count() or 1)
    config = tmp_path / "gw.toml"
    config.write_text("[cpu]\nworkers = 0\n", encoding="utf-8")
    assert load_settings(config).cpu.workers == 0
    config.write_text("[cpu]\nworkers = 3\n", encoding="utf-8")
    assert load_settings(config).cpu.workers == 3
    assert load_settings(config).cpu.inline_bytes == 0
    config.write_text("[cpu]\ninline_bytes = 4096\n", encoding="utf-8")
    assert load_settings(config).cpu.inline_bytes == 4096
    assert load_settings(config).cpu.task_timeout_s == 120.0
    config.write_text("[cpu]\ntask_timeout_s = 2.5\n", encoding="utf-8")
    assert load_settings(config).cpu.task_timeout_s == 2.5
    assert load_settings(config).cpu.stream_bytes == 8 * 1024 * 1024
    config.write_text("[cpu]\nstream_bytes = 1048576\n", encoding="utf-8")
    assert load_settings(config).cpu.stream_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[cpu]\nworkers = -1\n", "must be 0 or more"),
        ('[cpu]\nworkers = "2"\n', "must be a int"),
        ("[cpu]\nthreads = 2\n", "threads"),
        ("[cpu]\ninline_bytes = -1\n", "must be 0 or more"),
        ("[cpu]\ntask_timeout_s = 0\n", "must be positive"),
        ("[cpu]\nstream_bytes = 1000\n", "must be at least 65536"),
    ],
)
def test_bad_cpu_settings_name_the_key(tmp_path: Path, text: str, problem: str) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as caught:
        load_settings(config)
    assert "cpu." in str(caught.value)
