"""Decisions over the gRPC client stream, acknowledged per second: a `gateway serve` process on
SQLite (synchronous FULL), its journal filled over signed HTTP first, then one consumer sending
decisions on one DecideStream as fast as the gateway answers.

    .venv/bin/python -m benchmarks.decisions [--items 20000]

Each decision is checked (consumer, routing, the item's latest version, idempotency), signed as a
record and journaled before its outcome is sent; decisions that arrive together share one store
transaction. The yardstick (a fixed pure-Python workload timed in the same run) lets the figure
be read as a ratio on these machines, whose speed varies by the hour.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import psutil

from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.adapters.grpc.client import decide_stream
from gateway.adapters.http.client import PartnerClient
from gateway.formats.itmatt.samples import build_itmatt, generate_items, valid_s10
from gateway.wire import decisions_pb2

TARGET_PER_S = 10_000  # issue 17: decisions acknowledged per second over the client stream
PULL_TARGET_PER_S = 20_000  # issue 17: responses pulled per second
_ENDPOINTS = re.compile(r"HTTP (\S+) gRPC (\S+)")
PER_MESSAGE = 100


@dataclass(frozen=True)
class Result:
    items: int
    submit_s: float
    decide_s: float
    refused: int
    yardstick_s: float
    server_cpu_s: float  # the gateway's CPU over the decisions
    client_cpu_s: float  # this process's (the deciding client's)
    pulled: int  # responses the post pulled afterwards
    pull_s: float

    @property
    def per_s(self) -> float:
        return self.items / self.decide_s


def yardstick() -> float:
    """Seconds for a fixed pure-Python workload (the same as benchmarks.disclosure's)."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return time.perf_counter() - start


def _setup(root: Path) -> tuple[SigningKey, Path]:
    folder = root / "partners" / "gb-bench"
    (folder / "keys").mkdir(parents=True)
    key = SigningKey("gb-bench-1", "ed25519", generate_private_key("ed25519"))
    write_public_key(folder / "keys" / "k.pem", key.public_key())
    (folder / "partner.toml").write_text(
        'id = "gb-bench"\nname = "bench"\nkind = "post"\ncountry = "GB"\noperator_code = "GBA"\n'
        'formats = ["itmatt-1.5"]\nrate_per_s = 1000000\nburst = 100000\nmax_concurrent = 64\n'
        '[[keys]]\nid = "gb-bench-1"\nalg = "ed25519"\npublic_key = "keys/k.pem"\n',
        encoding="utf-8",
    )
    config = root / "gateway.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\npartners_dir = "{root / "partners"}"\n'
        'log_level = "WARNING"\n[http]\nlisten = "127.0.0.1:0"\n[grpc]\nlisten = "127.0.0.1:0"\n'
        '[[consumers]]\nname = "targeting"\nmay_decide = true\n',
        encoding="utf-8",
    )
    return key, config


