"""Large ITMATT bodies end to end: written to the spool as they arrive, parsed as a stream (by
a worker, or by the serving process when it has none), their records sealed into a file the
store reads as it commits, journaled and receipted exactly as small ones; no spool file
outlives its request."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.cpu import codec
from gateway.adapters.crypto.httpsig import content_digest
from gateway.adapters.http import app as http_app
from gateway.config import CpuSettings
from gateway.domain.bodies import SpooledBody
from gateway.wire.envelope_pb2 import SignedEnvelope
from tests.e2e.conftest import PartnerKit, World, make_settings, running
from tests.e2e.helpers import document, items, raw_post

pytestmark = pytest.mark.slow
STREAM_BYTES = 256 * 1024  # this gateway's [cpu] stream_bytes: small, so documents stay quick


@pytest.fixture(params=[2, 0], ids=["workers", "in-process"])
async def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    partners_dir: tuple[Path, dict[str, PartnerKit]],
) -> AsyncIterator[World]:
    """A gateway with CPU workers, and one with none (the stages in the serving process)."""
    root, partners = partners_dir
    cpu = CpuSettings(workers=request.param, stream_bytes=STREAM_BYTES)
    settings = make_settings(tmp_path, root, cpu=cpu)
    async with running(settings, partners) as w:
        yield w


def large(message_id: str, *, seed: int, bad_every: int = 0) -> bytes:
    n = 100
    while True:  # the smallest count of these items whose document streams
        doc = document(message_id, "GBA", items(n, "GB", seed=seed, bad_every=bad_every))
        if len(doc) >= STREAM_BYTES + 1024:
            return doc
        n = n * (STREAM_BYTES + 4096) // len(doc) + 1


def spooled_files(world: World) -> list[Path]:
    return [p for p in (world.settings.data_dir / "spool").rglob("*") if p.is_file()]


def spool_spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the bodies the edge spools to files (the path under test)."""
    sizes: list[int] = []
    close = http_app._Spool.close

    def spied(spool: Any) -> SpooledBody:
        body = close(spool)
        sizes.append(body.size)
        return body

    monkeypatch.setattr(http_app._Spool, "close", spied)
    return sizes


async def test_a_large_document_is_streamed_journaled_and_receipted_like_a_small_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled = spool_spy(monkeypatch)
    from_file: list[int] = []  # messages whose records the store read from their file
    close = codec.SpooledSealed.close

    def closed(sealed: codec.SpooledSealed) -> None:
        from_file.append(len(sealed))
        close(sealed)

    monkeypatch.setattr(codec.SpooledSealed, "close", closed)
    gb = await world.client("gb-royal-mail")
    doc = large("GBA-LARGE-1", seed=21, bad_every=50)
    answer = await gb.submit_itmatt(doc)
    assert spooled == [len(doc)]
    assert answer.status == 202, answer.body[:500]
    receipt = answer.json()
    rejected = [i for i in receipt["items"] if i["status"] != "ACCEPTED"]
    assert receipt["accepted"] == len(receipt["items"]) - len(rejected) > 150
    assert rejected
    assert all(i["findings"] and i["findings"][0]["line"] for i in rejected)
    journal = await world.running.store.read_journal(0, 10_000)
    assert len(journal) == receipt["accepted"] == sum(from_file)
    assert {r.entry.record_id for r in journal} == {
        i["declarationId"] for i in receipt["items"] if i["status"] == "ACCEPTED"
    }
    # One Merkle tree for the message: every record proves its place in it.
    sizes = {SignedEnvelope.FromString(r.entry.envelope).inclusion.tree_size for r in journal}
    assert len(sizes) == 1
    assert spooled_files(world) == []

    again = await gb.submit_itmatt(doc)  # idempotent: the digest of the spooled body
    assert (again.status, again.body) == (200, answer.body)


async def test_a_large_gzip_body_is_spooled_and_gunzipped_as_a_stream(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled = spool_spy(monkeypatch)
    doc = large("GBA-LARGE-2", seed=22)
    body = gzip.compress(doc, compresslevel=0, mtime=0)  # stored blocks: as large as the doc
    assert len(body) > STREAM_BYTES
    partner = world.partners["gb-royal-mail"]
    status, receipt, _ = await raw_post(
        f"{world.http_url}/v1/aed/itmatt", body, key=partner.key,
        headers={"Content-Encoding": "gzip"},
    )  # fmt: skip
    assert status == 202, receipt
    assert receipt["accepted"] == len(receipt["items"])
    assert receipt["contentDigest"] == content_digest(body)  # over the bytes as sent
    assert spooled == [len(body), len(doc)]  # as sent, then gunzipped
    assert spooled_files(world) == []


async def test_a_small_gzip_body_holding_a_large_document_is_spooled_once_gunzipped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    spooled = spool_spy(monkeypatch)
    doc = large("GBA-LARGE-4", seed=24)
    gb = await world.client("gb-royal-mail")
    answer = await gb.submit_itmatt(doc, compress=True)
    assert len(gzip.compress(doc, mtime=0)) < STREAM_BYTES <= len(doc)
    assert answer.status == 202, answer.body[:300]
    assert answer.json()["accepted"] == len(answer.json()["items"])
    assert spooled == [len(doc)]  # held as received, written to a file as it was gunzipped
    assert spooled_files(world) == []


async def test_refused_large_bodies_leave_nothing_behind(world: World) -> None:
    partner = world.partners["gb-royal-mail"]
    url = f"{world.http_url}/v1/aed/itmatt"
    doc = large("GBA-LARGE-3", seed=23)
    bad_digest = "sha-256=:" + "A" * 43 + "=:"
    status, problem, _ = await raw_post(
        url, doc, key=partner.key, tamper={"Content-Digest": bad_digest}
    )
    assert status == 401, problem
    status, problem, _ = await raw_post(url, doc[:-200], key=partner.key)
    assert status == 400, problem
    assert problem["errors"][0]["code"] == "XML_NOT_WELL_FORMED"
    assert problem["errors"][0]["line"]
    assert await world.running.store.read_journal(0, 10) == []
    assert spooled_files(world) == []
