"""Crash safety: `gateway serve` SIGKILLed at random moments under concurrent load, many times,
on SQLite and on PostgreSQL. Afterwards every receipted item is journaled and delivered, no
message is half stored, every record verifies, and a message resent after a kill gets the very
receipt it would have had.

`AEDGW_CRASH_KILLS` sets the kills per store (20 in the suite; `make soak` runs many more) and
`AEDGW_CRASH_SEED` replays one run's random choices (the seed is printed on failure).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from gateway.adapters.crypto.keyring import Keyring
from gateway.adapters.http.client import PartnerClient
from gateway.adapters.store import open_store_from_url
from gateway.services.journal_audit import audit_journal
from tests import pg
from tests.e2e.conftest import PartnerKit
from tests.e2e.helpers import document, drain, items
from tests.e2e.test_process import Served

KILLS = int(os.environ.get("AEDGW_CRASH_KILLS", "20"))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(max(120, 8 * KILLS))]
SUBMITTERS = 6


@dataclass
class Ledger:
    """What the partner knows: every document it sent, and the receipts it got back."""

    sent: dict[str, bytes] = field(default_factory=dict)
    receipts: dict[str, bytes] = field(default_factory=dict)  # message id -> receipt body
    statuses: dict[str, int] = field(default_factory=dict)

    def accepted(self) -> set[str]:
        """Declaration ids of every item a receipt accepted."""
        return {
            item["declarationId"]
            for body in self.receipts.values()
            for item in json.loads(body)["items"]
            if item["status"] == "ACCEPTED"
        }


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'gateway.db'}"
        return
    pg.require_postgres()
    schema = pg.new_schema()
    yield f"{pg.DSN}?schema={schema}&pool_size=4"
    await pg.drop_schema(schema)


def _config(tmp_path: Path, partners: Path, store: str) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\npartners_dir = "{partners}"\nlog_level = "WARNING"\n'
        f'store = "{store}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n[grpc]\nlisten = "127.0.0.1:0"\n'
        '[[consumers]]\nname = "analytics"\n',
        encoding="utf-8",
    )
    return config


async def _load(served: Served, partner: PartnerKit, ledger: Ledger, rng: random.Random) -> None:
    """Submit new messages from SUBMITTERS clients until the gateway dies under them."""
    counter = len(ledger.sent)

    async def submitter(client: PartnerClient) -> None:
        nonlocal counter
        while True:
            counter += 1
            message_id = f"GBA-CRASH-{counter:06d}"
            specs = items(rng.randint(1, 30), "GB", seed=counter, bad_every=rng.choice([0, 0, 4]))
            body = document(message_id, "GBA", specs)
            ledger.sent[message_id] = body
            answer = await client.submit_itmatt(body, verify=False)
            ledger.statuses[message_id] = answer.status
            if answer.status in (202, 422):
                ledger.receipts[message_id] = answer.body

    async with aiohttp.ClientSession() as session:
        client = PartnerClient(session, served.http_url, partner.key)
        tasks = [asyncio.create_task(submitter(client)) for _ in range(SUBMITTERS)]
        await asyncio.sleep(rng.uniform(0.05, 0.8))  # a random moment under load
        served.kill()
        for task in tasks:
            with pytest.raises((aiohttp.ClientError, asyncio.TimeoutError)):
                await task


async def test_sigkill_at_random_moments_loses_nothing_receipted(
    tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]], store_url: str
) -> None:
    seed = int(os.environ.get("AEDGW_CRASH_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    partner = partners_dir[1]["gb-royal-mail"]
    config = _config(tmp_path, partners_dir[0], store_url)
    ledger = Ledger()
    for _ in range(KILLS):
        await _load(Served(config), partner, ledger, rng)
    receipted_before = dict(ledger.receipts)

    served = Served(config)
    try:
        async with aiohttp.ClientSession() as session:
            client = PartnerClient(session, served.http_url, partner.key)
            # The partner resends what got no answer, and a sample of what did: each gets the
            # receipt it had (200, byte for byte), or its first one when it never landed.
            unanswered = [m for m in ledger.sent if m not in ledger.receipts]
            again = rng.sample(sorted(receipted_before), min(20, len(receipted_before)))
            for message_id in [*unanswered, *again]:
                answer = await client.submit_itmatt(ledger.sent[message_id], verify=True)
                assert answer.status in (200, 202, 422), (seed, message_id, answer.status)
                if message_id in receipted_before:
                    assert answer.status == 200, (seed, message_id)
                    assert answer.body == receipted_before[message_id], (seed, message_id)
                ledger.receipts[message_id] = answer.body
        delivered = await drain(served.grpc_target, "analytics")
    finally:
        assert served.terminate() == 0

    assert len(receipted_before) > KILLS, f"seed {seed}: too little load to mean anything"
    assert delivered.failed == 0, seed
    assert ledger.accepted() <= set(delivered.record_ids), seed
    assert set(delivered.record_ids) == ledger.accepted(), seed  # nothing un-receipted either
    assert len(delivered.record_ids) == len(set(delivered.record_ids)), seed
    store = open_store_from_url(store_url)
    await store.open()
    try:
        report = await audit_journal(store, Keyring.load(tmp_path / "data" / "keys").public_keys())
    finally:
        await store.close()
    assert report.ok, (seed, report.problems)
    assert report.records == len(ledger.accepted()), seed
    print(  # the figures `make soak` reports (pytest -s), once every check above held
        f"\ncrash [{store_url.partition(':')[0]}] seed {seed}: {KILLS} kills survived, "
        f"{len(ledger.sent)} messages sent, {len(receipted_before)} receipted before a kill, "
        f"{len(unanswered)} resent, {len(delivered.record_ids)} records delivered, 0 lost"
    )
