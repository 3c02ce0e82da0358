"""The gateway as an operator runs it: `gateway serve` in its own process, killed and restarted."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.adapters.crypto.keys import private_pem
from gateway.adapters.grpc.client import decide_stream
from gateway.adapters.http.client import PartnerClient
from gateway.adapters.store.sqlite import SqliteStore
from gateway.wire import decisions_pb2
from tests.e2e.conftest import PartnerKit
from tests.e2e.helpers import document, drain, items

pytestmark = pytest.mark.slow
GATEWAY = [sys.executable, "-m", "gateway.entrypoints.cli"]
_ENDPOINTS = re.compile(r"HTTP (\S+) gRPC (\S+)")


def _config(tmp_path: Path, partners: Path) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\npartners_dir = "{partners}"\nlog_level = "WARNING"\n'
        '[http]\nlisten = "127.0.0.1:0"\n[grpc]\nlisten = "127.0.0.1:0"\n'
        '[[consumers]]\nname = "analytics"\n'
        '[[consumers]]\nname = "targeting"\ncategories = ["SALE_OF_GOODS"]\nmay_decide = true\n',
        encoding="utf-8",
    )
    return config


class Served:
    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [*GATEWAY, "--config", str(config), "serve"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = _ENDPOINTS.search(line)
        assert match, f"gateway did not start: {line!r}"
        self.http_url, self.grpc_target = match.group(1), match.group(2)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(20)
        self._close()
        return code

    def _close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def config(tmp_path: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]) -> Path:
    return _config(tmp_path, partners_dir[0])


async def test_a_gateway_killed_right_after_receipts_delivers_every_receipted_item_on_restart(
    config: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    partner = partners_dir[1]["gb-royal-mail"]
    served = Served(config)
    receipted: set[str] = set()
    try:
        async with aiohttp.ClientSession() as session:
            client = PartnerClient(session, served.http_url, partner.key)
            docs = [document(f"GBA-K{i}", "GBA", items(20, "GB", seed=100 + i)) for i in range(16)]
            pending = {asyncio.create_task(client.submit_itmatt(d, verify=False)) for d in docs}
            while pending and len(receipted) < 60:  # kill after the third receipt lands
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    answer = task.result()
                    assert answer.status == 202
                    receipted |= {i["declarationId"] for i in answer.json()["items"]}
            served.kill()
            for task in pending:
                try:
                    answer = await task
                except aiohttp.ClientError:
                    continue  # never receipted: the partner resends it
                if answer.status == 202:
                    receipted |= {i["declarationId"] for i in answer.json()["items"]}
    finally:
        if served.process.poll() is None:
            served.kill()

    restarted = Served(config)
    try:
        delivered = await drain(restarted.grpc_target, "analytics")
    finally:
        assert restarted.terminate() == 0
    assert receipted <= set(delivered.record_ids)
    assert delivered.failed == 0
    assert len(delivered.record_ids) == len(set(delivered.record_ids))
    store = SqliteStore(config.parent / "data" / "gateway.db")
    await store.open()
    try:
        rows = await store.read_journal(0, 10_000)
        messages = {r.entry.message_id for r in rows}
        for message_id in messages:  # no half message: every journaled item has its receipt
            stored = await store.find_message("gb-royal-mail", message_id)
            assert stored is not None
            assert stored.receipt.count(b'"status":"ACCEPTED"') == 21  # message + 20 items
        assert len(rows) == 20 * len(messages)
    finally:
        await store.close()


def _descendants(pid: int) -> set[int]:
    """Every live process under `pid` (from /proc parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _state(int(entry.name)) not in {None, "Z"}:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _state(pid: int) -> str | None:
    """A process's state letter (Z: a zombie, finished), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_gateway_leaves_no_cpu_worker_behind(config: Path) -> None:
    """SIGKILL gives the serving process no chance to stop its CPU pool: the workers and the
    forkserver must notice and end by themselves, not wait on their queue forever."""
    config.write_text(config.read_text() + "[cpu]\nworkers = 2\n", encoding="utf-8")
    served = Served(config)
    try:
        helpers = _descendants(served.process.pid)
        assert len(helpers) >= 3  # the forkserver and two workers (and a resource tracker)
    finally:
        served.kill()
    left = helpers
    for _ in range(100):  # up to 10 s: a pidfd wakes the workers at once
        left = {pid for pid in left if _state(pid) not in {None, "Z"}}
        if not left:
            break
        time.sleep(0.1)
    assert not left, {pid: _state(pid) for pid in left}


async def test_submit_and_consume_commands_talk_to_a_served_gateway(
    tmp_path: Path, config: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    root, partners = partners_dir
    partner = partners["cn-china-post"]
    key_file = tmp_path / "cn.key.pem"
    key_file.write_bytes(private_pem(partner.key.private_key))
    key_file.chmod(0o600)
    message = tmp_path / "message.xml"
    message.write_bytes(document("CNA-C1", "CNA", items(6, "CN", seed=7, bad_every=3)))
    served = Served(config)
    try:
        submitted = await asyncio.to_thread(
            subprocess.run,
            [*GATEWAY, "submit", "--partner", str(root / "cn-china-post"), "--key", str(key_file),
             served.http_url, str(message)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        assert "HTTP 202" in submitted.stdout
        assert '"status": "PARTIALLY_ACCEPTED"' in submitted.stdout
        out = tmp_path / "records.jsonl"
        consumed = await asyncio.to_thread(
            subprocess.run,
            [*GATEWAY, "--config", str(config), "consume", "--consumer", "analytics",
             "--target", served.grpc_target, "--out", str(out), "--idle", "1"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert consumed.returncode == 0, consumed.stderr
        assert "4 records, 4 verified, 0 failed" in consumed.stderr
        lines = out.read_text().splitlines()
        assert len(lines) == 4
        assert all('"itemId"' in line and '"keyid"' in line for line in lines)
    finally:
        assert served.terminate() == 0


async def test_a_gateway_killed_right_after_acknowledging_decisions_delivers_them_on_restart(
    config: Path, partners_dir: tuple[Path, dict[str, PartnerKit]]
) -> None:
    partner = partners_dir[1]["gb-royal-mail"]
    served = Served(config)
    try:
        async with aiohttp.ClientSession() as session:
            client = PartnerClient(session, served.http_url, partner.key)
            answer = await client.submit_itmatt(document("GBA-DK", "GBA", items(30, "GB", seed=9)))
            assert answer.status == 202
        records: list[str] = []
        await drain(
            served.grpc_target, "targeting", on_declaration=lambda r, _d: records.append(r.item_id)
        )
        assert records
        requests = [
            decisions_pb2.DecideRequest(
                consumer="targeting",
                decision=decisions_pb2.Decision(
                    decision_id=f"kill-{n}", item_id=item, version=1,
                    code=decisions_pb2.HOLD_FOR_INSPECTION,
                ),
            )
            for n, item in enumerate(records)
        ]  # fmt: skip
        outcomes = await decide_stream(served.grpc_target, requests)
        assert all(o.code == 0 for o in outcomes)
        acknowledged = {o.decision_id for o in outcomes}
        served.kill()  # at once: nothing is flushed after the acknowledgement
    finally:
        if served.process.poll() is None:
            served.kill()

    restarted = Served(config)
    try:
        seen: list[str] = []
        delivered = await drain(
            restarted.grpc_target, "analytics",
            on_event=lambda _r, p: seen.append(p.decision_id),
        )  # fmt: skip
    finally:
        assert restarted.terminate() == 0
    assert delivered.failed == 0
    assert set(seen) == acknowledged
    assert len(seen) == len(acknowledged)  # each once: the cursor of a clean stream
