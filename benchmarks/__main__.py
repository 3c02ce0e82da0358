"""`make bench`: throughput and receipt latency of the whole path, through real HTTP.

`gateway serve` processes (the real partner verification and record signing) are fed by
concurrent signing clients in this process; a gRPC consumer then drains the feed. Each message
size is measured against three deployments: the SQLite journal (one process), the PostgreSQL
store with one replica, and with two replicas sharing one schema (the clients spread the
messages round-robin over both). Each PostgreSQL deployment gets a fresh schema, dropped after.
Printed as one table: items/s, messages/s and receipt latency p50/p99 per store and message
size, the gateways' CPU time per item (all replicas) and the PostgreSQL server's, and the feed's
records/s per store. See benchmarks/README.md.

    .venv/bin/python -m benchmarks [--quick] [--concurrency 16] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.adapters.http.client import PartnerClient
from gateway.consume import consume_verified
from gateway.samples import ItemSpec, build_itmatt, generate_items, valid_s10

_ENDPOINTS = re.compile(r"HTTP (\S+) gRPC (\S+)")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Scenario:
    items_per_message: int
    messages: int


@dataclass(frozen=True)
class Deployment:
    """What serves the load: a store and how many `gateway serve` processes share it."""

    store: str  # "sqlite" or "postgresql"
    replicas: int = 1

    @property
    def label(self) -> str:
        return self.store if self.store == "sqlite" else f"{self.store} x{self.replicas}"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    seconds: float
    latencies: list[float]
    accepted: int
    cpu_seconds: float  # every gateway process of the deployment
    db_cpu_seconds: float | None  # the PostgreSQL server (all its processes), when measured

    @property
    def items_per_s(self) -> float:
        return self.accepted / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


@dataclass
class Run:
    """One deployment's results, its feed drain and what it checked."""

    deployment: Deployment
    results: list[Result] = field(default_factory=list)
    records: int = 0
    feed_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # the gateways' warnings and errors


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


def setup(root: Path) -> SigningKey:
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
    return key


def gateway_config(root: Path, name: str, store: str | None) -> Path:
    """A gateway TOML with its own data folder (journal or, for PostgreSQL, the signing keys
    every replica of the deployment shares)."""
    config = root / f"gateway-{name}.toml"
    store_line = f'store = "{store}"\n' if store else ""
    config.write_text(
        f'data_dir = "{root / ("data-" + name)}"\npartners_dir = "{root / "partners"}"\n'
        f'{store_line}log_level = "WARNING"\n'
        '[http]\nlisten = "127.0.0.1:0"\nmax_concurrent_requests = 1024\n'
        '[grpc]\nlisten = "127.0.0.1:0"\n[[consumers]]\nname = "all"\n',
        encoding="utf-8",
    )
    return config


def documents(scenario: Scenario, serial: Serial, tag: str) -> list[bytes]:
    rng = random.Random(scenario.items_per_message)
    template = generate_items(rng, scenario.items_per_message, sender_country="GB")
    return [
        build_itmatt(f"BENCH-{tag}-{i}", "GBA", serial.take(template))
        for i in range(scenario.messages)
    ]


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, ...] (Linux)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (USER_HZ=100)


