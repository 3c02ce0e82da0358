"""The journal audit (`gateway db verify`): a journal the pipeline wrote verifies; each kind of
damage is named."""

from __future__ import annotations

from dataclasses import replace

from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.keys import SigningKey, generate_private_key
from gateway.services.journal_audit import audit_journal
from gateway.wire.declaration_pb2 import Declaration
from gateway.wire.envelope_pb2 import SignedEnvelope
from tests.unit.test_pipeline import KEY, PUBLIC, Rig, make_rig, message, sample


async def _journal() -> Rig:
    """Three partly accepted messages, journaled by the real pipeline."""
    rig = await make_rig()
    for n in range(3):
        result = await rig.submit(message(f"GBA-AUDIT-{n}", *sample(4, seed=n, bad_every=3)))
        assert result.accepted >= 1
    return rig


async def test_a_journal_written_by_the_pipeline_verifies() -> None:
    rig = await _journal()

    report = await audit_journal(rig.store, PUBLIC, page=2)

    assert report.ok, report.problems
    assert report.messages == 3
    assert report.records == len(rig.store.journal)
    assert report.last_position == report.records
    # sealed in the Merkle form: one root signature per message, a proof per record
    envelopes = [SignedEnvelope.FromString(e.envelope) for e in rig.store.journal]
    assert all(e.HasField("inclusion") and not e.signatures for e in envelopes)
    assert len({bytes(e.root_signatures[0].sig) for e in envelopes}) == 3


async def test_records_signed_one_by_one_before_the_merkle_form_still_verify() -> None:
    rig = await _journal()
    store = rig.store
    for n in (0, 2):
        entry = store.journal[n]
        payload = SignedEnvelope.FromString(entry.envelope).payload
        old = DsseSigner(KEY).sign("application/vnd.aedgw.declaration.v1+protobuf", payload)
        store.journal[n] = replace(entry, envelope=old)

    report = await audit_journal(store, PUBLIC)

    assert report.ok, report.problems


async def test_a_tampered_record_under_a_merkle_root_is_named() -> None:
    rig = await _journal()
    store = rig.store
    entry = store.journal[1]
    envelope = SignedEnvelope.FromString(entry.envelope)
    declaration = Declaration.FromString(envelope.payload)
    declaration.total_value.amount = "0.01"
    envelope.payload = declaration.SerializeToString(deterministic=True)
    store.journal[1] = replace(entry, envelope=envelope.SerializeToString())

    report = await audit_journal(store, PUBLIC)

    assert report.problem_count == 1
    assert "position 2: signature does not verify (bad-signature" in report.problems[0]


async def test_a_record_moved_to_another_leaf_index_is_named() -> None:
    rig = await _journal()
    store = rig.store
    entry = store.journal[0]
    envelope = SignedEnvelope.FromString(entry.envelope)
    envelope.inclusion.leaf_index += 1
    store.journal[0] = replace(entry, envelope=envelope.SerializeToString())

    report = await audit_journal(store, PUBLIC)

    assert report.problem_count == 1
    assert "position 1: signature does not verify" in report.problems[0]


async def test_a_record_signed_by_an_unknown_key_is_named() -> None:
    rig = await _journal()
    store = rig.store
    stranger = DsseSigner(SigningKey("stranger", "ed25519", generate_private_key("ed25519")))
    first = store.journal[0]
    forged = stranger.sign("application/vnd.aedgw.declaration.v1+protobuf", b"")
    store.journal[0] = replace(first, envelope=forged)

    report = await audit_journal(store, PUBLIC)

    assert not report.ok
    assert report.problem_count == 1
    assert "position 1: signature does not verify (unknown-key" in report.problems[0]


async def test_a_half_message_is_named_with_the_missing_declaration() -> None:
    rig = await _journal()
    store = rig.store
    lost = store.journal.pop()
    store.journal_positions.pop()

    report = await audit_journal(store, PUBLIC)

    assert not report.ok
    assert (
        f"receipt and journal differ (missing ['{lost.record_id}'], extra [])"
        in (report.problems[0])
    )


async def test_a_record_swapped_between_rows_is_named() -> None:
    rig = await _journal()
    store = rig.store
    a, b = store.journal[0], store.journal[1]
    store.journal[0] = replace(a, envelope=b.envelope)

    report = await audit_journal(store, {KEY.keyid: KEY.verification_key("gateway")})

    assert any("is not the row's" in p for p in report.problems)
