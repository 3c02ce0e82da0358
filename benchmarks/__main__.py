"""`make bench`: throughput and receipt latency of the whole path, through real HTTP.

`gateway serve` processes (the real partner verification and record signing) are fed by
concurrent signing clients in this process; a gRPC consumer then drains the feed. Each message
size is measured against three deployments: the SQLite journal (one process), the PostgreSQL
store with one replica, and with two replicas sharing one schema (the clients spread the
messages round-robin over both). Each PostgreSQL deployment gets a fresh schema, dropped after.
Printed as one table: items/s, messages/s and receipt latency p50/p99 per store and message
size, the CPU time per item of each gateway's whole process tree (serving process, CPU pool
workers, forkserver; all replicas) and of the PostgreSQL server, and the tree's peak RSS; then
the gateways' stage profile per item (from their /metrics), the in-process parse profile, the
feed's records/s per store, a 50 MiB document's memory growth, and the issue 6 targets
(measured vs target). See benchmarks/README.md.

    .venv/bin/python -m benchmarks [--quick] [--concurrency 64] [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import psutil

from benchmarks import decisions, disclosure
from benchmarks.parse_profile import stages as parse_stages
from gateway.adapters.crypto.keys import SigningKey, generate_private_key, write_public_key
from gateway.adapters.http.client import PartnerClient
from gateway.entrypoints.consumer import consume_verified
from gateway.formats.itmatt.samples import ItemSpec, build_itmatt, generate_items, valid_s10

_ENDPOINTS = re.compile(r"HTTP (\S+) gRPC (\S+)")
_STAGE_SUM = re.compile(r'^aedgw_stage_seconds_sum\{stage="([^"]+)"\} (\S+)$', re.MULTILINE)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_CONCURRENCY = 64
MIB = 1024 * 1024
LARGE_BYTES = 50 * MIB  # the large-document scenario: one ITMATT document of about this size
MAX_BODY = 64 * MIB  # the bench partner's max_body_bytes: room for the large document
# The gateway's stages, in pipeline order.
STAGE_ORDER = ("parse", "validate", "translate", "sign", "commit")


@dataclass(frozen=True)
class Scenario:
    items_per_message: int
    messages: int
    #: Open loop: items/s offered (message k due k * items_per_message / this after the start,
    #: its latency counted from then). None: closed loop, each submitter sends its next message
    #: as soon as it has the previous one's receipt.
    offered: float | None = None


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
    cpu_seconds: float  # every gateway process of the deployment, descendants included
    main_cpu_seconds: float  # the `gateway serve` processes themselves
    db_cpu_seconds: float | None  # the PostgreSQL server (all its processes), when measured
    peak_rss: int  # bytes: the largest summed RSS of the gateways' process trees, sampled
    stages: dict[str, float]  # stage -> seconds summed over the row's messages (/metrics)
    generator_cpu_seconds: float  # this process: the signing clients (the load generator)

    def per_item_us(self, seconds: float) -> float:
        return seconds / max(self.accepted, 1) * 1e6

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
    large: Large | None = None  # the large-document scenario (SQLite only)
    paced: list[Result] = field(default_factory=list)  # open-loop 100-item rows (SQLite only)
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


@dataclass
class Large:
    """The large-document scenario: one document, sent once to a fresh gateway."""

    size: int  # bytes
    items: int
    accepted: int = 0
    seconds: float = 0.0
    rss_before: int = 0  # the gateway tree's summed RSS, just before the send
    rss_peak: int = 0  # … its peak during the send
    main_growth: int = 0  # the serving process's own peak minus its RSS before
    other_growth: int = 0  # the same for the process (worker) that grew the most
    error: str = ""  # why it did not go through, if it did not

    @property
    def growth(self) -> int:
        return self.rss_peak - self.rss_before


def setup(root: Path, concurrency: int) -> SigningKey:
    partners = root / "partners" / "gb-bench"
    (partners / "keys").mkdir(parents=True)
    key = SigningKey("gb-bench-1", "ed25519", generate_private_key("ed25519"))
    write_public_key(partners / "keys" / "k.pem", key.public_key())
    (partners / "partner.toml").write_text(
        'id = "gb-bench"\nname = "bench"\nkind = "post"\ncountry = "GB"\noperator_code = "GBA"\n'
        'formats = ["itmatt-1.5"]\nrate_per_s = 1000000\nburst = 100000\n'
        # Every submitter in progress at once (429 beyond), and the large document.
        f"max_concurrent = {max(concurrency, 16)}\nmax_body_bytes = {MAX_BODY}\n"
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


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


class ProcessTree:
    """The `gateway serve` processes of a deployment and, found anew at each look, all their
    descendants (the CPU pool's forkserver and workers)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots

    def pids(self) -> list[int]:
        out = []
        for root in self.roots:
            out.append(root)
            with contextlib.suppress(psutil.NoSuchProcess):  # exited: its own readings say so
                out += [child.pid for child in psutil.Process(root).children(recursive=True)]
        return out

    def cpu(self) -> tuple[float, float]:
        """(CPU seconds of the roots, of the whole tree). The tree's figure adds each live
        process's utime + stime and its reaped children's (cutime + cstime), so a difference of
        two readings counts a worker that exited in between (its parent reaped it) as well as
        one that started."""
        main = total = 0.0
        for pid in self.pids():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue  # exited meanwhile
            own = times.user + times.system
            total += own + times.children_user + times.children_system
            if pid in self.roots:
                main += own
        return main, total


def rss_of(pid: int) -> int:
    """Resident bytes of a process (VmRSS); 0 once it has exited."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


class RssSampler:
    """A thread summing the RSS of a process tree every `interval` seconds (the tree's members
    looked up again every 10th sample), keeping the peak since the last `reset`: the summed
    peak and each process's own."""

    def __init__(self, tree: ProcessTree, interval: float = 0.1) -> None:
        self.tree, self.interval = tree, interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pids = tree.pids()
        self.peak = 0
        self.peaks: dict[int, int] = {}
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self, *, refresh: bool = False) -> dict[int, int]:
        if refresh:
            self._pids = self.tree.pids()
        now = {pid: rss_of(pid) for pid in self._pids}
        with self._lock:
            self.peak = max(self.peak, sum(now.values()))
            for pid, rss in now.items():
                self.peaks[pid] = max(self.peaks.get(pid, 0), rss)
        return now

    def reset(self) -> dict[int, int]:
        """Start a new peak from now; each process's RSS now."""
        with self._lock:
            self.peak, self.peaks = 0, {}
        return self.sample(refresh=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.interval):
            n += 1
            self.sample(refresh=n % 10 == 0)


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
            return cls(psutil.Process(backend).ppid())
        except (OSError, psutil.Error):
            return None  # another host or container

    def seconds(self) -> float:
        postmaster = psutil.Process(self.postmaster)
        own = postmaster.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in postmaster.children():
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue  # exited meanwhile
            total += times.user + times.system
        return total