class ServerCpu:
    """CPU seconds of a local PostgreSQL server: the postmaster, its live children (backends,
    WAL writer, checkpointer, ...) and the children it has already reaped (cutime + cstime), so
    that backends that come and go during a measurement are counted too."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster

    @classmethod
    async def find(cls, conn: Any) -> ServerCpu | None:
        """The server behind `conn`, or None when its processes are not visible here."""
        try:
            backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
            return cls(int(_stat(backend)[1]))
        except OSError:
            return None  # another host or container

    def seconds(self) -> float:
        own = _stat(self.postmaster)
        total = sum(int(own[i]) for i in (11, 12, 13, 14))
        wanted = str(self.postmaster)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = _stat(int(entry.name))
            except OSError:
                continue  # exited meanwhile
            if fields[1] == wanted:
                total += int(fields[11]) + int(fields[12])
        return total / 100


async def run_scenario(
    urls: list[str],
    key: SigningKey,
    docs: list[bytes],
    scenario: Scenario,
    *,
    pids: list[int],
    concurrency: int,
    server: ServerCpu | None = None,
) -> Result:
    """Send `docs` with `concurrency` clients, message k to replica k mod len(urls)."""
    latencies: list[float] = []
    accepted = 0
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for index, doc in enumerate(docs):
        queue.put_nowait((index, doc))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [PartnerClient(session, url, key) for url in urls]

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                index, doc = queue.get_nowait()
                start = time.perf_counter()
                answer = await clients[index % len(clients)].submit_itmatt(doc, verify=False)
                latencies.append(time.perf_counter() - start)
                if answer.status != 202:
                    raise RuntimeError(f"HTTP {answer.status}: {answer.body[:300]!r}")
                accepted += answer.json()["accepted"]

        def cpu() -> tuple[float, float | None]:
            return sum(cpu_of(p) for p in pids), server.seconds() if server else None

        (cpu0, db0), t0 = cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds, (cpu1, db1) = time.perf_counter() - t0, cpu()
    db = db1 - db0 if db0 is not None and db1 is not None else None
    return Result(scenario, seconds, latencies, accepted, cpu1 - cpu0, db)


Prepared = list[tuple[Scenario, list[bytes]]]


def start_gateways(
    config: Path, replicas: int, logs: Path
) -> list[tuple[subprocess.Popen[str], str, str]]:
    """Start `replicas` `gateway serve` processes on one config; (process, HTTP url, gRPC).

    Their logs (stderr) go to `logs`-<replica>.log, summarised after the run."""
    processes = []
    for n in range(replicas):
        with Path(f"{logs}-{n + 1}.log").open("w", encoding="utf-8") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"],
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
    try:
        return [
            _endpoints(process, Path(f"{logs}-{n + 1}.log")) for n, process in enumerate(processes)
        ]
    except BaseException:
        stop_gateways(processes)
        raise


def _endpoints(process: subprocess.Popen[str], log: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Wait for a started gateway's first line, naming its HTTP URL and gRPC target."""
    assert process.stdout is not None
    match = _ENDPOINTS.search(process.stdout.readline())
    if not match:
        tail = log.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
        raise RuntimeError(f"a gateway did not start (exit code {process.poll()}):\n{tail}")
    return process, match.group(1), match.group(2)


def log_summary(logs: list[Path]) -> list[str]:
    """Distinct warning-or-worse log messages of the gateways (and any line not JSON, such as a
    traceback), with how many times each was logged."""
    seen: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                level, message = str(entry.get("level", "?")), str(entry.get("msg", line))
            except (ValueError, AttributeError):
                level, message = "stderr", line
            if level.lower() not in {"debug", "info"} and message.strip():
                seen[f"{level}: {message[:150]}"] += 1
    return [f"{count} x {text}" for text, count in seen.most_common()]


