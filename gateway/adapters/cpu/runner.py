"""The main-process side of the CPU workers (gateway.adapters.cpu): `WorkerProcessCpu`.

The gateway's CpuRunner on a generic `WorkerPool` of `worker` processes: it chooses how each
message goes (in this process, through the pipe, or as spool files), and replaces the pool when
a worker died or a message hung.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.adapters.cpu import codec, worker
from gateway.adapters.crypto.keys import SigningKey, private_pem
from gateway.adapters.worker_pool import WorkerPool
from gateway.domain.bodies import Body, SpooledBody
from gateway.domain.limits import STREAM_BYTES
from gateway.domain.records import Provenance
from gateway.errors import MessageRejected, Overloaded, PoolBroken
from gateway.rules.rates import RateTable
from gateway.services.itmatt_intake import CpuResult, CpuRunner

log = logging.getLogger(__name__)


def _context() -> multiprocessing.context.BaseContext:
    """forkserver on Linux (workers fork from a clean server, never from this process with its
    threads, gRPC and sockets), spawn elsewhere."""
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # it imports the worker side and the pool's
        return context
    return multiprocessing.get_context("spawn")


class WorkerProcessCpu:
    """A CpuRunner (gateway.services.itmatt_intake) on a WorkerPool of `workers` processes."""

    def __init__(
        self,
        workers: int,
        key: Callable[[], SigningKey],
        *,
        home_country: str | None = None,
        rates: RateTable | None = None,
        inline: CpuRunner | None = None,
        inline_bytes: int = 0,
        task_timeout_s: float | None = None,
        spool_bytes: int = STREAM_BYTES,
        spool_dir: Path | None = None,
    ) -> None:
        """`key` gives the key to sign with now (read per message); with `home_country` and
        `rates` the workers value each accepted item. Bodies under `inline_bytes` go to
        `inline` (the same stages in this process) instead of a worker; bodies from
        `spool_bytes` up go to a worker through a file in `spool_dir` (the system's temporary
        folder when None) and are parsed there as a stream."""
        if workers < 1:
            raise ValueError("a process pool needs at least one worker")
        self._workers, self._key = workers, key
        self._inline, self._inline_bytes = inline, inline_bytes
        self._timeout = task_timeout_s
        self._spool_bytes, self._spool_dir = spool_bytes, spool_dir
        self._initargs = (home_country, rates, os.getpid())
        self._material: codec.PlainKey | None = None
        self._pool: WorkerPool | None = None
        self.restarts = 0  # pools replaced after a worker died

    def _current(self) -> WorkerPool:
        """The pool to hand a message to: made on first use (it needs the running loop), and
        made anew when a worker died while the pool was idle."""
        pool = self._pool
        if pool is not None and pool.broken is not None:
            self._replace(pool)
            pool = self._pool
        if pool is None:
            pool = self._pool = WorkerPool(
                self._workers,
                _context(),
                initializer=worker.initialize,
                initargs=self._initargs,
                name="aedgw-cpu",
            )
        return pool

    def _key_material(self) -> codec.PlainKey:
        """The key to sign with now, as a task carries it (its PEM made once per key)."""
        key = self._key()
        if self._material is None or self._material[0] != key.keyid:
            self._material = (key.keyid, key.alg, private_pem(key.private_key))
        return self._material

    async def start(self) -> None:
        """Start every worker now (and let each compile the schema), not on the first
        messages."""
        pool = self._current()
        await asyncio.gather(*(pool.submit(worker.ready) for _ in range(self._workers)))

    async def run(self, body: Body, operator_code: str, prov: Provenance, fmt: str) -> CpuResult:
        if isinstance(body, SpooledBody):  # the edge wrote it to a file as it arrived
            return await self._run_file(str(body.path), operator_code, prov, fmt, len(body))
        if self._inline is not None and len(body) < self._inline_bytes:
            return await self._inline.run(body, operator_code, prov, fmt)
        if len(body) >= self._spool_bytes:
            return await self._run_spooled(body, operator_code, prov, fmt)
        result = await self._submit(
            worker.run_message, body, operator_code, prov, fmt, size=len(body)
        )
        if isinstance(result, codec.Rejected):
            raise MessageRejected(result.title, result.findings)
        assert isinstance(result, bytes)
        return codec.decode(result)

    async def _run_spooled(
        self, body: bytes, operator_code: str, prov: Provenance, fmt: str
    ) -> CpuResult:
        """A large body goes to its worker as a file, and its records come back as one: a
        50 MiB document pickled through the pipe would cost its size twice in each process."""
        name = await asyncio.to_thread(codec.spool, body, self._spool_dir)
        try:
            return await self._run_file(name, operator_code, prov, fmt, len(body))
        finally:
            codec.unlink(name)

    async def _run_file(
        self, name: str, operator_code: str, prov: Provenance, fmt: str, size: int
    ) -> CpuResult:
        try:
            result = await self._submit(
                worker.run_spooled, name, operator_code, prov, fmt, size=size
            )
        except BaseException:  # a dead or hung worker may have left its files half written
            codec.unlink(name + codec.ENTRIES)
            codec.unlink(name + codec.RESULT)
            raise
        if isinstance(result, codec.Rejected):
            raise MessageRejected(result.title, result.findings)
        assert isinstance(result, tuple)
        try:
            return await asyncio.to_thread(codec.load_result, *result)
        except BaseException:
            codec.unlink(name + codec.ENTRIES)
            raise

    async def _submit(
        self,
        task: Callable[..., object],
        first: object,
        operator_code: str,
        prov: Provenance,
        fmt: str,
        *,
        size: int,
    ) -> object:
        """Run `task` on a worker; Overloaded when the pool broke or the task hung."""
        pool = self._current()
        try:
            key = self._key_material()
            plain = codec.plain_provenance(prov)
            future = pool.submit(task, first, operator_code, plain, fmt, key)
            return await asyncio.wait_for(future, self._timeout)
        except PoolBroken as exc:
            self._replace(pool)
            raise Overloaded(retry_after=1) from exc
        except TimeoutError as exc:
            self._hung(pool, prov, size)
            raise Overloaded(retry_after=1) from exc

    def _hung(self, pool: WorkerPool, prov: Provenance, size: int) -> None:
        """A message ran past the task timeout: kill the workers, start a fresh pool."""
        if self._pool is pool:
            log.error(
                "a message's CPU stages did not finish in %s s; killing the CPU workers",
                self._timeout,
                extra={"partner": prov.partner, "bytes": size},
            )
            pool.kill()
        self._replace(pool)

    def _replace(self, broken: WorkerPool) -> None:
        """A fresh pool for the next messages (once per broken pool, however many failed);
        the broken pool's other workers are killed."""
        if self._pool is not broken:
            return
        log.error("a CPU worker process died (%s); starting a fresh pool", broken.broken)
        self.restarts += 1
        self._pool = None
        broken.kill()
        broken.close(timeout=0.0)

    def close(self) -> None:
        """Stop the workers, each once it has finished the message it is running."""
        if self._pool is not None:
            self._pool.close()