async def stage_sums(session: aiohttp.ClientSession, urls: list[str]) -> dict[str, float]:
    """Seconds per stage so far (`aedgw_stage_seconds_sum`), summed over the replicas."""
    out: dict[str, float] = {}
    for url in urls:
        async with session.get(url + "/metrics") as response:
            text = await response.text()
        for stage, value in _STAGE_SUM.findall(text):
            out[stage] = out.get(stage, 0.0) + float(value)
    return out


async def run_scenario(
    urls: list[str],
    key: SigningKey,
    docs: list[bytes],
    scenario: Scenario,
    *,
    tree: ProcessTree,
    rss: RssSampler,
    concurrency: int,
    server: ServerCpu | None = None,
) -> Result:
    """Send `docs` with `concurrency` clients, message k to replica k mod len(urls).

    Closed loop unless `scenario.offered`: then message k is due at k ÷ (offered ÷ items per
    message) seconds after the start, sent then (or as soon as a client is free, if all are
    busy), and its latency counts from when it was due: the time it waited for a free client is
    part of what a partner would see (no coordinated omission)."""
    latencies: list[float] = []
    interval = scenario.items_per_message / scenario.offered if scenario.offered else 0.0
    t0 = 0.0
    accepted = 0
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for index, doc in enumerate(docs):
        queue.put_nowait((index, doc))
    connector = aiohttp.TCPConnector(limit=concurrency + 1)  # + 1: the /metrics scrapes
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [PartnerClient(session, url, key) for url in urls]

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                index, doc = queue.get_nowait()
                start = time.perf_counter()
                if interval:
                    due = t0 + index * interval
                    if due > start:
                        await asyncio.sleep(due - start)
                    start = due
                answer = await clients[index % len(clients)].submit_itmatt(doc, verify=False)
                latencies.append(time.perf_counter() - start)
                if answer.status != 202:
                    raise RuntimeError(f"HTTP {answer.status}: {answer.body[:300]!r}")
                accepted += answer.json()["accepted"]

        def cpu() -> tuple[tuple[float, float], float | None]:
            return tree.cpu(), server.seconds() if server else None

        stages0 = await stage_sums(session, urls)
        rss.reset()
        ((main0, cpu0), db0), t0 = cpu(), time.perf_counter()
        generator0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        generator = time.process_time() - generator0
        seconds, ((main1, cpu1), db1) = time.perf_counter() - t0, cpu()
        rss.sample(refresh=True)
        stages1 = await stage_sums(session, urls)
    db = db1 - db0 if db0 is not None and db1 is not None else None
    stages = {k: v - stages0.get(k, 0.0) for k, v in stages1.items()}
    return Result(
        scenario, seconds, latencies, accepted, cpu1 - cpu0, main1 - main0, db, rss.peak,
        {k: v for k, v in stages.items() if v > 0}, generator,
    )  # fmt: skip