def stop_gateways(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


async def run_deployment(
    deployment: Deployment,
    config: Path,
    key: SigningKey,
    warm: list[bytes],
    prepared: Prepared,
    *,
    concurrency: int,
    server: ServerCpu | None,
    logs: Path,
) -> Run:
    run = Run(deployment)
    gateways = start_gateways(config, deployment.replicas, logs)
    files = [Path(f"{logs}-{n + 1}.log") for n in range(deployment.replicas)]
    try:
        urls = [url for _, url, _ in gateways]
        pids = [process.pid for process, _, _ in gateways]
        warmed = await run_scenario(
            urls, key, warm, Scenario(10, len(warm)), pids=pids, concurrency=4
        )
        for scenario, docs in prepared:
            run.results.append(
                await run_scenario(
                    urls, key, docs, scenario, pids=pids, concurrency=concurrency, server=server
                )
            )
        start = time.perf_counter()
        feed = await consume_verified(gateways[0][2], "all", None, idle=1.0)
        run.records, run.feed_seconds = feed.verified, time.perf_counter() - start - 1.0
    except BaseException:
        stop_gateways([process for process, _, _ in gateways])
        for line in log_summary(files):
            print(f"gateway log, {deployment.label}: {line}", file=sys.stderr)
        raise
    stop_gateways([process for process, _, _ in gateways])
    run.logs = log_summary(files)
    for n, (process, _, _) in enumerate(gateways):
        if process.returncode not in (0, -signal.SIGTERM):
            run.problems.append(f"replica {n + 1} exited with code {process.returncode}")
    expected = warmed.accepted + sum(r.accepted for r in run.results)
    sent = (
        sum(s.items_per_message * s.messages for s, _ in prepared) + warmed.scenario.messages * 10
    )
    if expected != sent:
        run.problems.append(f"{sent:,} items sent, {expected:,} accepted")
    if feed.verified != expected or feed.received != expected or feed.failed:
        run.problems.append(
            f"{expected:,} items accepted, the feed delivered {feed.received:,} "
            f"({feed.verified:,} verified, {feed.failed:,} failed)"
        )
    if len(set(feed.record_ids)) != len(feed.record_ids):
        run.problems.append("the feed delivered a record twice")
    return run


@dataclass
class Postgres:
    """The PostgreSQL server the PG rows use, or why they are skipped."""

    dsn: str
    version: str = ""
    settings: str = ""
    server: ServerCpu | None = None
    unreachable: str = ""

    @property
    def where(self) -> str:
        """host:port/database, without the credentials the URL may hold."""
        parts = urlsplit(self.dsn)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"

    async def probe(self) -> None:
        try:
            conn = await asyncpg.connect(self.dsn, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.unreachable = f"{type(exc).__name__}: {exc}".strip()
            return
        try:
            self.version = str(await conn.fetchval("SHOW server_version")).split()[0]
            commit = await conn.fetchval("SHOW synchronous_commit")
            fsync = await conn.fetchval("SHOW fsync")
            self.settings = f"synchronous_commit={commit}, fsync={fsync}"
            self.server = await ServerCpu.find(conn)
        finally:
            await conn.close()

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def store_url(dsn: str, schema: str, pool_size: int) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}&pool_size={pool_size}"


async def bench(
    *, quick: bool, concurrency: int, postgres: Postgres | None, pool_size: int
) -> list[Run]:
    scale = 4 if quick else 1
    scenarios = [
        Scenario(1, 2000 // scale),
        Scenario(100, 300 // scale),
        Scenario(1000, 40 // scale),
    ]
    deployments = [Deployment("sqlite")]
    if postgres is not None:
        await postgres.probe()
        if not postgres.unreachable:
            deployments += [Deployment("postgresql", 1), Deployment("postgresql", 2)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="aedgw-bench-") as tmp:
        root = Path(tmp)
        key = setup(root)
        serial = Serial()
        prepared = [(s, documents(s, serial, str(s.items_per_message))) for s in scenarios]
        warm = documents(Scenario(10, 20), serial, "warm")
        # Every deployment starts from an empty journal, so all send the same documents.
        for n, deployment in enumerate(deployments):
            print(f"bench: {deployment.label} ...", file=sys.stderr, flush=True)
            name = f"{n}-{deployment.store}"
            schema = f"bench_{secrets.token_hex(6)}"  # PostgreSQL: fresh, dropped after
            pg = postgres if deployment.store == "postgresql" else None
            url = store_url(pg.dsn, schema, pool_size) if pg else None
            try:
                run = await run_deployment(
                    deployment, gateway_config(root, name, url), key, warm, prepared,
                    concurrency=concurrency, server=pg.server if pg else None,
                    logs=root / f"gateway-{name}",
                )  # fmt: skip
                runs.append(run)
            finally:
                if pg:
                    await pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return runs


def report(
    runs: list[Run], concurrency: int, postgres: Postgres | None, pool_size: int, load: float
) -> None:
    print(
        f"\nAED gateway benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores shared by the load "
        f"generator, the gateway(s) and PostgreSQL, Python {platform.python_version()}, "
        f"1-minute load average {load:.2f} before the run"
    )
    pg = ""
    if postgres is not None and not postgres.unreachable:
        pg = (
            f"; PostgreSQL {postgres.version} ({postgres.settings}), "
            f"pool_size={pool_size} per replica, one fresh schema per deployment"
        )
    print(
        f"SQLite synchronous=FULL{pg}; {concurrency} concurrent signing clients over real "
        "HTTP, spread round-robin over the replicas\n"
    )
    header = (
        f"{'store':<15} {'items/message':>13} {'messages':>9} {'items/s':>10} {'msgs/s':>9} "
        f"{'p50 ms':>9} {'p99 ms':>9} {'gateway CPU µs/item':>20} {'PG CPU µs/item':>15}"
    )
    print(header)
    print("-" * len(header))
    sizes = [r.scenario.items_per_message for r in runs[0].results] if runs else []
    for i, size in enumerate(sizes):
        if i and len(runs) > 1:
            print()
        for run in runs:
            r = run.results[i]
            cpu_per_item = r.cpu_seconds / max(r.accepted, 1) * 1e6
            db = (
                "—"
                if r.db_cpu_seconds is None
                else f"{r.db_cpu_seconds / max(r.accepted, 1) * 1e6:,.0f}"
            )
            print(
                f"{run.deployment.label:<15} {size:>13} {len(r.latencies):>9} "
                f"{r.items_per_s:>10,.0f} {len(r.latencies) / r.seconds:>9,.0f} "
                f"{r.percentile(0.5):>9.1f} {r.percentile(0.99):>9.1f} "
                f"{cpu_per_item:>20,.0f} {db:>15}"
            )
    if postgres is not None and postgres.unreachable:
        print(
            f"\nPostgreSQL rows skipped: {postgres.where} is unreachable ({postgres.unreachable})"
        )
    print(
        "\ngRPC feed (one consumer on the first replica; records received, verified and "
        "acknowledged):"
    )
    for run in runs:
        print(
            f"  {run.deployment.label:<15} {run.records:>9,} records at "
            f"{run.records / max(run.feed_seconds, 1e-9):>7,.0f} records/s"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"gateway peak RSS (largest process): {peak:,.0f} MiB")
    for run in runs:
        print(
            f"mean latency, {run.deployment.label}: "
            + ", ".join(
                f"{r.scenario.items_per_message}: {statistics.fmean(r.latencies) * 1000:.1f} ms"
                for r in run.results
            )
        )
    for run in runs:
        for line in run.logs:
            print(f"gateway log, {run.deployment.label}: {line}")
    problems = [f"{run.deployment.label}: {p}" for run in runs for p in run.problems]
    for problem in problems:
        print(f"PROBLEM {problem}")
    if not problems:
        print("checks: every item accepted, every accepted item delivered once by the feed")


def main(*, quick: bool, concurrency: int, postgres_dsn: str | None, pool_size: int) -> None:
    postgres = Postgres(postgres_dsn) if postgres_dsn else None
    load = os.getloadavg()[0]  # other work on the machine skews every figure: show it
    runs = asyncio.run(
        bench(quick=quick, concurrency=concurrency, postgres=postgres, pool_size=pool_size)
    )
    report(runs, concurrency, postgres, pool_size, load)
    if any(run.problems for run in runs):
        sys.exit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the messages")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        metavar="URL",
        help=f"PostgreSQL server for the postgresql rows (default {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite rows only")
    parser.add_argument("--pool-size", type=int, default=10, help="connections per replica")
    args = parser.parse_args()
    main(
        quick=args.quick,
        concurrency=args.concurrency,
        postgres_dsn=None if args.no_postgres else args.postgres,
        pool_size=args.pool_size,
    )