async def _submit(url: str, key: SigningKey, item_ids: list[str]) -> None:
    rng = random.Random(17)
    template = generate_items(rng, PER_MESSAGE, sender_country="GB")
    async with aiohttp.ClientSession() as session:
        client = PartnerClient(session, url, key)
        semaphore = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            ids = item_ids[n * PER_MESSAGE : (n + 1) * PER_MESSAGE]
            specs = [replace(s, item_id=i) for s, i in zip(template, ids, strict=True)]
            async with semaphore:
                answer = await client.submit_itmatt(build_itmatt(f"DEC-{n}", "GBA", specs))
            if answer.status != 202:
                raise RuntimeError(f"submission refused: {answer.status}")

        await asyncio.gather(*(one(n) for n in range(len(item_ids) // PER_MESSAGE)))


def _requests(item_ids: list[str]) -> list[decisions_pb2.DecideRequest]:
    codes = (decisions_pb2.ASSESSMENT_COMPLETE, decisions_pb2.HOLD_FOR_INSPECTION)
    return [
        decisions_pb2.DecideRequest(
            consumer="targeting",
            decision=decisions_pb2.Decision(
                decision_id=f"bench-{n}", item_id=item, version=1, code=codes[n % 2]
            ),
        )
        for n, item in enumerate(item_ids)
    ]


async def _measure(items: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="aedgw-decisions-") as tmp:
        root = Path(tmp)
        key, config = _setup(root)
        with (root / "gateway.log").open("w") as log:
            process = subprocess.Popen(  # noqa: ASYNC220 (started once, before any measuring)
                [sys.executable, "-m", "gateway.entrypoints.cli", "--config", str(config), "serve"],
                stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        try:
            assert process.stdout is not None
            match = _ENDPOINTS.search(process.stdout.readline())
            if match is None:
                raise RuntimeError((root / "gateway.log").read_text()[-2000:])
            url, target = match.group(1), match.group(2)
            item_ids = [valid_s10("RR", n, "GB") for n in range(items)]
            start = time.perf_counter()
            await _submit(url, key, item_ids)
            submitted = time.perf_counter()
            requests = _requests(item_ids)
            server = psutil.Process(process.pid)
            cpu_before = _cpu(server)
            client_before = time.process_time()
            began = time.perf_counter()
            outcomes = await decide_stream(target, requests)
            decided = time.perf_counter()
            server_cpu = _cpu(server) - cpu_before
            client_cpu = time.process_time() - client_before
            pulled, pull_s = await _pull(url, key)
        finally:
            process.terminate()
            process.wait(30)
    refused = sum(1 for o in outcomes if o.code)
    return Result(
        items, submitted - start, decided - began, refused, yardstick(), server_cpu, client_cpu,
        pulled, pull_s,
    )  # fmt: skip


async def _pull(url: str, key: SigningKey) -> tuple[int, float]:
    """Every response of the post pulled page by page (500 a page, XML, each answer's bound
    signature verified): (responses, seconds)."""
    pulled, after = 0, 0
    async with aiohttp.ClientSession() as session:
        client = PartnerClient(session, url, key)
        await client.gateway_keys()
        start = time.perf_counter()
        while True:
            answer = await client.responses(after, 500)
            if answer.status != 200:
                raise RuntimeError(f"responses pull refused: {answer.status}")
            page = answer.body.count(b"<response>")
            if not page:
                return pulled, time.perf_counter() - start
            pulled += page
            after = _next(answer.body)


def _next(body: bytes) -> int:
    match = re.search(rb'next="(\d+)"', body)
    return int(match.group(1)) if match else 0


def _cpu(process: psutil.Process) -> float:
    """CPU seconds of the gateway process and its workers."""
    own = process.cpu_times()
    workers = sum(sum(child.cpu_times()[:2]) for child in process.children(recursive=True))
    return own.user + own.system + workers


def line(result: Result) -> str:
    ratio = result.per_s * result.yardstick_s
    verdict = "met" if result.per_s >= TARGET_PER_S and not result.refused else "NOT met"
    return (
        f"  decisions over one DecideStream, SQLite   {result.items:>7,} decisions "
        f"{result.per_s:>9,.0f}/s  (x yardstick {ratio:,.0f}; gateway CPU "
        f"{result.server_cpu_s / result.items * 1e6:,.0f} µs, client CPU "
        f"{result.client_cpu_s / result.items * 1e6:,.0f} µs per decision; refused "
        f"{result.refused}; target >= {TARGET_PER_S:,}/s: {verdict})"
    )


def pull_line(result: Result) -> str:
    rate = result.pulled / max(result.pull_s, 1e-9)
    verdict = "met" if rate >= PULL_TARGET_PER_S and result.pulled == result.items else "NOT met"
    return (
        f"  responses pulled by the post, XML       {result.pulled:>7,} responses "
        f"{rate:>9,.0f}/s  (500 a page, each page's bound signature verified; "
        f"target >= {PULL_TARGET_PER_S:,}/s: {verdict})"
    )


def report(items: int = 20_000) -> None:
    """The rows `make bench` prints."""
    print("\nDecisions (gRPC client stream, acknowledged after journaling) and responses:")
    result = asyncio.run(_measure(items))
    print(line(result))
    print(pull_line(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    report(parser.parse_args().items)
