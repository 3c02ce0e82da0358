"""The composition root: the one place adapters are chosen and wired from Settings.

Importing this module does nothing. `build(settings, *, store=, clock=, cpu=, keyring=)` wires a
`Gateway` (cosmicpython's `bootstrap`): each keyword replaces the part the settings would
choose, which is how tests give it a frozen clock, an in-memory store or a CPU runner of their
own. `start()` opens sockets and the store and starts the background loops; `stop()` drains and
closes in reverse order. Every part that reads the time (received_at, key validity, the
signature window and nonces, report weeks, push backoff) reads the one clock given to `build`
(the system clock by default), so a test can freeze "today".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from gateway.adapters.clock import SystemClock
from gateway.adapters.cpu.runner import WorkerProcessCpu
from gateway.adapters.cpu.worker import process_alive, run_spooled_here
from gateway.adapters.crypto.dsse import DsseSigner
from gateway.adapters.crypto.httpsig import NonceCache, RequestVerifier
from gateway.adapters.crypto.keyring import Keyring
from gateway.adapters.crypto.keys import (
    VerificationKey,
    generate_private_key,
    load_public_key,
    write_private_key,
    write_public_key,
)
from gateway.adapters.crypto.raw import raw_public_bytes
from gateway.adapters.grpc.keys import PublicKeyInfo
from gateway.adapters.grpc.server import build_grpc_server, grpc_server_tls
from gateway.adapters.http.app import EdgeDeps, build_app
from gateway.adapters.http.push import OutboxPusher
from gateway.adapters.http.ratelimit import RateLimiter
from gateway.adapters.store import open_store_from_url
from gateway.config import PartnerConfig, PartnerKeySpec, Settings, load_partners
from gateway.domain.notify import JournalNotifier
from gateway.domain.partners import Partner
from gateway.errors import ConfigError
from gateway.formats.b5 import load_mapping
from gateway.observability import Metrics
from gateway.ports import Clock, Store
from gateway.rules.rates import RateTable
from gateway.rules.valuation import default_rates, valuer
from gateway.services.arrivals import ArrivalService
from gateway.services.b5_intake import FeedPipeline
from gateway.services.b5_reports import ShareService
from gateway.services.cell_folding import Aggregator
from gateway.services.decisions import AnswerService, DecisionService
from gateway.services.itmatt_intake import CpuRunner, CpuStages, InProcessCpu, Pipeline
from gateway.share.trends import TrendConfig

log = logging.getLogger(__name__)
LAG_INTERVAL_S = 5.0


def ensure_demo_key(spec: PartnerKeySpec) -> None:
    """Make a demo partner's key pair on first use (never for a real partner's key)."""
    if not spec.demo or spec.private_key is None or spec.private_key.exists():
        return
    key = generate_private_key(spec.alg)
    write_private_key(spec.private_key, key)
    write_public_key(spec.public_key, key.public_key())


def partner_keys(partners: Sequence[PartnerConfig]) -> dict[str, VerificationKey]:
    """Every partner public key by key id, loaded once (a bad PEM stops start-up)."""
    keys: dict[str, VerificationKey] = {}
    for pc in partners:
        for spec in pc.keys:
            ensure_demo_key(spec)
            try:
                public = load_public_key(spec.public_key, spec.alg)
            except (ValueError, OSError) as exc:
                raise ConfigError(
                    str(spec.source),
                    f"keys.{spec.keyid}.public_key",
                    str(exc),
                    "give a PEM SubjectPublicKeyInfo key of the named alg",
                ) from exc
            keys[spec.keyid] = VerificationKey(
                spec.keyid, spec.alg, public, pc.partner.id, spec.not_before, spec.not_after
            )
    return keys


@dataclass(frozen=True, slots=True)
class Endpoints:
    http_url: str
    grpc_target: str


class Gateway:
    """One gateway process: HTTP edge, gRPC services, the background loops, and the store and
    keys they share. Made by `build`; `__init__` only keeps the parts it is given.

    `start()` opens the store, starts the CPU runner, the servers and the background loops (one
    TaskGroup: cell folding, report pushing, report building, lag metrics), registering the
    undoing of each part on one AsyncExitStack as it goes; `stop()` unwinds that stack in
    reverse: the loops, HTTP, gRPC (with its grace), the CPU runner, the store, the threads. A
    start that fails half way closes what it had opened. `offline()` opens the store alone,
    for commands that serve nothing.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        partner_configs: Sequence[PartnerConfig],
        partners: Mapping[str, Partner],
        keyring: Keyring,
        store: Store,
        metrics: Metrics,
        notifier: JournalNotifier,
        executor: ThreadPoolExecutor,
        spool_dir: Path,
        signer: DsseSigner,
        cpu: CpuRunner,
        aggregator: Aggregator,
        pipeline: Pipeline,
        feeds: FeedPipeline,
        share: ShareService,
        pusher: OutboxPusher,
        decisions: DecisionService,
        answers: AnswerService,
        arrivals: ArrivalService,
        partner_keys: dict[str, VerificationKey],
        verifier: RequestVerifier,
    ) -> None:
        self.settings, self.clock = settings, clock
        self.partner_configs, self.partners = partner_configs, partners
        self.keyring, self.store, self.metrics, self.notifier = keyring, store, metrics, notifier
        self.executor, self.spool_dir, self.signer, self.cpu = executor, spool_dir, signer, cpu
        self.aggregator, self.pipeline, self.feeds = aggregator, pipeline, feeds
        self.share, self.pusher = share, pusher
        self.decisions, self.answers, self.arrivals = decisions, answers, arrivals
        # Mutated in place by reload_keys, so the verifier sees a partner's new key on SIGHUP.
        self.partner_keys, self.verifier = partner_keys, verifier
        self.endpoints: Endpoints | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._grace = 5.0

    def _edge(self) -> EdgeDeps:
        return EdgeDeps(
            pipeline=self.pipeline,
            feeds=self.feeds,
            verifier=self.verifier,
            partners=self.partners,
            response_key=lambda: self.keyring.active,
            jwks=self.keyring.jwks,
            store=self.store,
            metrics=self.metrics,
            clock=self.clock,
            limiter=RateLimiter(),
            public_base_url=self.settings.http.public_base_url,
            max_concurrent_requests=self.settings.http.max_concurrent_requests,
            max_open_requests=self.settings.http.max_open_requests,
            header_timeout_s=self.settings.http.header_timeout_s,
            body_timeout_s=self.settings.http.body_timeout_s,
            spool_dir=self.spool_dir,
            spool_bytes=self.settings.cpu.stream_bytes,
        )

    def reload_keys(self) -> None:
        """SIGHUP: re-read the gateway's key folder (after `gateway keys rotate`) and every
        partner's public keys (a partner's new key dropped into its folder). A bad folder or
        key only logs: the keys in use stay as they were."""
        try:
            self.keyring.reload()
        except ConfigError:
            log.exception("key reload failed; still signing with %s", self.keyring.active.keyid)
        else:
            log.info("keys reloaded", extra={"keyid": self.keyring.active.keyid})
        try:
            # Only the keys of partners already known: a new partner or changed limits need a
            # restart (the edge, the pusher and the feed mappings were built from them).
            fresh = {
                kid: key
                for kid, key in partner_keys(load_partners(self.settings)).items()
                if key.owner in self.partners
            }
        except ConfigError:
            log.exception("partner key reload failed; partner keys unchanged")
            return
        self.partner_keys.clear()
        self.partner_keys.update(fresh)
        log.info("partner keys reloaded", extra={"keyids": sorted(fresh)})

    def public_keys(self) -> list[PublicKeyInfo]:
        active = self.keyring.active.keyid
        return [
            PublicKeyInfo(
                kid=key.keyid,
                alg=key.alg,
                public_key=raw_public_bytes(key.public_key),
                not_before=key.not_before,
                not_after=key.not_after,
                active=key.keyid == active,
            )
            for key in self.keyring.public_keys().values()
        ]

    async def start(self) -> Endpoints:
        """Open, start and serve everything; the endpoints bound (ephemeral ports resolved)."""
        if self._stack is not None:
            raise RuntimeError("the gateway is running already")
        self._stopping = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(self.executor.shutdown, wait=True)
            await self.store.open()
            stack.push_async_callback(self.store.close)
            await self.cpu.start()
            stack.push_async_callback(asyncio.to_thread, self.cpu.close)
            # Replicas sharing the store wake this one's feed streams as they commit.
            await self.store.watch_journal(self.notifier.notify)
            self.notifier.notify(await self.store.last_position())
            grpc_port = await self._start_grpc(stack)
            http_port, scheme = await self._start_http(stack)
            loops = await stack.enter_async_context(asyncio.TaskGroup())
            every_s = self.settings.share.build_every_s
            tasks = [
                loops.create_task(self._watch_lag(), name="feed-lag"),
                loops.create_task(self.aggregator.run(self.notifier, self._stopping), name="cells"),
                loops.create_task(self.answers.run(self.notifier, self._stopping), name="answers"),
                loops.create_task(self.pusher.run(self._stopping, interval_s=1.0), name="push"),
                loops.create_task(
                    self.share.run(
                        self._stopping, every_s=every_s, before=self.aggregator.catch_up
                    ),
                    name="reports",
                ),
            ]
            # Unwound first: the loops are cancelled, then the TaskGroup waits for them (and
            # raises what one of them died of, if one did).
            stack.callback(lambda: [task.cancel() for task in tasks])
            self._stack = stack.pop_all()
        host = self.settings.http.listen.rpartition(":")[0]
        grpc_host = self.settings.grpc.listen.rpartition(":")[0]
        self.endpoints = Endpoints(f"{scheme}://{host}:{http_port}", f"{grpc_host}:{grpc_port}")
        log.info(
            "gateway started",
            extra={
                "http": self.endpoints.http_url,
                "grpc": self.endpoints.grpc_target,
                "partners": sorted(self.partners),
                "consumers": [c.name for c in self.settings.consumers],
                "keyid": self.keyring.active.keyid,
            },
        )
        return self.endpoints

    async def _start_grpc(self, stack: contextlib.AsyncExitStack) -> int:
        server, port = await build_grpc_server(
            store=self.store,
            consumers=self.settings.consumers,
            notifier=self.notifier,
            public_keys=self.public_keys,
            listen=self.settings.grpc.listen,
            max_in_flight=self.settings.grpc.max_in_flight,
            on_sent=self.metrics.count_sent,
            tls=grpc_server_tls(self.settings),
            client_cert_names=self.settings.grpc.client_cert_names,
            insecure=self.settings.grpc.insecure,
            decisions=self.decisions,
            arrivals=self.arrivals,
        )
        await server.start()
        stack.push_async_callback(lambda: server.stop(self._grace))
        return port

    async def _start_http(self, stack: contextlib.AsyncExitStack) -> tuple[int, str]:
        http = self.settings.http
        runner = web.AppRunner(build_app(self._edge()), access_log=None, auto_decompress=False)
        self._runner = runner  # its server's open connections: what the overload tests count
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        host, _, port = http.listen.rpartition(":")
        context = _tls_context(http.tls_cert, http.tls_key)
        site = web.TCPSite(runner, host, int(port), ssl_context=context)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.base_events.Server)
        return server.sockets[0].getsockname()[1], "https" if context else "http"

    async def _watch_lag(self) -> None:
        """Keep aedgw_feed_lag_records current: journal records after each consumer's cursor."""
        while not self._stopping.is_set():
            with contextlib.suppress(Exception):
                last = await self.store.last_position()
                self.metrics.journal_position.set(last)
                for consumer in self.settings.consumers:
                    cursor = await self.store.get_cursor(consumer.name)
                    self.metrics.feed_lag.labels(consumer.name).set(last - cursor)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), LAG_INTERVAL_S)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking requests, let streams and requests in flight finish (gRPC streams get
        `grace` seconds), end the loops, close the CPU runner and the store. Raises what a
        background loop died of, if one did (after everything is closed)."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self._grace = grace
        self._stopping.set()
        self.notifier.close()
        await stack.aclose()

    @contextlib.asynccontextmanager
    async def offline(self) -> AsyncIterator[Gateway]:
        """The store open and nothing served or run in the background (`gateway db`, `share`
        and `outbox` commands, tests that drive the services directly)."""
        await self.store.open()
        try:
            yield self
        finally:
            await self.store.close()
            self.executor.shutdown(wait=True)


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    cpu: CpuRunner | None = None,
    keyring: Keyring | None = None,
) -> Gateway:
    """The gateway `settings` describe, wired; nothing opened, bound or started.

    Every part that reads the time reads `clock` (the system clock by default). Each keyword
    replaces the part `settings` would choose: `store` (else the one `settings.store` names),
    `cpu` (else a process pool when `[cpu] workers` > 0, else this process), `keyring` (else the
    one in `[signing] key_dir`, made on first use). Reads the partner folders and keys: a bad
    one raises ConfigError here, before anything starts.
    """
    clock = clock or SystemClock()
    partner_configs = load_partners(settings)
    partners = {p.partner.id: p.partner for p in partner_configs}
    keyring = keyring or Keyring.load_or_create(
        settings.signing.key_dir, alg=settings.signing.alg, clock=clock
    )
    store = store or open_store_from_url(settings.store)
    metrics, notifier = Metrics(), JournalNotifier()
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cpu")
    spool_dir = prepare_spool(settings.data_dir / "spool")
    signer = DsseSigner(keyring)
    rates = default_rates()
    cpu = cpu or _cpu_runner(
        settings,
        keyring=keyring,
        signer=signer,
        rates=rates,
        executor=executor,
        spool_dir=spool_dir,
    )
    aggregator = Aggregator(store)
    known_keys = partner_keys(partner_configs)
    window = settings.signing.signature_window_s
    share = settings.share
    return Gateway(
        settings=settings,
        clock=clock,
        partner_configs=partner_configs,
        partners=partners,
        keyring=keyring,
        store=store,
        metrics=metrics,
        notifier=notifier,
        executor=executor,
        spool_dir=spool_dir,
        signer=signer,
        cpu=cpu,
        aggregator=aggregator,
        pipeline=Pipeline(
            store=store,
            signer=signer,
            clock=clock,
            metrics=metrics,
            on_commit=notifier.notify,
            cpu=cpu,
            on_contributions=aggregator.expect,
        ),
        feeds=FeedPipeline(
            store=store,
            clock=clock,
            metrics=metrics,
            mappings={p.id: load_mapping(p.mapping) for p in partners.values() if p.mapping},
            rates=rates,
            executor=executor,
        ),
        share=ShareService(
            store=store,
            signer=signer,
            clock=clock,
            partners=partners,
            home_country=settings.home_country,
            trends=TrendConfig(
                threshold=share.trend_threshold, min_history=share.trend_min_history_weeks
            ),
            late_window=share.late_window_weeks,
        ),
        decisions=DecisionService(
            store, settings.consumers, signer, clock, notifier, partners=partners
        ),
        answers=AnswerService(store, signer, clock, notifier),
        arrivals=ArrivalService(
            store,
            settings.consumers,
            partners,
            signer,
            clock,
            metrics=metrics,
            notifier=notifier,
        ),
        pusher=OutboxPusher(
            store=store,
            partners=partners,
            key=lambda: keyring.active,
            clock=clock,
            owner=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            lease=timedelta(seconds=share.push_lease_s),
            first_backoff=timedelta(seconds=share.push_first_backoff_s),
            max_backoff=timedelta(seconds=share.push_max_backoff_s),
        ),
        partner_keys=known_keys,
        verifier=RequestVerifier(
            known_keys.get, window_s=window, nonces=NonceCache(window_s=window)
        ),
    )


