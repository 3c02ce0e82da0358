"""The composition root: the one place adapters are chosen and wired from Settings.

Importing this module does nothing; `Gateway(settings)` builds, `start()` opens sockets and the
store, `stop()` drains and closes in reverse order. Every part that reads the time (received_at,
key validity, the signature window and nonces, report weeks, push backoff) reads the one clock
given to `Gateway` (the system clock by default), so a test can freeze "today".
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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
from aiohttp import web

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
from gateway.adapters.http.push import ReportPusher
from gateway.adapters.http.ratelimit import RateLimiter
from gateway.adapters.store import open_store_from_url
from gateway.config import PartnerConfig, PartnerKeySpec, Settings, load_partners
from gateway.domain.notify import JournalNotifier
from gateway.domain.partners import Partner
from gateway.domain.weeks import last_complete
from gateway.errors import ConfigError
from gateway.formats.b5 import load_mapping
from gateway.observability import Metrics
from gateway.ports import Clock, Store, StoredReport
from gateway.rules.valuation import default_rates, valuer
from gateway.services.b5_intake import FeedPipeline
from gateway.services.b5_reports import ShareService
from gateway.services.cell_folding import Aggregator
from gateway.services.itmatt_intake import CpuStages, InProcessCpu, Pipeline, SystemClock
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
    """One gateway process: HTTP edge, gRPC services and their shared store and keys."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.partner_configs = load_partners(settings)
        self.partners: Mapping[str, Partner] = {
            p.partner.id: p.partner for p in self.partner_configs
        }
        self.keyring = Keyring.load_or_create(
            settings.signing.key_dir, alg=settings.signing.alg, clock=self.clock
        )
        self.store: Store = open_store_from_url(settings.store)
        self.metrics = Metrics()
        self.notifier = JournalNotifier()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cpu")
        self.spool_dir = prepare_spool(settings.data_dir / "spool")
        self.signer = DsseSigner(self.keyring)
        self.rates = default_rates()
        # [cpu] workers > 0: each message's CPU stages on a process pool signing with the
        # keyring's active key (read per message, so SIGHUP rotation reaches the workers).
        value = valuer(settings.home_country, self.rates)
        stream = settings.cpu.stream_bytes
        in_process = InProcessCpu(
            CpuStages(self.signer, value, stream_bytes=stream),
            self._executor,
            spooled=run_spooled_here,
        )
        self.cpu: WorkerProcessCpu | None = None
        if settings.cpu.workers > 0:
            self.cpu = WorkerProcessCpu(
                settings.cpu.workers,
                lambda: self.keyring.active,
                home_country=settings.home_country,
                rates=self.rates,
                inline=in_process,
                inline_bytes=settings.cpu.inline_bytes,
                task_timeout_s=settings.cpu.task_timeout_s,
                spool_bytes=stream,
                spool_dir=self.spool_dir,
            )
        self.aggregator = Aggregator(self.store)
        self.pipeline = Pipeline(
            store=self.store,
            signer=self.signer,
            clock=self.clock,
            metrics=self.metrics,
            on_commit=self.notifier.notify,
            cpu=self.cpu or in_process,
            on_contributions=self.aggregator.expect,
        )
        self.feeds = FeedPipeline(
            store=self.store,
            clock=self.clock,
            metrics=self.metrics,
            mappings={p.id: load_mapping(p.mapping) for p in self.partners.values() if p.mapping},
            rates=self.rates,
            executor=self._executor,
        )
        self.share = ShareService(
            store=self.store,
            signer=self.signer,
            clock=self.clock,
            partners=self.partners,
            home_country=settings.home_country,
            trends=TrendConfig(
                threshold=settings.share.trend_threshold,
                min_history=settings.share.trend_min_history_weeks,
            ),
            late_window=settings.share.late_window_weeks,
        )
        self.pusher = ReportPusher(
            store=self.store,
            partners=self.partners,
            key=lambda: self.keyring.active,
            clock=self.clock,
            owner=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            lease=timedelta(seconds=settings.share.push_lease_s),
            first_backoff=timedelta(seconds=settings.share.push_first_backoff_s),
            max_backoff=timedelta(seconds=settings.share.push_max_backoff_s),
        )
        self._stopping = asyncio.Event()
        # Mutated in place by reload_keys, so the verifier sees a partner's new key on SIGHUP.
        self._partner_keys = partner_keys(self.partner_configs)
        self.verifier = RequestVerifier(
            self._partner_keys.get,
            window_s=settings.signing.signature_window_s,
            nonces=NonceCache(window_s=settings.signing.signature_window_s),
        )
        self._runner: web.AppRunner | None = None
        self._grpc: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.endpoints: Endpoints | None = None

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
        self._partner_keys.clear()
        self._partner_keys.update(fresh)
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
        await self.store.open()
        if self.cpu is not None:
            await self.cpu.start()
        # Replicas sharing the store wake this one's feed streams as they commit.
        await self.store.watch_journal(self.notifier.notify)
        self.notifier.notify(await self.store.last_position())
        self._grpc, grpc_port = await build_grpc_server(
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
        )
        await self._grpc.start()
        http_port, scheme = await self._start_http()
        host = self.settings.http.listen.rpartition(":")[0]
        grpc_host = self.settings.grpc.listen.rpartition(":")[0]
        self.endpoints = Endpoints(f"{scheme}://{host}:{http_port}", f"{grpc_host}:{grpc_port}")
        self._stopping = asyncio.Event()
        self._tasks += [
            asyncio.create_task(self._watch_lag(), name="feed-lag"),
            asyncio.create_task(self.aggregator.run(self.notifier, self._stopping), name="cells"),
            asyncio.create_task(self.pusher.run(self._stopping, interval_s=1.0), name="push"),
            asyncio.create_task(self._build_reports(), name="reports"),
        ]
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

    async def _start_http(self) -> tuple[int, str]:
        http = self.settings.http
        self._runner = web.AppRunner(
            build_app(self._edge()), access_log=None, auto_decompress=False
        )
        await self._runner.setup()
        host, _, port = http.listen.rpartition(":")
        context = _tls_context(http.tls_cert, http.tls_key)
        site = web.TCPSite(self._runner, host, int(port), ssl_context=context)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.base_events.Server)
        return server.sockets[0].getsockname()[1], "https" if context else "http"

    async def _watch_lag(self) -> None:
        """Keep aedgw_feed_lag_records current: journal records after each consumer's cursor."""
        while True:
            with contextlib.suppress(Exception):
                last = await self.store.last_position()
                self.metrics.journal_position.set(last)
                for consumer in self.settings.consumers:
                    cursor = await self.store.get_cursor(consumer.name)
                    self.metrics.feed_lag.labels(consumer.name).set(last - cursor)
            await asyncio.sleep(LAG_INTERVAL_S)

    async def _build_reports(self) -> None:
        """Build the last complete week's reports for partners that have none yet."""
        while not self._stopping.is_set():
            week = last_complete(self.clock.now().date())
            try:
                missing = [
                    p.id for p in self.share.recipients()
                    if not any(r.report.week == week for r in await self._reports_of(p.id))
                ]  # fmt: skip
                if missing:
                    await self.aggregator.catch_up()
                    await self.share.build(week, missing)
            except Exception:
                log.exception("building share reports failed; retrying later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.share.build_every_s)

    async def _reports_of(self, partner: str) -> list[StoredReport]:
        out: list[StoredReport] = []
        while batch := await self.store.reports_after(partner, out[-1].position if out else 0, 500):
            out += batch
        return out

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking requests, let streams and requests in flight finish, close the store."""
        self._stopping.set()
        self.notifier.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
        await self.store.close()
        if self.cpu is not None:
            await asyncio.to_thread(self.cpu.close)
        self._executor.shutdown(wait=True)


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