Prepared = list[tuple[Scenario, list[bytes]]]

PACED_ITEMS = 100  # the open-loop rows: 100-item messages (issue 6's latency target)
PACED_TARGET = 16_000.0  # items/s offered in the last open-loop row: issue 6's throughput target
PACED_SHARES = (0.5, 0.8)  # the other rows: these shares of the closed-loop 100-item rate
PACED_MESSAGES = 240  # messages per open-loop row (a quarter with --quick)


def paced_rates(results: list[Result]) -> list[float]:
    """Items/s to offer in the open-loop rows: shares of the closed-loop rate of 100-item
    messages just measured on the same deployment, then the target."""
    closed = next(r for r in results if r.scenario.items_per_message == PACED_ITEMS)
    return [share * closed.items_per_s for share in PACED_SHARES] + [PACED_TARGET]


def start_gateways(
    config: Path, replicas: int, logs: Path, *, source: Path | None = None
) -> list[tuple[subprocess.Popen[str], str, str]]:
    """Start `replicas` `gateway serve` processes on one config; (process, HTTP url, gRPC).
    With `source`, the gateway's code is the checkout in that folder (benchmarks.ab), not this
    one's.

    Their logs (stderr) go to `logs`-<replica>.log, summarised after the run."""
    env = None if source is None else os.environ | {"PYTHONPATH": str(source)}
    # The `gateway` command's module in that checkout (gateway/cli.py before the restructure).
    old_cli = source is not None and (source / "gateway" / "cli.py").is_file()
    command = "gateway.cli" if old_cli else "gateway.entrypoints.cli"
    processes = []
    for n in range(replicas):
        with Path(f"{logs}-{n + 1}.log").open("w", encoding="utf-8") as log:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        command,
                        "--config",
                        str(config),
                        "serve",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    cwd=source,
                    env=env,
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
    paced: list[list[bytes]] | None = None,
) -> Run:
    """The closed-loop rows of `prepared`, then, given `paced` (one list of 100-item documents
    per open-loop row), the open-loop rows at `paced_rates`; then the feed drain and checks."""
    run = Run(deployment)
    gateways = start_gateways(config, deployment.replicas, logs)
    files = [Path(f"{logs}-{n + 1}.log") for n in range(deployment.replicas)]
    try:
        urls = [url for _, url, _ in gateways]
        tree = ProcessTree([process.pid for process, _, _ in gateways])
        with RssSampler(tree) as rss:
            warmed = await run_scenario(
                urls, key, warm, Scenario(10, len(warm)), tree=tree, rss=rss, concurrency=4
            )
            for scenario, docs in prepared:
                run.results.append(
                    await run_scenario(
                        urls,
                        key,
                        docs,
                        scenario,
                        tree=tree,
                        rss=rss,
                        concurrency=concurrency,
                        server=server,
                    )
                )
            rates = paced_rates(run.results) if paced else []
            for rate, docs in zip(rates, paced or [], strict=True):
                scenario = Scenario(PACED_ITEMS, len(docs), offered=rate)
                run.paced.append(
                    await run_scenario(
                        urls, key, docs, scenario, tree=tree, rss=rss, concurrency=concurrency
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
    expected = warmed.accepted + sum(r.accepted for r in run.results + run.paced)
    sent = (
        sum(s.items_per_message * s.messages for s, _ in prepared)
        + warmed.scenario.messages * 10
        + sum(r.scenario.items_per_message * r.scenario.messages for r in run.paced)
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


def large_document(serial: Serial) -> bytes:
    """One ITMATT document of about LARGE_BYTES, every item valid: built once at the size a
    1000-item sample predicts, then once more with the item count corrected."""
    specs = generate_items(random.Random(50), 1000, sender_country="GB")
    items = round(1000 * LARGE_BYTES / len(build_itmatt("BENCH-LARGE", "GBA", specs)))
    specs = generate_items(random.Random(50), items * 21 // 20, sender_country="GB")
    items = round(items * LARGE_BYTES / len(build_itmatt("BENCH-LARGE", "GBA", specs[:items])))
    return build_itmatt("BENCH-LARGE", "GBA", serial.take(specs[:items]))


async def run_large(
    config: Path, key: SigningKey, warm: bytes, doc: bytes, *, items: int, logs: Path
) -> Large:
    """Send `doc` once to a fresh `gateway serve` (after one small warm-up message): its
    latency, accepted items, and the process tree's summed RSS before the send vs its peak."""
    large = Large(size=len(doc), items=items)
    gateways = start_gateways(config, 1, logs)
    process, url, _ = gateways[0]
    tree = ProcessTree([process.pid])
    try:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = PartnerClient(session, url, key)
            answer = await client.submit_itmatt(warm, verify=False)
            if answer.status != 202:
                large.error = f"warm-up: HTTP {answer.status}: {answer.body[:300]!r}"
                return large
            await asyncio.sleep(1.0)  # let the tree settle after the warm-up
            with RssSampler(tree, interval=0.05) as rss:
                before = rss.reset()
                large.rss_before = sum(before.values())
                start = time.perf_counter()
                answer = await client.submit_itmatt(doc, verify=False)
                large.seconds = time.perf_counter() - start
                rss.sample(refresh=True)
                large.rss_peak = rss.peak
                growth = {pid: peak - before.get(pid, 0) for pid, peak in rss.peaks.items()}
            large.main_growth = growth.get(process.pid, 0)
            large.other_growth = max(
                (g for pid, g in growth.items() if pid != process.pid), default=0
            )
            if answer.status == 202:
                large.accepted = answer.json()["accepted"]
                if large.accepted != items:
                    large.error = f"{large.accepted:,} of {items:,} items accepted"
            else:
                large.error = f"HTTP {answer.status}: {answer.body[:300]!r}"
    except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
        large.error = f"{type(exc).__name__}: {exc}"
    finally:
        stop_gateways([process])
    return large


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
            shown = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in ("synchronous_commit", "fsync", "shared_buffers", "autovacuum")
            }
            self.settings = ", ".join(f"{name}={value}" for name, value in shown.items())
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


PARSE_PROFILE_ITEMS = 100  # the in-process parse profile's document


async def bench(
    *, quick: bool, concurrency: int, postgres: Postgres | None, pool_size: int
) -> tuple[list[Run], dict[str, float]]:
    """Every deployment's run, and the in-process parse profile (µs/item by stage)."""
    print("bench: in-process parse profile ...", file=sys.stderr, flush=True)
    profile = parse_stages(PARSE_PROFILE_ITEMS, 15 if quick else 35)
    scale = 4 if quick else 1
    scenarios = [
        Scenario(1, 2000 // scale),
        Scenario(100, 600 // scale),
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
        key = setup(root, concurrency)
        serial = Serial()
        prepared = [(s, documents(s, serial, str(s.items_per_message))) for s in scenarios]
        paced_scenario = Scenario(PACED_ITEMS, PACED_MESSAGES // scale)
        paced = [
            documents(paced_scenario, serial, f"paced-{n}") for n in range(len(PACED_SHARES) + 1)
        ]
        warm = documents(Scenario(10, 20), serial, "warm")
        large_warm = documents(Scenario(10, 1), serial, "large-warm")[0]
        first = serial.next
        large = large_document(serial)
        large_items = serial.next - first
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
                    paced=paced if deployment.store == "sqlite" else None,
                )  # fmt: skip
                runs.append(run)
            finally:
                if pg:
                    await pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            if deployment.replicas == 1:  # SQLite and PostgreSQL x1: the large document
                print(
                    f"bench: {deployment.label}, one {len(large) / MIB:.0f} MiB document ...",
                    file=sys.stderr, flush=True,
                )  # fmt: skip
                url = store_url(pg.dsn, schema, pool_size) if pg else None
                try:
                    run.large = await run_large(
                        gateway_config(root, f"large-{name}", url), key, large_warm, large,
                        items=large_items, logs=root / f"gateway-large-{name}",
                    )  # fmt: skip
                finally:
                    if pg:
                        await pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                run.logs += [
                    f"(large document) {line}"
                    for line in log_summary([root / f"gateway-large-{name}-1.log"])
                ]
    return runs, profile


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _verdict(*, ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    runs: list[Run],
    profile: dict[str, float],
    *,
    concurrency: int,
    postgres: Postgres | None,
    pool_size: int,
    load: float,
) -> None:
    print(
        f"\nAED gateway benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_model()} "
        f"({platform.machine()}), {len(os.sched_getaffinity(0))} cores shared by the load "
        f"generator, the gateway(s) and PostgreSQL, Python {platform.python_version()}, "
        f"1-minute load average {load:.2f} before the run, {os.getloadavg()[0]:.2f} after"
    )
    pg = ""
    if postgres is not None and not postgres.unreachable:
        pg = (
            f"; PostgreSQL {postgres.version} ({postgres.settings}), "
            f"pool_size={pool_size} per replica, one fresh schema per deployment"
        )
    print(
        f"SQLite synchronous=FULL{pg}; {concurrency} concurrent signing clients over real "
        f"HTTP, spread round-robin over the replicas; gateway [cpu] workers = {os.cpu_count()} "
        "(the default, the CPU count)\n"
    )
    header = (
        f"{'store':<15} {'items/msg':>9} {'messages':>8} {'items/s':>8} {'msgs/s':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'GW CPU µs/item':>14} {'main':>6} {'workers':>7} "
        f"{'PG CPU µs/item':>14} {'gen µs/item':>11} {'peak RSS MiB':>12}"
    )
    print(header)
    print("-" * len(header))
    sizes = [r.scenario.items_per_message for r in runs[0].results] if runs else []
    for i, size in enumerate(sizes):
        if i and len(runs) > 1:
            print()
        for run in runs:
            r = run.results[i]
            db = "—" if r.db_cpu_seconds is None else f"{r.per_item_us(r.db_cpu_seconds):,.0f}"
            print(
                f"{run.deployment.label:<15} {size:>9} {len(r.latencies):>8} "
                f"{r.items_per_s:>8,.0f} {len(r.latencies) / r.seconds:>7,.0f} "
                f"{r.percentile(0.5):>8.1f} {r.percentile(0.99):>8.1f} "
                f"{r.per_item_us(r.cpu_seconds):>14,.0f} "
                f"{r.per_item_us(r.main_cpu_seconds):>6,.0f} "
                f"{r.per_item_us(max(r.cpu_seconds - r.main_cpu_seconds, 0.0)):>7,.0f} "
                f"{db:>14} {r.per_item_us(r.generator_cpu_seconds):>11,.0f} "
                f"{r.peak_rss / MIB:>12,.0f}"
            )
    if postgres is not None and postgres.unreachable:
        print(
            f"\nPostgreSQL rows skipped: {postgres.where} is unreachable ({postgres.unreachable})"
        )
    report_stages(runs, sizes, profile)
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
    print(
        f"gateway peak RSS, largest single process (getrusage of the exited gateways and the "
        f"processes they reaped): {peak:,.0f} MiB"
    )
    for run in runs:
        print(
            f"mean latency, {run.deployment.label}: "
            + ", ".join(
                f"{r.scenario.items_per_message}: {statistics.fmean(r.latencies) * 1000:.1f} ms"
                for r in run.results
            )
        )
    report_paced(runs, concurrency)
    for label, each in [(r.deployment.label, r.large) for r in runs if r.large is not None]:
        report_large(each, label)
    large = next((run.large for run in runs if run.deployment.store == "sqlite"), None)
    report_targets(runs, large)
    for run in runs:
        for line in run.logs:
            print(f"gateway log, {run.deployment.label}: {line}")
    problems = [f"{run.deployment.label}: {p}" for run in runs for p in run.problems]
    for problem in problems:
        print(f"PROBLEM {problem}")
    if not problems:
        print("checks: every item accepted, every accepted item delivered once by the feed")


def report_stages(runs: list[Run], sizes: list[int], profile: dict[str, float]) -> None:
    """The gateways' stage times per accepted item (their /metrics), then the in-process split
    of parse."""
    seen = {stage for run in runs for r in run.results for stage in r.stages}
    stages = [s for s in STAGE_ORDER if s in seen] + sorted(seen - set(STAGE_ORDER))
    print(
        "\nStage profile, µs per accepted item (the gateways' aedgw_stage_seconds_sum over the "
        "row ÷ accepted items;\nwall time per message: parse = hardened XML parse, validate = "
        "XSD, translate = business rules + translation, sign = valuation + sealing + signing,\n"
        "each in a pool worker or, for small bodies, in the serving process; commit = the "
        "store commit, the wait for its group-commit batch included):"
    )
    header = f"{'store':<15} {'items/msg':>9} " + " ".join(f"{s:>9}" for s in stages)
    print(header)
    print("-" * len(header))
    for i, size in enumerate(sizes):
        if i and len(runs) > 1:
            print()
        for run in runs:
            r = run.results[i]
            print(
                f"{run.deployment.label:<15} {size:>9} "
                + " ".join(f"{r.per_item_us(r.stages.get(s, 0.0)):>9,.1f}" for s in stages)
            )
    names = [("hardened", "parse"), ("xsd", "validate (XSD)"), ("rules", "rules")]
    names += [("translate", "translate"), ("total", "total")]
    print(
        f"parse split, in-process (this process, single core, CPU time, median; "
        f"parse_profile.py on a {PARSE_PROFILE_ITEMS}-item document): "
        + ", ".join(f"{label} {profile[key]:.1f}" for key, label in names)
        + " µs/item"
    )


def report_paced(runs: list[Run], concurrency: int) -> None:
    """The open-loop rows: receipt latency at a fixed offered load."""
    for run in runs:
        if run.paced:
            _report_paced(run, concurrency)


def _report_paced(run: Run, concurrency: int) -> None:
    print(
        f"\nReceipt latency at a fixed offered load ({run.deployment.label}, {PACED_ITEMS}-item "
        f"messages, {concurrency} clients, open loop: message k is due k * {PACED_ITEMS} / "
        "offered s after the start\nand its latency counts from then, its wait for a free "
        f"client included; offered: {', '.join(f'{s:.0%}' for s in PACED_SHARES)} of the "
        f"closed-loop rate above, then the target {PACED_TARGET:,.0f}):"
    )
    header = (
        f"  {'offered items/s':>15} {'achieved items/s':>16} {'messages':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    print(header)
    for r in run.paced:
        print(
            f"  {r.scenario.offered or 0:>15,.0f} {r.items_per_s:>16,.0f} {len(r.latencies):>8} "
            f"{r.percentile(0.5):>8.1f} {r.percentile(0.99):>8.1f} {r.percentile(1.0):>8.1f}"
        )


def report_large(large: Large, label: str) -> None:
    print(
        f"\nlarge document ({label}, a fresh gateway): {large.size / MIB:.1f} MiB, "
        f"{large.items:,} items"
    )
    if large.error:
        print(f"  did not go through: {large.error}")
        if not large.seconds:
            return
    print(
        f"  {large.accepted:,} items accepted in {large.seconds:.1f} s; gateway tree RSS "
        f"{large.rss_before / MIB:,.0f} MiB before, peak {large.rss_peak / MIB:,.0f} MiB: "
        f"growth {large.growth / MIB:,.0f} MiB (serving process +{large.main_growth / MIB:,.0f}, "
        f"largest other process +{large.other_growth / MIB:,.0f})"
    )


def report_targets(runs: list[Run], large: Large | None) -> None:
    """Issue 6's targets, measured (the SQLite deployment), never asserted."""
    print("\ntargets (issue 6; measured on the sqlite deployment; informative, never a failure):")
    sqlite = next((run for run in runs if run.deployment.store == "sqlite"), None)
    rows = {r.scenario.items_per_message: r for r in sqlite.results} if sqlite else {}
    lines: list[tuple[str, str, str, bool]] = []  # what, measured, target, met
    if 100 in rows:
        rate = rows[100].items_per_s
        stretch = "met" if rate >= 20_000 else "not met"
        target = f">= 16,000 (stretch 20,000: {stretch})"
        lines.append(("100-item messages, items/s", f"{rate:,.0f}", target, rate >= 16_000))
    at_target = [r for r in sqlite.paced if r.scenario.offered == PACED_TARGET] if sqlite else []
    if at_target:
        p99 = at_target[0].percentile(0.99)
        what = f"100-item p99, {PACED_TARGET:,.0f}/s offered"
        lines.append((what, f"{p99:,.0f} ms", "<= 150 ms (open loop, above)", p99 <= 150))
    if 1 in rows:
        rate = rows[1].items_per_s
        lines.append(("1-item messages, items/s", f"{rate:,.0f}", ">= 3,000", rate >= 3_000))
    if sqlite is not None:
        rate = sqlite.records / max(sqlite.feed_seconds, 1e-9)
        lines.append(
            ("gRPC feed, one consumer, records/s", f"{rate:,.0f}", ">= 20,000", rate >= 20_000)
        )
    if large is not None:
        size = f"{large.size / MIB:.0f} MiB"
        measured = "did not pass" if large.error else f"{large.growth / MIB:,.0f} MiB"
        ok = not large.error and large.growth < large.size
        lines.append((f"{size} document, peak RSS growth", measured, f"< {size} (its size)", ok))
    pg = sum(run.deployment.store == "postgresql" for run in runs)
    present = "present" if pg == 2 else "skipped"
    lines.append(("PostgreSQL x1 and x2 rows", present, "both present", pg == 2))
    for what, measured, target, ok in lines:
        print(f"  {what:<36} {measured:>12}  target {target:<36} {_verdict(ok=ok)}")


def main(*, quick: bool, concurrency: int, postgres_dsn: str | None, pool_size: int) -> None:
    postgres = Postgres(postgres_dsn) if postgres_dsn else None
    load = os.getloadavg()[0]  # other work on the machine skews every figure: show it
    runs, profile = asyncio.run(
        bench(quick=quick, concurrency=concurrency, postgres=postgres, pool_size=pool_size)
    )
    report(
        runs, profile, concurrency=concurrency, postgres=postgres, pool_size=pool_size, load=load
    )
    disclosure.report()
    decisions.report()
    if any(run.problems for run in runs):
        sys.exit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a quarter of the messages")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"concurrent submitters in all (default {DEFAULT_CONCURRENCY})",
    )
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
