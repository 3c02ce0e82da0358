"""`make bench`: throughput and receipt latency of the whole path, through real HTTP.

A `gateway serve` process (SQLite journal, the real partner verification and record signing)
is fed by concurrent signing clients in this process; a gRPC consumer then drains the feed.
Printed as a table: items/s, messages/s and receipt latency p50/p99 per message size, the
gateway's CPU time per item, and the feed's records/s.

    .venv/bin/python -m benchmarks [--quick] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.adapters.http.client import PartnerClient
from gateway.consume import consume_verified
from gateway.samples import ItemSpec, build_itmatt, generate_items, valid_s10

_ENDPOINTS = re.compile(r"HTTP (\S+) gRPC (\S+)")


@dataclass(frozen=True)
class Scenario:
    items_per_message: int
    messages: int


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    seconds: float
    latencies: list[float]
    accepted: int
    cpu_seconds: float

    @property
    def items_per_s(self) -> float:
        return self.accepted / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


class Serial:
    """Distinct S10 ids across the whole run (a resent ORIGINAL would be rejected)."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, specs: list[ItemSpec]) -> list[ItemSpec]:
        out = [
            replace(s, item_id=valid_s10("RR", self.next + i, "GB")) for i, s in enumerate(specs)
        ]
        self.next += len(specs)
        return out


def setup(root: Path) -> tuple[Path, SigningKey]:
    partners = root / "partners" / "gb-bench"
    (partners / "keys").mkdir(parents=True)
    key = SigningKey("gb-bench-1", "ed25519", generate_private_key("ed25519"))
    write_public_key(partners / "keys" / "k.pem", key.public_key())
    (partners / "partner.toml").write_text(
        'id = "gb-bench"\nname = "bench"\nkind = "post"\ncountry = "GB"\noperator_code = "GBA"\n'
        'formats = ["itmatt-1.5"]\nrate_per_s = 1000000\nburst = 100000\n'
        '[[keys]]\nid = "gb-bench-1"\nalg = "ed25519"\n'
        'public_key = "keys/k.pem"\n',
        encoding="utf-8",
    )
    config = root / "gateway.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\npartners_dir = "{root / "partners"}"\n'
        'log_level = "WARNING"\n[http]\nlisten = "127.0.0.1:0"\nmax_concurrent_requests = 1024\n'
        '[grpc]\nlisten = "127.0.0.1:0"\n[[consumers]]\nname = "all"\n',
        encoding="utf-8",
    )
    return config, key


def documents(scenario: Scenario, serial: Serial, tag: str) -> list[bytes]:
    rng = random.Random(scenario.items_per_message)
    template = generate_items(rng, scenario.items_per_message, sender_country="GB")
    return [
        build_itmatt(f"BENCH-{tag}-{i}", "GBA", serial.take(template))
        for i in range(scenario.messages)
    ]


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (USER_HZ=100)


async def run_scenario(
    url: str, key: SigningKey, docs: list[bytes], scenario: Scenario, *, pid: int, concurrency: int
) -> Result:
    latencies: list[float] = []
    accepted = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for doc in docs:
        queue.put_nowait(doc)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = PartnerClient(session, url, key)

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                doc = queue.get_nowait()
                start = time.perf_counter()
                answer = await client.submit_itmatt(doc, verify=False)
                latencies.append(time.perf_counter() - start)
                if answer.status != 202:
                    raise RuntimeError(f"HTTP {answer.status}: {answer.body[:300]!r}")
                accepted += answer.json()["accepted"]

        cpu0, t0 = cpu_of(pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - t0, cpu_of(pid) - cpu0
    return Result(scenario, seconds, latencies, accepted, cpu)


async def feed_rate(target: str) -> tuple[int, float]:
    start = time.perf_counter()
    result = await consume_verified(target, "all", None, idle=1.0)
    return result.verified, time.perf_counter() - start - 1.0


Prepared = list[tuple[Scenario, list[bytes]]]


async def drive(
    url: str, target: str, key: SigningKey, serial: Serial, prepared: Prepared,
    *, pid: int, concurrency: int,
) -> tuple[list[Result], int, float]:  # fmt: skip
    warm = documents(Scenario(10, 20), serial, "warm")
    await run_scenario(url, key, warm, Scenario(10, 20), pid=pid, concurrency=4)
    results = [
        await run_scenario(url, key, docs, s, pid=pid, concurrency=concurrency)
        for s, docs in prepared
    ]
    records, seconds = await feed_rate(target)
    return results, records, seconds


def main(*, quick: bool, concurrency: int) -> None:
    scale = 4 if quick else 1
    scenarios = [
        Scenario(1, 2000 // scale),
        Scenario(100, 300 // scale),
        Scenario(1000, 40 // scale),
    ]
    with tempfile.TemporaryDirectory(prefix="aedgw-bench-") as tmp:
        config, key = setup(Path(tmp))
        serial = Serial()
        prepared = [(s, documents(s, serial, str(s.items_per_message))) for s in scenarios]
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            match = _ENDPOINTS.search(process.stdout.readline())
            assert match, "the gateway did not start"
            results, records, seconds = asyncio.run(
                drive(match.group(1), match.group(2), key, serial, prepared,
                      pid=process.pid, concurrency=concurrency)
            )  # fmt: skip
        finally:
            process.terminate()
            process.wait(30)
            if process.stdout is not None:
                process.stdout.close()
    report(results, records, seconds, concurrency)


def report(results: list[Result], records: int, feed_seconds: float, concurrency: int) -> None:
    print(f"\nAED gateway benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, "
          f"Python {platform.python_version()}, SQLite synchronous=FULL, "
          f"{concurrency} concurrent signing clients over real HTTP\n")  # fmt: skip
    header = (
        f"{'items/message':>13} {'messages':>9} {'items/s':>10} {'msgs/s':>9} "
        f"{'p50 ms':>9} {'p99 ms':>9} {'gateway CPU µs/item':>20}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        n = r.scenario.items_per_message
        cpu_per_item = r.cpu_seconds / max(r.accepted, 1) * 1e6
        print(f"{n:>13} {len(r.latencies):>9} {r.items_per_s:>10,.0f} "
              f"{len(r.latencies) / r.seconds:>9,.0f} {r.percentile(0.5):>9.1f} "
              f"{r.percentile(0.99):>9.1f} {cpu_per_item:>20,.0f}")  # fmt: skip
    print(f"\ngRPC feed: {records:,} records received, verified and acknowledged by one consumer "
          f"at {records / max(feed_seconds, 1e-9):,.0f} records/s")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"gateway peak RSS: {peak:,.0f} MiB; mean latency per size: "
          + ", ".join(f"{r.scenario.items_per_message}: {statistics.fmean(r.latencies)*1000:.1f} ms"
                      for r in results))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the messages")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    main(quick=args.quick, concurrency=args.concurrency)