def _cpu_runner(
    settings: Settings,
    *,
    keyring: Keyring,
    signer: DsseSigner,
    rates: RateTable,
    executor: ThreadPoolExecutor,
    spool_dir: Path,
) -> CpuRunner:
    """This process's CPU stages, or (`[cpu] workers` > 0) a process pool signing with the
    keyring's active key (read per message, so SIGHUP rotation reaches the workers) that runs
    small messages here."""
    stream = settings.cpu.stream_bytes
    here = InProcessCpu(
        CpuStages(signer, valuer(settings.home_country, rates), stream_bytes=stream),
        executor,
        spooled=run_spooled_here,
    )
    if settings.cpu.workers <= 0:
        return here
    return WorkerProcessCpu(
        settings.cpu.workers,
        lambda: keyring.active,
        home_country=settings.home_country,
        rates=rates,
        inline=here,
        inline_bytes=settings.cpu.inline_bytes,
        task_timeout_s=settings.cpu.task_timeout_s,
        spool_bytes=stream,
        spool_dir=spool_dir,
    )


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def prepare_spool(root: Path) -> Path:
    """This process's folder for large bodies and their results (`root/<pid>`), after removing
    the folders of processes that are gone (a crash leaves its files behind; replicas sharing
    a data folder keep theirs)."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        if folder.name.isdigit() and not process_alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    mine = root / str(os.getpid())
    mine.mkdir(exist_ok=True)
    return mine
